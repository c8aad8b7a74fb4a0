"""`cti bench api`: screen-pop latency with 30 and with 1,000 agent desktops connected,
measured the way production runs: the simulated PBX, the CTI and the desktops are three
processes on 127.0.0.1 (PostgreSQL is a fourth, as always).

Two figures per call:
- end to end: from the simulated Asterisk handing the CTI the event that puts a caller
  on hold (`VarSet CTI_WAITING`) to the `screen_pop` frame arriving at the offered
  agent's websocket client (caller-history query included);
- the CTI's own share: from the AMI read that brought that event to the frame written
  to the agent's websocket, both stamped inside the CTI.
And the CTI's CPU time per call, its resident memory per connected desktop, and REST
caller lookups per second (8 clients at once).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg

from cti.api import auth
from cti.bench.api_cti import cti_main
from cti.bench.api_peers import IVR_S, desks_main, pbx_main
from cti.logs import configure_logging
from cti.store.embedded import scratch_database
from cti.store.migrate import migrate

RATE = 50.0  # calls per second
QUANTILES = {"p50": 0.5, "p99": 0.99, "p99.9": 0.999, "max": 1.0}
WAIT_S = 120.0


def _quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return dict.fromkeys(QUANTILES, float("nan"))
    top = len(ordered) - 1
    return {k: ordered[min(top, int(q * len(ordered)))] for k, q in QUANTILES.items()}


def _ask(pipe: Connection, *order: Any, timeout: float = WAIT_S) -> Any:
    if order:
        pipe.send(order)
    if not pipe.poll(timeout):
        raise TimeoutError(f"no answer to {order[:1]} within {timeout} s")
    return pipe.recv()


HISTORY = """
INSERT INTO callers (phone, name, address, notes)
SELECT '+35988' || lpad(n::text, 7, '0'), 'Caller ' || n, 'Street ' || n, 'notes on ' || n
FROM generate_series(0, $1 - 1) AS n;
INSERT INTO interactions (id, direction, caller_number, queue, topic, agent, arrived_at,
    answered_at, ended_at, wait_s, talk_s, outcome, hangup_side)
SELECT 'hist-' || i, 'inbound', '+35988' || lpad((i % $1)::text, 7, '0'), 'q', 'bench',
    'a' || (i % 30), timestamptz '2026-01-01' + i * interval '60 seconds',
    timestamptz '2026-01-01' + i * interval '60 seconds' + interval '15 seconds',
    timestamptz '2026-01-01' + i * interval '60 seconds' + interval '255 seconds',
    15, 240, CASE WHEN i % 10 = 0 THEN 'abandoned' ELSE 'answered' END, 'caller'
FROM generate_series(0, 12 * $1 - 1) AS i;
INSERT INTO topics (code, name, regulation_days) VALUES ('bench', 'Bench topic', 14);
INSERT INTO cases (number, phone, topic, description, status, deadline, created_by, created_at)
SELECT 'B-' || lpad(i::text, 7, '0'), '+35988' || lpad((i % $1)::text, 7, '0'), 'bench',
    'generated case ' || i, (ARRAY['registered', 'in_progress', 'closed'])[1 + i / $1],
    date '2026-12-31', 'bench', timestamptz '2026-01-01' + i * interval '150 seconds'
FROM generate_series(0, 3 * $1 - 1) AS i;
ANALYZE;
"""


async def _database(url: str, agents: list[str], callers: int) -> tuple[str, dict[str, str], str]:
    """A database of its own for this step, with a user and token per agent, and a
    history for every caller of the bench (12 past calls, 2 open cases, 1 closed), as a
    hotline's regular callers have."""
    admin = await asyncpg.connect(url)
    name = f"cti_bench_api_{len(agents)}"
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    db = url.rpartition("/")[0] + f"/{name}"
    conn = await asyncpg.connect(db)
    try:
        await migrate(conn)
        for statement in HISTORY.split(";")[:-1]:
            await conn.execute(statement, *([callers] if "$1" in statement else []))
        tokens = {}
        for a in agents:
            await auth.create_user(conn, a, "agent", a)
            tokens[a] = await auth.issue_token(conn, a)
        await auth.create_user(conn, "int", "integrator")
        api_key = await auth.issue_token(conn, "int", "api_key")
    finally:
        await conn.close()
    return db, tokens, api_key


def _cpu_ticks() -> tuple[int, int]:
    """(all, stolen) CPU ticks of the machine so far (Linux `/proc/stat`; (0, 0)
    elsewhere): time a virtual machine's host gave to others is "steal", and a bench
    run with much of it was not run on a quiet machine."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def _step(url: str, n_agents: int, calls: int, work: Path, loop: str) -> dict[str, Any]:
    agents = [f"a{i}" for i in range(n_agents)]
    db, tokens, api_key = asyncio.run(_database(url, agents, max(calls, 400)))
    ctx = multiprocessing.get_context("spawn")
    pipes: dict[str, Connection] = {}
    procs: list[Any] = []

    def spawn(name: str, target: Any, *args: Any) -> Connection:
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=target, args=(theirs, *args), name=f"bench-{name}")
        proc.start()
        procs.append(proc)
        pipes[name] = ours
        return ours

    try:
        pbx = spawn("pbx", pbx_main, agents)
        _, ami_port, secret = _ask(pbx)
        outbox = str(work / f"outbox-{n_agents}")
        cti = spawn("cti", cti_main, db, ami_port, secret, agents, outbox, loop)
        _, http_port, rss_idle = _ask(cti)
        desks = spawn("desks", desks_main, f"http://127.0.0.1:{http_port}", tokens)
        _ask(desks)  # connected
        _, rss_connected = _ask(cti, "rss")
        _ask(desks, "expect", calls)
        _ask(cti, "begin")
        ticks_at = _cpu_ticks()
        _, waiting_at = _ask(pbx, "calls", calls, RATE, "+35988")
        _, arrived = _ask(desks, "collect", 10.0)
        _, cpu_s, stages, pauses = _ask(cti, "end")
        ticks = [b - a for a, b in zip(ticks_at, _cpu_ticks(), strict=True)]
        _, rest_rate = _ask(desks, "rest", api_key, 400)
        for name in ("desks", "cti", "pbx"):  # the clients leave, then the CTI stops
            pipes[name].send(("stop",))
            procs[list(pipes).index(name)].join(15)
    finally:
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.kill()
                proc.join()
    end_to_end = [(arrived[c] - t) / 1e6 for c, t in waiting_at.items() if c in arrived]
    read_at, offered, popped = stages["read"], stages["offered"], stages["popped"]
    done = [c for c in read_at if c in popped and c in offered]
    cti_only = [(popped[c][2] - read_at[c]) / 1e6 for c in done]
    return {
        "where": _where(done, read_at, offered, popped, pauses),
        "calls": len(waiting_at),
        "popped": len(end_to_end),
        "end_to_end": _quantiles(end_to_end),
        "cti_only": _quantiles(cti_only),
        "cpu_ms_per_call": 1000 * cpu_s / max(1, len(waiting_at)),
        "bus_events_per_call": stages["bus_events"] / max(1, len(waiting_at)),
        "rss_kib_per_desktop": (rss_connected - rss_idle) / 1024 / n_agents,
        "rest_lookups_per_s": rest_rate,
        "steal_pct": 100 * ticks[1] / ticks[0] if ticks[0] else 0.0,
    }


STAGES = ("AMI read -> offered", "offered -> sender", "history query", "frame write")


def _where(
    calls: list[str],
    read_at: dict[str, int],
    offered: dict[str, int],
    popped: dict[str, list[int]],
    pauses: list[tuple[int, int, int]],
) -> dict[str, Any]:
    """Where the CTI's time goes, for the median call and for the slowest 1 %: the mean
    of each stage, and how many of those pops had a garbage collection in the middle."""
    spans = {
        c: (
            offered[c] - read_at[c],
            popped[c][0] - offered[c],
            popped[c][1] - popped[c][0],
            popped[c][2] - popped[c][1],
        )
        for c in calls
    }
    ranked = sorted(calls, key=lambda c: popped[c][2] - read_at[c])
    slowest = ranked[-max(1, len(ranked) // 100) :] if ranked else []
    middle = ranked[len(ranked) // 4 : 3 * len(ranked) // 4]

    def mean(group: list[str]) -> list[float]:
        if not group:
            return [float("nan")] * len(STAGES)
        return [sum(spans[c][i] for c in group) / len(group) / 1e6 for i in range(len(STAGES))]

    def in_gc(c: str) -> bool:
        return any(b < popped[c][2] and e > read_at[c] for _, b, e in pauses)

    return {
        "middle": mean(middle),
        "slowest": mean(slowest),
        "slowest_n": len(slowest),
        "slowest_in_gc": sum(map(in_gc, slowest)),
        "gc_pauses": len(pauses),
        "gc_max_ms": max(((e - b) / 1e6 for _, b, e in pauses), default=0.0),
        "gc2_pauses": sum(1 for g, _, _ in pauses if g == 2),
    }


def run(calls: int = 300, loop: str | None = None) -> int:
    """Both steps and the report. `loop`: the CTI's event loop, "asyncio" (what `cti
    serve` runs) or "uvloop"; by default `CTI_BENCH_LOOP`, else asyncio."""
    loop = loop or os.environ.get("CTI_BENCH_LOOP", "asyncio")
    if loop not in ("asyncio", "uvloop"):
        raise SystemExit(f"CTI_BENCH_LOOP: asyncio or uvloop, not {loop!r}")
    configure_logging("error", "console")
    work = Path(tempfile.mkdtemp(prefix="cti-bench-api-work-"))
    try:
        with scratch_database("cti-bench-api-") as url:
            results = {n: _step(url, n, calls, work, loop) for n in (30, 1000)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"screen-pop, {calls} calls at {RATE:.0f}/s; simulated PBX, CTI ({loop} loop) and"
        " desktops in three processes on 127.0.0.1;"
        f" each citizen {IVR_S:g} s in the IVR before the line"
    )
    print("  end to end: AMI event sent by the PBX -> frame at the agent's websocket client")
    print("  CTI only:   AMI bytes read by the CTI -> frame written to the agent's websocket")
    print(f"{'desktops':>8} {'figure':<11}" + "".join(f"{k + ' ms':>10}" for k in QUANTILES))
    for n, r in results.items():
        for label, key in (("end to end", "end_to_end"), ("CTI only", "cti_only")):
            cells = "".join(f"{r[key][k]:10.2f}" for k in QUANTILES)
            print(f"{n:8d} {label:<11}{cells}")
    print(
        f"{'desktops':>8} {'pops/calls':>11} {'CPU ms/call':>12} {'RSS KiB/desktop':>16}"
        f" {'REST lookups/s':>15} {'CPU stolen %':>13}"
    )
    for n, r in results.items():
        print(
            f"{n:8d} {r['popped']:>5}/{r['calls']:<5} {r['cpu_ms_per_call']:12.2f}"
            f" {r['rss_kib_per_desktop']:16.1f} {r['rest_lookups_per_s']:15.0f}"
            f" {r['steal_pct']:13.1f}"
        )
    print("where the CTI's time goes (mean ms; middle half of the pops vs the slowest 1 %)")
    print(f"{'desktops':>8} {'pops':<8}" + "".join(f"{s:>22}" for s in STAGES))
    for n, r in results.items():
        w = r["where"]
        for label in ("middle", "slowest"):
            print(f"{n:8d} {label:<8}" + "".join(f"{v:22.2f}" for v in w[label]))
        print(
            f"{n:8d} garbage collections during the calls: {w['gc_pauses']}"
            f" ({w['gc2_pauses']} full), longest {w['gc_max_ms']:.2f} ms;"
            f" {w['slowest_in_gc']} of the {w['slowest_n']} slowest pops overlapped one;"
            f" {r['bus_events_per_call']:.1f} bus events per call"
        )
    figures: dict[str, Any] = {}
    for n, r in results.items():
        figures[f"screen_pop_p50_ms_{n}_agents"] = round(r["end_to_end"]["p50"], 2)
        figures[f"screen_pop_p99_ms_{n}_agents"] = round(r["end_to_end"]["p99"], 2)
        figures[f"screen_pop_p999_ms_{n}_agents"] = round(r["end_to_end"]["p99.9"], 2)
        figures[f"screen_pop_max_ms_{n}_agents"] = round(r["end_to_end"]["max"], 2)
        figures[f"cti_only_p50_ms_{n}_agents"] = round(r["cti_only"]["p50"], 2)
        figures[f"cti_only_p99_ms_{n}_agents"] = round(r["cti_only"]["p99"], 2)
        figures[f"cti_only_p999_ms_{n}_agents"] = round(r["cti_only"]["p99.9"], 2)
        figures[f"cti_only_max_ms_{n}_agents"] = round(r["cti_only"]["max"], 2)
        figures[f"cpu_ms_per_call_{n}_agents"] = round(r["cpu_ms_per_call"], 3)
        figures[f"rss_kib_per_desktop_{n}_agents"] = round(r["rss_kib_per_desktop"], 1)
        figures[f"cpu_stolen_pct_{n}_agents"] = round(r["steal_pct"], 1)
    figures["rest_caller_lookups_per_s"] = round(results[30]["rest_lookups_per_s"])
    figures["loop"] = loop
    print(json.dumps(figures))
    return 0 if all(r["popped"] == r["calls"] for r in results.values()) else 1
