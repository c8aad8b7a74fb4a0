"""`cti bench api`: screen-pop latency, from the AMI event that puts a caller on hold
(the simulated Asterisk writes `VarSet CTI_WAITING=1`) to the `screen_pop` frame
arriving at the offered agent's websocket client, with 30 and with 1,000 agent
desktops connected; and REST caller-lookup throughput.

Everything runs in one process over loopback (simulated PBX, CTI, PostgreSQL lookups
through the pool, aiohttp clients), so the figures include the clients' own work.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from cti.api import auth
from cti.api.server import ApiServer
from cti.app import Core
from cti.config import AmiSettings, Settings
from cti.logs import configure_logging
from cti.queues.models import AcdConfig, AgentProfile, QueueConfig
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Citizen, Endpoint, Fields
from cti.store.embedded import free_port, scratch_database
from cti.store.migrate import migrate
from cti.store.service import StoreService


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(url: str, agents: int, calls: int, work: Path) -> dict[str, float]:
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS cti_bench_api_{agents}")
        await admin.execute(f"CREATE DATABASE cti_bench_api_{agents}")
    finally:
        await admin.close()
    db = url.rpartition("/")[0] + f"/cti_bench_api_{agents}"
    ids = [f"a{i}" for i in range(agents)]
    config = AcdConfig(
        queues={"q": QueueConfig(wrap_up_s=0)},
        agents=tuple(
            AgentProfile(id=a, endpoint=f"PJSIP/{a}", skills={}, queues=("q",)) for a in ids
        ),
    )
    server = SimAmiServer({a: Endpoint(a, answer_after_s=0.05) for a in ids})
    port = await server.start()
    waiting_at: dict[str, float] = {}

    def watch(name: str, fields: Fields) -> None:
        if name == "VarSet":
            f = dict(fields)
            if f["Variable"] == "CTI_WAITING":
                waiting_at.setdefault(f["Linkedid"], time.perf_counter())

    server.listeners.append(watch)
    store = StoreService(db, work / f"outbox-{agents}")
    settings = Settings(ami=AmiSettings(port=port, secret=server.secret, auth="plain"))
    core = Core(
        settings, config, publish_call=lambda e: None, publish_acd=lambda e: None, store=store
    )
    api = ApiServer(core, db, "127.0.0.1", free_port())
    conn = await asyncpg.connect(db)
    await migrate(conn)
    tokens = {}
    for a in ids:
        await auth.create_user(conn, a, "agent", a)
        tokens[a] = await auth.issue_token(conn, a)
    await auth.create_user(conn, "int", "integrator")
    api_key = await auth.issue_token(conn, "int", "api_key")
    await conn.close()
    await core.start()
    await api.start()
    await core.ami.wait_connected(10)
    latencies: list[float] = []
    popped = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = []
        for a in ids:
            ws = await http.ws_connect(f"http://127.0.0.1:{api.port}/ws/agent?token={tokens[a]}")
            await ws.receive_json()  # hello
            await ws.send_json({"id": "l", "type": "login"})
            await ws.send_json({"id": "r", "type": "ready"})
            sockets.append(ws)

        async def reader(ws: Any) -> None:
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame["type"] == "screen_pop":
                    began = waiting_at.get(frame["call"])
                    if began is not None:
                        latencies.append(time.perf_counter() - began)
                        if len(latencies) >= calls:
                            popped.set()

        readers = [asyncio.create_task(reader(ws)) for ws in sockets]
        await asyncio.sleep(0.5)
        for n in range(calls):
            server.pbx.inbound_call(Citizen(f"+35988{n:07d}", "q", talk_s=0.1))
            await asyncio.sleep(0.02)  # 50 calls/s
        await asyncio.wait_for(popped.wait(), 30)
        # REST: caller lookups by an integrator, 8 clients at once.
        lookups = 400
        started = time.perf_counter()

        async def lookups_worker(k: int) -> None:
            for i in range(k, lookups, 8):
                async with http.get(
                    f"http://127.0.0.1:{api.port}/api/v1/callers/%2B35988{i:07d}",
                    headers={"Authorization": f"Bearer {api_key}"},
                ) as r:
                    assert r.status == 200, r.status

        await asyncio.gather(*(lookups_worker(k) for k in range(8)))
        rest_rate = lookups / (time.perf_counter() - started)
        for task in readers:
            task.cancel()
        for ws in sockets:
            await ws.close()
    await api.close()
    await core.close()
    await server.close()
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * _q(latencies, 0.99),
        "rest_lookups_per_s": rest_rate,
    }


def run(calls: int = 300) -> int:
    configure_logging("error", "console")
    work = Path(tempfile.mkdtemp(prefix="cti-bench-api-work-"))
    try:
        with scratch_database("cti-bench-api-") as url:
            results = {n: asyncio.run(_run(url, n, calls, work)) for n in (30, 1000)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"screen-pop: AMI event at the CTI -> frame at the agent's websocket client, {calls} calls"
    )
    print(f"{'agents':>7} {'p50 ms':>8} {'p99 ms':>8} {'REST lookups/s':>15}")
    for n, r in results.items():
        print(f"{n:7d} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['rest_lookups_per_s']:15.0f}")
    print(
        json.dumps(
            {
                "screen_pop_p50_ms_30_agents": round(results[30]["p50_ms"], 2),
                "screen_pop_p99_ms_30_agents": round(results[30]["p99_ms"], 2),
                "screen_pop_p50_ms_1000_agents": round(results[1000]["p50_ms"], 2),
                "screen_pop_p99_ms_1000_agents": round(results[1000]["p99_ms"], 2),
                "rest_caller_lookups_per_s": round(results[30]["rest_lookups_per_s"]),
            }
        )
    )
    return 0
