"""Tier 3 (small): `cti serve`'s wiring against the replaying fake Asterisk, and the
command itself started before Asterisk is up (it waits, and says what for)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cti.app import serve
from cti.config import AmiSettings, HttpSettings, Settings
from cti.logs import configure_logging
from cti.sim import transcripts
from cti.sim.ami_server import SimAmiServer
from cti.sim.fake_ami import FakeAmiServer, Script
from cti.store.embedded import free_port


async def test_serve_logs_each_call_with_its_interaction_and_stops_cleanly() -> None:
    section = transcripts.load_ami(transcripts.find(9))[0]
    server = FakeAmiServer([Script(section)])
    port = await server.start()
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    stop = asyncio.Event()
    settings = Settings(
        ami=AmiSettings(port=port, auth="plain", secret="ctisecret"),  # type: ignore[arg-type]
        http=HttpSettings(port=free_port()),
    )
    try:
        task = asyncio.ensure_future(serve(settings, stop))
        for _ in range(300):
            if "ami.resynced" in stream.getvalue():
                break
            await asyncio.sleep(0.01)
        # Everything Asterisk sent after the login, as one stream (answers to actions
        # nobody sent are stray responses and are ignored).
        server.inject("".join(step.server for step in section.steps[2:]).encode())
        for _ in range(300):
            if "call.InteractionEnded" in stream.getvalue():
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        configure_logging("warning", "console", io.StringIO())
        await server.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    calls = [line for line in lines if line["event"].startswith("call.")]
    assert calls, "no call events were logged"
    assert {line["interaction"] for line in calls} == {"1795437633.52"}
    assert [line["event"] for line in lines][-1] == "cti.stopped"
    assert all("ctisecret" not in json.dumps(line) for line in lines)


# --- `cti serve` before Asterisk ---------------------------------------------------------


@contextlib.contextmanager
def cti_serve(
    db_url: str, ami_port: int, log: Path, *args: str, secret: str = "ctisecret"
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`cti serve ARGS` as a user starts it (JSON log to `log`); yields it and its HTTP
    port; stopped with SIGTERM (killed if it hangs) on the way out."""
    http = free_port()
    env = {
        **os.environ,
        "CTI_DATABASE_URL": db_url,
        "CTI_AMI__PORT": str(ami_port),
        "CTI_AMI__SECRET": secret,
        "CTI_AMI__RECONNECT_MAX_S": "1",  # the default backoff cap is 30 s
        "CTI_HTTP__PORT": str(http),
        "CTI_STORE__SPILL_DIR": str(log.parent / "outbox"),  # not the machine's own
        "CTI_LOG__FORMAT": "json",
        "CTI_LOG__LEVEL": "info",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cti", "serve", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, http
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def log_events(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def ready(http: aiohttp.ClientSession, port: int) -> tuple[int, dict[str, Any]] | None:
    """`/ready`'s status and body, or None while nothing listens."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/ready") as response:
            return response.status, await response.json()
    except aiohttp.ClientConnectionError:
        return None


async def ready_until(
    http: aiohttp.ClientSession,
    port: int,
    proc: subprocess.Popen[bytes],
    want: Any,
    timeout: float = 45.0,
) -> tuple[int, dict[str, Any]]:
    """Poll `/ready` until `want(status, body)`; the process must stay up meanwhile."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"cti serve exited with {proc.returncode}"
        last = await ready(http, port)
        if last is not None and want(*last):
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"/ready never turned as expected; last answer {last}")


async def test_serve_started_before_asterisk_waits_says_why_then_connects(
    db_url: str, tmp_path: Path
) -> None:
    ami_port = free_port()
    log = tmp_path / "serve.log"
    with cti_serve(db_url, ami_port, log) as (proc, port):
        async with aiohttp.ClientSession() as http:
            status, body = await ready_until(http, port, proc, lambda st, b: True)
            assert status == 503
            assert body["ready"] is False
            assert body["checks"] == {"ami": False, "database": True}
            assert body["waiting_for"] == {
                "ami": f"cannot reach Asterisk AMI at 127.0.0.1:{ami_port}: connection refused"
                " (Asterisk not running, or AMI not enabled there)"
            }
            # It keeps trying (and says so) instead of exiting.
            deadline = time.monotonic() + 20
            while sum(e["event"] == "ami.waiting_for_asterisk" for e in log_events(log)) < 3:
                assert proc.poll() is None, f"cti serve exited with {proc.returncode}"
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.2)
            waiting = [e for e in log_events(log) if e["event"] == "ami.waiting_for_asterisk"]
            assert waiting[0]["error"] == body["waiting_for"]["ami"]
            assert waiting[0]["level"] == "warning"
            # Asterisk comes up on its port: serve logs in and /ready turns green.
            server = SimAmiServer()
            await server.start(ami_port)
            try:
                status, body = await ready_until(http, port, proc, lambda st, b: st == 200)
                assert body == {"ready": True, "checks": {"ami": True, "database": True}}
                assert "Login" in [action.get("Action") for action in server.received]
            finally:
                await server.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert "ami.connected" in [e["event"] for e in log_events(log)]


async def test_a_wrong_ami_password_is_logged_and_shown_while_serve_keeps_trying(
    db_url: str, tmp_path: Path
) -> None:
    server = SimAmiServer(secret="the-real-secret")
    ami_port = await server.start()
    log = tmp_path / "serve.log"
    try:
        with cti_serve(db_url, ami_port, log, secret="a-wrong-secret") as (proc, port):
            async with aiohttp.ClientSession() as http:
                status, body = await ready_until(
                    http, port, proc, lambda st, b: "refused login" in str(b.get("waiting_for"))
                )
            assert status == 503
            assert body["checks"]["ami"] is False
            assert body["waiting_for"]["ami"] == (
                f"Asterisk at 127.0.0.1:{ami_port} refused login for user 'cti': "
                "Authentication failed"
            )
            deadline = time.monotonic() + 20
            while not [e for e in log_events(log) if e["event"] == "ami.login_refused"]:
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.2)
            (refused, *_) = [e for e in log_events(log) if e["event"] == "ami.login_refused"]
            assert refused["level"] == "error"
            assert "ami.secret" in refused["fix"]
            assert proc.poll() is None
    finally:
        await server.close()
    assert "a-wrong-secret" not in log.read_text()


@pytest.mark.parametrize("asterisk", ["down", "wrong-password"])
async def test_fail_fast_exits_1_when_asterisk_is_not_there_or_refuses(
    db_url: str, tmp_path: Path, asterisk: str
) -> None:
    server = SimAmiServer(secret="the-real-secret")
    ami_port = await server.start() if asterisk == "wrong-password" else free_port()
    log = tmp_path / "serve.log"
    try:
        with cti_serve(db_url, ami_port, log, "--fail-fast", secret="a-wrong-secret") as (
            proc,
            _port,
        ):
            deadline = time.monotonic() + 30
            while proc.poll() is None:  # the server runs in this loop: wait without blocking
                assert time.monotonic() < deadline, "cti serve --fail-fast kept running"
                await asyncio.sleep(0.1)
            assert proc.returncode == 1
    finally:
        await server.close()
    last = log.read_text().strip().splitlines()[-1]
    if asterisk == "down":
        assert last.startswith(
            f"cti: ami_unreachable: cannot reach Asterisk AMI at 127.0.0.1:{ami_port}: "
            "connection refused"
        )
    else:
        assert last == (
            f"cti: ami_login_failed: Asterisk at 127.0.0.1:{ami_port} refused login for user "
            "'cti': Authentication failed"
        )
