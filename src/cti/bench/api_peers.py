"""The processes around the CTI in `cti bench api`, as in production where Asterisk and
the browsers run elsewhere: the simulated PBX (its AMI server) and the swarm of agent
desktops (aiohttp websocket clients). Each runs its own event loop in its own process
and takes orders from the bench over a pipe.

Times that cross processes are `time.monotonic_ns()` (one clock for the whole machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Citizen, Endpoint, Fields

ORDER_TIMEOUT_S = 300.0  # a bench that hears nothing this long has lost its parent
# Each citizen's seconds of IVR prompts before the line, as in production (the
# deployment's IVR takes ~8 s: welcome, language, topic); the CTI reads the caller's
# history meanwhile, so the screen-pop finds it ready.
IVR_S = 3.0


async def receive(pipe: Connection, timeout: float = ORDER_TIMEOUT_S) -> Any:
    """The next message on `pipe`, without blocking the event loop."""
    if not pipe.poll():
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(pipe.fileno(), readable)
        try:
            await asyncio.wait_for(ready, timeout)
        finally:
            loop.remove_reader(pipe.fileno())
    return pipe.recv()


def pbx_main(pipe: Connection, agents: list[str]) -> None:
    """The simulated Asterisk: serves AMI on 127.0.0.1, places calls when told."""
    asyncio.run(_pbx(pipe, agents))


async def _pbx(pipe: Connection, agents: list[str]) -> None:
    server = SimAmiServer({a: Endpoint(a, answer_after_s=0.05) for a in agents})
    waiting_at: dict[str, int] = {}

    def watch(name: str, fields: Fields) -> None:
        # Stamped once the event is handed to the CTI's socket.
        if name == "VarSet":
            f = dict(fields)
            if f["Variable"] == "CTI_WAITING":
                waiting_at.setdefault(f["Linkedid"], time.monotonic_ns())

    server.listeners.append(watch)
    port = await server.start()
    pipe.send(("up", port, server.secret))
    try:
        while (order := await receive(pipe))[0] != "stop":
            _, calls, rate, prefix = order
            waiting_at.clear()
            started = time.monotonic()
            for n in range(calls):
                citizen = Citizen(f"{prefix}{n:07d}", "q", talk_s=0.1, ivr_s=IVR_S)
                server.pbx.inbound_call(citizen)
                # Paced against the clock, not by sleeps adding up.
                await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
            await asyncio.sleep(IVR_S + 1.0)  # the last calls reach their queue
            pipe.send(("placed", dict(waiting_at)))
    finally:
        await server.close()


def desks_main(pipe: Connection, base: str, tokens: dict[str, str]) -> None:
    """The agent desktops: one websocket each, logged in and ready; they note when each
    screen-pop arrives and, when told, run REST caller lookups."""
    asyncio.run(_desks(pipe, base, tokens))


async def _desks(pipe: Connection, base: str, tokens: dict[str, str]) -> None:
    arrived: dict[str, int] = {}
    got_all = asyncio.Event()
    expected = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        gate = asyncio.Semaphore(50)

        async def connect(token: str) -> aiohttp.ClientWebSocketResponse:
            async with gate:
                ws = await http.ws_connect(
                    f"{base}/ws/agent?token={token}", timeout=aiohttp.ClientWSTimeout(ws_close=10)
                )
                await ws.receive_json(timeout=30)  # hello
                await ws.send_json({"id": "l", "type": "login"})
                await ws.send_json({"id": "r", "type": "ready"})
                return ws

        sockets = await asyncio.gather(*(connect(t) for t in tokens.values()))

        async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                now = time.monotonic_ns()
                frame = json.loads(msg.data)
                if frame["type"] == "screen_pop":
                    arrived.setdefault(frame["call"], now)
                    if len(arrived) >= expected > 0:
                        got_all.set()

        async with asyncio.TaskGroup() as group:
            readers = [group.create_task(reader(ws)) for ws in sockets]
            await asyncio.sleep(0.5)  # every login and ready answered
            pipe.send(("connected",))
            while (order := await receive(pipe))[0] != "stop":
                if order[0] == "expect":
                    arrived.clear()
                    got_all.clear()
                    expected = order[1]
                    pipe.send(("ok",))
                elif order[0] == "collect":
                    with contextlib.suppress(TimeoutError):  # the bench says how many came
                        await asyncio.wait_for(got_all.wait(), order[1])
                    pipe.send(("pops", dict(arrived)))
                elif order[0] == "rest":
                    _, api_key, lookups = order
                    pipe.send(("rest", await _lookups(http, base, api_key, lookups)))
            for task in readers:
                task.cancel()
            for ws in sockets:
                await ws.close()


async def _lookups(http: aiohttp.ClientSession, base: str, api_key: str, lookups: int) -> float:
    """REST caller lookups per second, 8 clients at once."""
    started = time.perf_counter()

    async def worker(k: int) -> None:
        for i in range(k, lookups, 8):
            async with http.get(
                f"{base}/api/v1/callers/%2B35988{i:07d}",
                headers={"Authorization": f"Bearer {api_key}"},
            ) as r:
                if r.status != 200:
                    raise RuntimeError(f"caller lookup answered {r.status}")

    await asyncio.gather(*(worker(k) for k in range(8)))
    return lookups / (time.perf_counter() - started)
