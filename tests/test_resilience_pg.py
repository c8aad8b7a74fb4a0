"""The embedded PostgreSQL killed (SIGKILL) under a running CTI: the API says 503
`database_unavailable` (never 500) while it is away, the server is reaped (no zombie)
and started again by itself, the API and the desktops' websockets come back without
anyone restarting the CTI, and the outbox delivers every record; a stale
`postmaster.pid` never blocks a start, and a live server's is never removed."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from structlog.testing import capture_logs

from api_helpers import World, next_of, world
from cti.logs import configure_logging
from cti.store.embedded import EmbeddedPostgres, EmbeddedPostgresError
from cti.store.postmaster import holder
from cti.store.supervisor import Supervisor
from record_helpers import abandoned_call


@pytest.fixture(autouse=True)
def _logs_to_an_open_stream() -> None:
    """An earlier test may leave logging pointed at its captured stderr, closed since
    (`cli.main` run in-process configures it): a log line from the outbox writer or the
    supervisor thread would then raise and end them."""
    configure_logging("warning", "console", io.StringIO())


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="cti-test-pgkill-"))
    base.chmod(0o755)  # as root the server's own user must reach its data
    yield base / "pg"
    shutil.rmtree(base, ignore_errors=True)


async def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _gone(pid: int) -> bool:
    """No process, not even a zombie, has `pid` (and it is no child of ours to reap)."""
    if Path(f"/proc/{pid}").exists():
        return False
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


async def _statuses(w: World) -> dict[str, tuple[int, Any]]:
    """An authenticated route that needs the database only for the token, one that
    queries it, and the agent's own record."""
    return {
        "queues": await w.call("GET", "/api/v1/queues", "supervisor"),
        "interactions": await w.call("GET", "/api/v1/interactions", "supervisor"),
        "me": await w.call("GET", "/api/v1/me", "agent"),
    }


async def test_a_killed_embedded_database_is_restarted_and_nothing_is_lost(
    pg_dir: Path, tmp_path: Path
) -> None:
    pg = EmbeddedPostgres(pg_dir)
    url = pg.start()
    # A pause before the first restart long enough to see the API while it is away.
    supervisor = Supervisor(pg, first_delay_s=5.0, max_delay_s=5.0)
    supervisor.start()
    try:
        async with world(url, tmp_path) as w:
            store = w.core.store
            assert store is not None
            for n in range(20):
                store.put(abandoned_call(f"before-{n}"))
            assert await store.outbox.flush(20)
            for name, (status, _) in (await _statuses(w)).items():
                assert status == 200, name

            proc = pg.process
            assert proc is not None
            killed = proc.pid
            os.kill(killed, signal.SIGKILL)
            for n in range(20):
                store.put(abandoned_call(f"during-{n}"))

            # While it is away: 503 with a code a client can act on, on every route (a
            # backend may answer for a few ms after its postmaster died: then 200).
            seen: set[str] = set()

            async def all_refused() -> bool:
                for name, (status, body) in (await _statuses(w)).items():
                    assert status in (200, 503), (name, status, body)
                    if status == 503:
                        assert body["code"] == "database_unavailable", body
                        seen.add(name)
                return len(seen) == 3

            await _until(all_refused, 5, "503 database_unavailable on every route")
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                async with w.ws():
                    pass
            assert refused.value.status == 503
            await _until(lambda: _gone(killed), 10, "the killed server to be reaped")

            # Back by itself: same URL, new server process, routes and websockets answer.
            async def all_ok() -> bool:
                return all(s == 200 for s, _ in (await _statuses(w)).values())

            await _until(all_ok, 60, "the API to answer 200 again")
            new = pg.process
            assert new is not None
            assert new.pid != killed
            assert new.poll() is None
            await _until(lambda: supervisor.restarts == 1, 10, "the restart to be counted")
            assert supervisor.last_exit == -signal.SIGKILL
            async with w.ws() as ws:
                assert (await next_of(ws, "hello"))["agent"] == "a1"
                await ws.send_json({"id": "1", "type": "login"})
                assert (await next_of(ws, "ack", 10))["id"] == "1"

            for n in range(20):
                store.put(abandoned_call(f"after-{n}"))
            assert await store.outbox.flush(30)
            assert store.outbox.rejected == 0
        conn = await asyncpg.connect(url)
        try:
            ids = {r["id"] for r in await conn.fetch("SELECT id FROM interactions")}
        finally:
            await conn.close()
        assert ids == {f"{w}-{n}" for w in ("before", "during", "after") for n in range(20)}
    finally:
        supervisor.stop()
    assert pg.process is None
    assert _gone(new.pid)


def test_a_stale_pid_file_is_removed_and_a_live_servers_never(pg_dir: Path) -> None:
    pg = EmbeddedPostgres(pg_dir)
    pg.start()
    proc = pg.process
    assert proc is not None
    data = pg.data
    assert holder(data) == proc.pid
    # A second server on the same data: refused by name, the live one's file kept.
    other = EmbeddedPostgres(pg_dir, port=pg.port + 1 if pg.port < 65535 else pg.port - 1)
    with pytest.raises(EmbeddedPostgresError, match=f"pid {proc.pid}.*running on {data}"):
        other.start()
    assert (data / "postmaster.pid").exists()
    assert pg.running

    # Killed, and not reaped (a zombie child of ours): its pid file is stale all the same.
    stale = (data / "postmaster.pid").read_text()
    os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{proc.pid}/stat").read_text().split(")")[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the killed server did not become a zombie"
        time.sleep(0.05)
    assert holder(data) is None
    # A pid now taken by some other process (pid reuse) does not hold it either.
    with subprocess.Popen(["sleep", "30"]) as sleeper:
        (data / "postmaster.pid").write_text(stale.replace(str(proc.pid), str(sleeper.pid), 1))
        assert holder(data) is None
        again = EmbeddedPostgres(pg_dir, port=pg.port)
        again.start(timeout=60)  # a manual start is not blocked
        try:
            assert holder(data) == again.process.pid  # type: ignore[union-attr]
        finally:
            again.stop()
            sleeper.kill()
    proc.wait()
    pg.stop()


def test_a_restart_that_fails_is_tried_again_until_it_works(pg_dir: Path) -> None:
    """The port is taken while the server is down (the restart fails to listen): the
    supervisor keeps trying, with growing pauses, and gets it back once the port is
    free again."""
    pg = EmbeddedPostgres(pg_dir)
    pg.start()
    supervisor = Supervisor(pg, first_delay_s=0.2, max_delay_s=1.0)
    supervisor.start()
    squatter = socket.socket()
    try:
        with capture_logs() as logs:
            proc = pg.process
            assert proc is not None
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            os.kill(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while True:  # the port is free once the server is gone: take it
                try:
                    squatter.bind(("127.0.0.1", pg.port))
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the killed server kept its port"
                    time.sleep(0.01)
            squatter.listen()
            deadline = time.monotonic() + 30
            while not any(e["event"] == "embedded_pg.restart_failed" for e in logs):
                assert time.monotonic() < deadline, "no restart was tried"
                time.sleep(0.05)
            assert supervisor.restarts == 0
            squatter.close()
            deadline = time.monotonic() + 60
            while supervisor.restarts == 0:
                assert time.monotonic() < deadline, "not restarted once the port was free"
                time.sleep(0.05)
        failed = [e for e in logs if e["event"] == "embedded_pg.restart_failed"]
        assert failed
        assert failed[0]["retry_in_s"] == pytest.approx(0.4)
        assert pg.running
    finally:
        squatter.close()
        supervisor.stop()
