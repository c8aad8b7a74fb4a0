"""The pbx tier's takeover scenario (issue 19, docs/ha.md): two CTIs on one database and
the real Asterisk, the dialplan's CTI_AGI on the first and CTI_AGI_OTHER on the second.
The leader is killed (SIGKILL) while an agent talks to a citizen: the standby leads
within seconds; the conversation keeps its agent; the agents need not log in again; the
next citizen's IVR reaches the new leader (the dead node's port refuses, the dialplan
tries the other address), so Asterisk's fallback queue is not used; both calls are
stored once, as Asterisk recorded them (`cti reconcile`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import accounting
import aiohttp
import pytest
from asterisk import free_port
from hotline import Hotline, agents, hotline

pytestmark = pytest.mark.pbx

FIRST, SECOND = "0888555101", "0888555102"


def node_env(line: Hotline, name: str, http_port: int, agi_port: int) -> dict[str, str]:
    env = line.cti_env()
    env.update(
        {
            "CTI_HA__ENABLED": "true",
            "CTI_HA__NODE": name,
            "CTI_HA__URL": f"http://127.0.0.1:{http_port}",
            "CTI_HTTP__PORT": str(http_port),
            "CTI_IVR__PORT": str(agi_port),
            "CTI_STORE__SPILL_DIR": str(line.run / f"outbox-{name}"),
        }
    )
    return env


def spawn(line: Hotline, name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`cti serve` of one node; its log joins the others' (`line.cti_log`)."""
    with open(line.run / f"cti-{name}.log", "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cti", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def status(session: aiohttp.ClientSession, port: int, path: str) -> int:
    try:
        timeout = aiohttp.ClientTimeout(total=2)
        async with session.get(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check() if asyncio.iscoroutinefunction(check) else check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        await asyncio.sleep(0.05)


async def test_the_standby_takes_over_and_asterisk_reaches_it_for_the_ivr(db_url: str) -> None:
    people = agents({"answer_ms": 1000}, {"answer_ms": 1000})
    async with hotline(db_url, people, cti=False, agi_other=True) as line:
        session = line.session
        assert session is not None
        a_port, b_port = line.http_port, free_port()
        nodes = [spawn(line, "cti-a", node_env(line, "cti-a", a_port, line.site.agi_port))]
        try:

            async def a_ready() -> bool:
                return await status(session, a_port, "/ready") == 200

            await until(a_ready, 30, "cti-a leads and is ready")
            b_env = node_env(line, "cti-b", b_port, line.site.agi_other_port)
            nodes.append(spawn(line, "cti-b", b_env))

            async def b_standing_by() -> bool:
                return await status(session, b_port, "/leader") == 503

            await until(b_standing_by, 30, "cti-b stands by")
            for agent in people:
                await line.open_desktop(agent)
                await line.log_in(agent)
            first = line.call("first", [FIRST], stay_ms=18000)
            desk = list(line.desktops.values())
            answered = await until(
                lambda: [f for d in desk for f in d.frames if f.get("event") == "acd.CallAnswered"],
                30,
                "an agent answers the first citizen",
            )
            talking = answered[0]["data"]["agent"]
            nodes[0].kill()  # SIGKILL, as a crash: the host closes its ports at once
            nodes[0].wait(10)
            killed = time.monotonic()

            async def b_ready() -> bool:
                return await status(session, b_port, "/ready") == 200

            await until(b_ready, 15, "cti-b leads and is ready")
            takeover_s = time.monotonic() - killed
            for d in desk:
                await d.close()
            line.desktops.clear()
            line.http_port = b_port  # REST and desktops go to the new leader now
            headers = {"Authorization": f"Bearer {line.tokens['boss']}"}
            async with session.get(f"{line.base}/api/v1/agents", headers=headers) as r:
                states = {a["id"]: a["state"] for a in (await r.json())["items"]}
            async with session.get(f"{line.base}/api/v1/calls", headers=headers) as r:
                live = (await r.json())["items"]
            second = line.call("second", [SECOND], stay_ms=8000)
            for caller in (first, second):
                assert caller.wait(60) == 0, caller.errors()[-3000:]
            await line.settle()
            rows = {r["caller_number"]: r for r in await line.interactions(2)}
            queue_log = line.asterisk.queue_log()
            result = await accounting.reconcile(line.asterisk, db_url, line.started_at)
        finally:
            for node in nodes:
                node.kill()
                node.wait(10)
    m = accounting.Mismatches()
    m.check(takeover_s < 5, f"takeover took {takeover_s:.2f} s (target < 5 s)")
    mine = sorted(states.get(a.id, "?") for a in people)  # the ACD file's third is out
    m.equal(mine, ["on_call", "ready"], "the two agents' states on cti-b (none logged out)")
    m.equal([c.get("agent") for c in live], [talking], "the conversation on cti-b, its agent")
    entered = [e for e in queue_log if e[4] == "ENTERQUEUE"]
    m.equal(entered, [], "calls in Asterisk's fallback queue (queue_log)")
    one, two = rows.get("+359888555101", {}), rows.get("+359888555102", {})
    m.equal(one.get("agent"), talking, "the first call's agent")
    m.check(bool(two.get("ivr_path")), f"the second call went through cti-b's IVR: {two}")
    m.check(two.get("outcome") == "answered", f"the second call answered: {two}")
    m.reconciled(result, calls=2)
    assert not m.found, f"{m}\ntakeover {takeover_s:.2f} s"
    print(f"takeover on the real Asterisk: {takeover_s:.2f} s")
