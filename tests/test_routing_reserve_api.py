"""`GET /api/v1/calls/{id}/routing`: why this agent, over real sockets against the
simulated PBX (the API test world: the CTI with its ACD, PostgreSQL, tokens per role)."""

from __future__ import annotations

import asyncio
from typing import Any

from api_helpers import World, world
from cti.sim.models import Citizen


async def _until(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _calls(w: World, state: str) -> list[str]:
    acd = w.core.acd
    assert acd is not None
    return [c.id for c in acd.acd.calls() if c.state == state]


async def test_a_supervisor_reads_why_a_call_waits_and_why_it_went_to_its_agent(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        acd = w.core.acd
        assert acd is not None
        w.server.pbx.inbound_call(Citizen("+359888555301", "benefits", talk_s=60))
        await _until(lambda: bool(_calls(w, "waiting")))
        (call,) = _calls(w, "waiting")
        status, body = await w.call("GET", f"/api/v1/calls/{call}/routing", "supervisor")
        assert status == 200
        assert (body["state"], body["decisions"]) == ("waiting", [])
        assert body["waiting"]["mode"] == "relaxation"
        assert body["waiting"]["rule"] is None  # nobody may take it: nobody is ready
        assert body["waiting"]["ready_total"] == 0

        acd.apply(acd.acd.login("a2", acd.now(), ready=True))
        await _until(lambda: not _calls(w, "waiting"))
        status, body = await w.call("GET", f"/api/v1/calls/{call}/routing", "supervisor")
        assert status == 200
        (decision,) = body["decisions"]
        assert (decision["agent"], decision["mode"], decision["queue"]) == (
            "a2",
            "relaxation",
            "benefits",
        )
        assert decision["rule"] == "expert"
        assert [c["agent"] for c in decision["candidates"]] == ["a2"]
        assert body["waiting"] is None

        assert (await w.call("GET", f"/api/v1/calls/{call}/routing", "agent"))[0] == 403
        status, body = await w.call("GET", "/api/v1/calls/nope/routing", "supervisor")
        assert (status, body["code"]) == (404, "unknown_call")
