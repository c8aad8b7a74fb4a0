"""`cti soak`: the orchestration. One process holds the simulated Asterisk (with its
bots and callers), the PostgreSQL server (embedded, supervised as `cti serve` supervises
its own) and the checks; the CTI is `cti serve` in a child process. Faults come in turn
(faults.py); at the end the traffic stops, the calls drain and the invariants are
checked (check.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import asyncpg

from cti.api import auth
from cti.demo import always_open
from cti.ivr.models import load_ivr
from cti.sim.ami_server import SimAmiServer
from cti.sim.dialplan import HOLD
from cti.sim.traffic import Traffic, bot_endpoints, ivr_keys
from cti.soak import check, setup
from cti.soak.child import CtiChild, child_env
from cti.soak.faults import Faults, schedule
from cti.soak.state import Run
from cti.soak.truth import Truth
from cti.store.embedded import EmbeddedPostgres, free_port, scratch_folder
from cti.store.errors import StoreError
from cti.store.migrate import migrate
from cti.store.supervisor import Supervisor

STRANDED_AFTER_S = 10.0  # in the hold context this long and still unknown to the ACD


@dataclass
class SoakOptions:
    minutes: float = 10.0
    speed: float = 10.0  # the simulator's clock runs this much faster
    load: float = 2.0  # times the reference workload's calls per hour
    seed: int = 1
    folder: Path | None = None  # kept afterwards when given


def main(options: SoakOptions, out: TextIO = sys.stdout) -> int:
    folder = options.folder or scratch_folder("cti-soak-")
    folder.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(folder / "pg")
    supervisor = Supervisor(pg)
    try:
        url = pg.start()
        supervisor.start()
        figures = asyncio.run(soak(options, folder, pg, url, out))
    finally:
        supervisor.stop()
        if options.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(check.table(figures), file=out)
    for problem in figures.problems[:40]:
        print(f"  {problem}", file=out)
    summary = {k: v for k, v in asdict(figures).items() if k != "problems"}
    summary["rss_mb_per_h"] = round(figures.rss_mb_per_h, 2)
    print(json.dumps(summary), file=out, flush=True)
    bad = figures.records_lost + figures.records_wrong + figures.agents_stuck
    bad += figures.agents_not_restored + figures.api_500_while_db_away
    return 1 if bad + figures.callers_stranded else 0


async def user_token(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        with contextlib.suppress(StoreError):  # kept from an earlier run in this folder
            await auth.create_user(conn, "soak", "supervisor", None)
        return await auth.issue_token(conn, "soak")
    finally:
        await conn.close()


async def soak(
    options: SoakOptions, folder: Path, pg: EmbeddedPostgres, url: str, out: TextIO
) -> check.Figures:
    w = setup.workload(options.load)
    config = setup.acd_config(w, options.speed)
    acd_file, ivr_file = setup.write_files(folder, config)
    scale = 1.0 / options.speed
    phones = bot_endpoints(config, w.seed, answer_s=(1.0, 4.0))
    server = SimAmiServer(
        phones,
        time_scale=scale,
        recordings_dir=folder / "recordings",
        keep_actions=1_000,
        keep_ended=1_000,
    )
    server.pbx.recording_rate = 1000
    ami_port = await server.start()
    truth = Truth({a.endpoint.partition("/")[2]: a.id for a in config.agents})
    server.listeners.append(truth.on_event)
    http_port, agi_port = free_port(), free_port()
    env = child_env(
        {
            "CTI_AMI__HOST": "127.0.0.1",
            "CTI_AMI__PORT": str(ami_port),
            "CTI_AMI__USERNAME": server.username,
            "CTI_AMI__SECRET": server.secret,
            "CTI_AMI__AUTH": "md5",
            "CTI_AMI__PING_INTERVAL_S": "2",
            "CTI_AMI__RECONNECT_MAX_S": "1",
            "CTI_HTTP__HOST": "127.0.0.1",
            "CTI_HTTP__PORT": str(http_port),
            "CTI_IVR__FILE": str(ivr_file),
            "CTI_IVR__HOST": "127.0.0.1",
            "CTI_IVR__PORT": str(agi_port),
            "CTI_ACD": str(acd_file),
            "CTI_DATABASE_URL": url,
            "CTI_RECORDING__ENABLED": "true",
            "CTI_RECORDING__DIR": str(folder / "recordings"),
            "CTI_STORE__SPILL_DIR": str(folder / "outbox"),
            "CTI_STORE__PURGE_EVERY_H": "0",
            "CTI_LOG__FORMAT": "json",
            "CTI_LOG__LEVEL": "info",
        }
    )
    token = await user_token(url)
    keys = ivr_keys(always_open(load_ivr(ivr_file)))
    traffic = Traffic(server.pbx, w, {t: t for t in w.topics}, options.seed, keys=keys)
    async with aiohttp.ClientSession() as session:
        run = Run(
            server,
            CtiChild(env, http_port, folder),
            truth,
            session,
            {"Authorization": f"Bearer {token}"},
            out,
            [],
            set(),
        )
        run.say(
            f"cti soak: {options.minutes:g} min, {w.arrivals.calls_per_hour:g} calls/h"
            f" ({options.load:g}x reference) at {options.speed:g}x speed"
            f" = {w.arrivals.calls_per_hour * options.speed / 60:.0f} calls/min; folder {folder}"
        )
        run.cti.spawn()
        await run.cti.ready(session)
        server.pbx.use_fastagi("127.0.0.1", agi_port)
        run.cti_up_since = run.pbx_up_since = time.monotonic()
        for agent in config.agents:
            await run.post(f"/api/v1/agents/{agent.id}/state", {"state": "login"})
            await run.post(f"/api/v1/agents/{agent.id}/state", {"state": "ready"})
        faults = Faults(run, pg)
        duration = options.minutes * 60
        tasks = [
            asyncio.create_task(traffic.run(), name="soak-traffic"),
            asyncio.create_task(_watch(run), name="soak-watch"),
        ]
        try:
            await faults.play(schedule(duration), duration)
        finally:
            tasks[0].cancel()
        run.say(f"traffic stopped after {traffic.counts.offered} calls; draining")
        await drain(run.server)
        figures = check.Figures()
        rows = await stored_rows(url)
        check.records(truth, rows, figures)
        check.agents((await run.get("/api/v1/agents"))["items"], figures)
        tasks[1].cancel()
        figures.callers_stranded = len(run.stranded)
        figures.agents_not_restored = len(faults.agents_not_restored)
        figures.problems += [f"not restored: {a}" for a in faults.agents_not_restored]
        figures.api_500_while_db_away = faults.api_500_while_db_away
        figures.problems += [f"stranded: {c}" for c in sorted(run.stranded)]
        _memory(run, figures)
        status = await run.cti.stop()
        if status != 0:
            figures.problems.append(f"cti serve stopped with status {status}")
        server.pbx.close()
        await server.close()
    return figures


async def _watch(run: Run) -> None:
    """Every 2 s: the CTI's memory, and callers waiting in the hold context whom the
    ACD does not have in its line (once both the CTI and Asterisk have been up 10 s)."""
    suspects: dict[str, float] = {}
    while True:
        await asyncio.sleep(2.0)
        now = time.monotonic()
        mb = run.cti.rss_mb()
        if mb is not None:
            run.rss.append((run.cti.starts, now, mb))
        settled = [s for s in (run.cti_up_since, run.pbx_up_since) if s is not None]
        if len(settled) < 2 or now - max(settled) < STRANDED_AFTER_S:
            suspects.clear()
            continue
        waiting = {
            ch.linkedid
            for ch in run.server.pbx.channels.values()
            if ch.context == HOLD and ch.moh and not ch.hung_up
        }
        try:
            listed = (await run.get("/api/v1/calls"))["items"]
        except (aiohttp.ClientError, TimeoutError):
            continue
        in_line = {c["id"] for c in listed if c["state"] == "waiting"}
        for call in waiting - in_line:
            first = suspects.setdefault(call, now)
            if now - first >= STRANDED_AFTER_S:
                run.stranded.add(call)
        for call in list(suspects):
            if call not in waiting or call in in_line:
                del suspects[call]


async def drain(server: SimAmiServer, wait_s: float = 120.0) -> None:
    """Let the calls end by themselves for a while, then hang up what is left; then
    wait until the CTI has stored everything (the row count stops moving)."""
    pbx = server.pbx
    deadline = time.monotonic() + wait_s
    while pbx.channels and time.monotonic() < deadline:  # noqa: ASYNC110 (the sim's state)
        await asyncio.sleep(0.5)
    for ch in list(pbx.channels.values()):
        if ch.linkedid == ch.uniqueid and not ch.hung_up and ch.name in pbx.channels:
            pbx.hangup(ch.name, 16)
    await asyncio.sleep(5.0)  # wrap-ups end, the outbox writes


async def stored_rows(url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        last, steady = -1, 0
        while steady < 3:  # the same count three seconds running
            n = await conn.fetchval("SELECT count(*) FROM interactions")
            steady = steady + 1 if n == last else 0
            last = n
            await asyncio.sleep(1.0)
        rows = await conn.fetch(
            "SELECT id, agent, answered_at, ended_at, end_reason, outcome FROM interactions"
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


def _memory(run: Run, f: check.Figures) -> None:
    """The slope over the last CTI process's life, its first fifth left out (warm-up)."""
    if not run.rss:
        return
    last = run.rss[-1][0]
    samples = [(t, mb) for start, t, mb in run.rss if start == last]
    span = samples[-1][0] - samples[0][0]
    steady = [(t, mb) for t, mb in samples if t >= samples[0][0] + span / 5]
    f.rss_mb_per_h = check.rss_slope(steady)
    f.rss_mb_end = samples[-1][1]
    f.rss_minutes = (steady[-1][0] - steady[0][0]) / 60 if len(steady) > 1 else 0.0
