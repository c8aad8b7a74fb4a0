"""Tier 3: `cti demo`'s stack end to end — simulated PBX, CTI over a real AMI socket,
the ACD, bot agents, workload traffic, real PostgreSQL — and the command itself."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from cti.app import Core
from cti.config import Settings
from cti.demo import DemoOptions, run_demo
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Fields
from cti.sim.traffic import Traffic
from cti.store.migrate import migrate
from cti.store.service import StoreService
from proc_helpers import reap


async def test_calls_flow_end_to_end_through_the_demo_stack(db_url: str, tmp_path: Path) -> None:
    stop = asyncio.Event()
    out = io.StringIO()
    seen: dict[str, object] = {}
    pbx_events: list[tuple[str, dict[str, str]]] = []

    def ready(core: Core, server: SimAmiServer, traffic: Traffic) -> None:
        seen.update(core=core, server=server, traffic=traffic)

        def watch(name: str, fields: Fields) -> None:
            pbx_events.append((name, dict(fields)))

        server.listeners.append(watch)

    person: dict[str, object] = {}

    async def take_calls_as_a_person() -> None:
        """What the demo tells a person to do: the websocket, login, ready, a call."""
        deadline = time.monotonic() + 20
        while "ws://" not in out.getvalue():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        url = out.getvalue().split("websocket ", 1)[1].split()[0]
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_json({"id": "1", "type": "login"})
            await ws.send_json({"id": "2", "type": "ready"})
            while "pop" not in person:
                frame = await asyncio.wait_for(ws.receive_json(), 20)
                if frame["type"] == "ack":
                    person.setdefault("acks", []).append(frame["id"])  # type: ignore[union-attr]
                elif frame["type"] == "screen_pop":
                    person["pop"] = frame

    async def enough_calls() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            core = seen.get("core")
            if isinstance(core, Core) and core.acd is not None:
                summary = core.acd.summary()
                completed = sum(1 for n, _ in pbx_events if n == "BridgeDestroy")
                if summary.answered >= 15 and completed >= 3 and "pop" in person:
                    break
            await asyncio.sleep(0.05)
        stop.set()

    watcher = asyncio.create_task(enough_calls())
    you = asyncio.create_task(take_calls_as_a_person())
    # 300 calls/h at 100x: about 8 calls per wall second; talk ~2.4 s wall.
    store = StoreService(db_url, tmp_path / "outbox")
    summary = await run_demo(
        Settings(), DemoOptions(speed=100.0, refresh_s=0.2), db_url, stop, out, ready, store
    )
    await watcher
    await asyncio.wait_for(you, 20)
    assert person["acks"] == ["1", "2"]
    pop = person["pop"]
    assert isinstance(pop, dict)
    assert pop["number"].startswith("+359")
    assert pop["ivr_path"][0] in ("welcome", "employment_line")  # the two numbers' trees
    text = out.getvalue()
    assert "25 bot agents" in text
    assert "simulated Asterisk (AMI): 127.0.0.1:" in text
    assert text.rstrip().endswith("cti demo: stopped")
    assert "answered" in text.splitlines()[-2]  # live figures were printed
    traffic = seen["traffic"]
    assert isinstance(traffic, Traffic)
    assert summary.answered >= 15
    assert summary.offered <= traffic.counts.offered
    # Every answer the ACD counted is a real bridge on the PBX between a caller and
    # the agent's phone, reached through the cti-connect context.
    answers = [f for n, f in pbx_events if n == "DialEnd" and f["DialStatus"] == "ANSWER"]
    assert len(answers) == summary.answered
    assert all(f["Context"] == "cti-connect" for f in answers)
    core = seen["core"]
    assert isinstance(core, Core)
    assert core.acd is not None
    phones = {a.endpoint.split("/")[1] for a in core.acd.acd.config.agents}
    assert {f["DestChannel"].split("/")[1].rsplit("-", 1)[0] for f in answers} <= phones
    # The call tracker followed the same interactions over AMI.
    assert core.feed.counts["BridgeEnter"] >= 2 * summary.answered
    server = seen["server"]
    assert isinstance(server, SimAmiServer)
    assert not server._sessions  # the CTI logged off / disconnected
    # Every interaction the CTI saw end is stored once, with its legs; agents' states too.
    assert store.outbox.depth == 0
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT id, outcome, agent, ivr_path, topic, called_number FROM interactions"
        )
        legs = await conn.fetchval("SELECT count(*) FROM legs")
        states = await conn.fetchval("SELECT count(*) FROM agent_state_log")
    finally:
        await conn.close()
    stored = {r["id"] for r in rows}
    live = {ch.linkedid for ch in server.pbx.channels.values()}
    assert stored == {ch.linkedid for ch in server.pbx.ended} - live
    bridged = {
        f["Linkedid"] for n, f in pbx_events if n == "DialEnd" and f["DialStatus"] == "ANSWER"
    }
    answered_rows = {r["id"] for r in rows if r["outcome"] == "answered" and r["agent"]}
    assert answered_rows == bridged & stored
    assert legs == sum(1 for ch in server.pbx.ended if ch.linkedid in stored)
    assert states >= 25
    # Every caller went through the IVR (FastAGI) and chose a topic there.
    # Citizens dialled both numbers of deploy/ivr.yaml; each number's calls ran its tree.
    first = {"080018818": "welcome", "1818": "employment_line"}
    assert {r["called_number"] for r in rows} == set(first)
    assert all(json.loads(r["ivr_path"])[0] == first[r["called_number"]] for r in rows)
    assert "citizens dial 1818 (employment registration)" in text
    assert all(r["topic"] for r in rows if r["outcome"] == "answered")


def test_cti_demo_starts_embedded_postgres_and_ctrl_c_leaves_nothing_running() -> None:
    base = Path(tempfile.mkdtemp(prefix="cti-test-demo-"))
    base.chmod(0o755)
    env = {
        **os.environ,
        "CTI_EMBEDDED_PG_DIR": str(base / "pg"),
        "CTI_LOG__FORMAT": "json",
    }
    env.pop("CTI_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cti", "demo", "--speed", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not any(line.startswith("waiting") for line in lines):
            line = proc.stdout.readline()
            assert line, f"cti demo exited early: {''.join(lines)}"
            lines.append(line)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        lines.append(rest)
        assert proc.returncode == 0, "".join(lines)
        text = "".join(lines)
        assert "starting embedded PostgreSQL" in text
        assert "cti demo: stopped" in text
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
        assert str(base) not in ps.stdout, "a PostgreSQL of the demo is still running"
    finally:
        reap(proc)
        shutil.rmtree(base, ignore_errors=True)


async def test_a_demo_whose_bots_were_left_logged_in_starts_again(
    db_url: str, tmp_path: Path
) -> None:
    """A demo killed without its Ctrl-C leaves its bots logged in the state log; the
    next one gets them back from the store and must not log them in twice."""
    conn = await asyncpg.connect(db_url)
    try:
        await migrate(conn)
        await conn.execute("DELETE FROM agent_state_log")
        await conn.executemany(
            "INSERT INTO agent_state_log (key, agent, state, reason, at, previous_s)"
            " VALUES ($1, $2, $3, $4, now(), 1)",
            [
                ("left-1", "social_assistance-1", "ready", None),
                ("left-2", "social_assistance-2", "not_ready", "break"),
            ],
        )
    finally:
        await conn.close()
    stop, out = asyncio.Event(), io.StringIO()
    states: dict[str, str] = {}

    def ready(core: Core, server: SimAmiServer, traffic: Traffic) -> None:
        assert core.acd is not None
        states.update((a.id, str(a.state)) for a in core.acd.acd.agents())
        stop.set()

    await run_demo(
        Settings(),
        DemoOptions(speed=100.0, refresh_s=0.2),
        db_url,
        stop,
        out,
        ready,
        StoreService(db_url, tmp_path / "outbox"),
    )
    assert states["social_assistance-1"] in ("ready", "reserved", "on_call")
    assert states["social_assistance-2"] in ("ready", "reserved", "on_call")
    assert "25 bot agents" in out.getvalue()
