"""Call control from the desktop and over REST (hold, transfer to an agent or a number)
and agents' profiles that survive a restart, over real sockets against the simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from api_helpers import World, next_of, world
from cti.sim.models import Citizen


async def _talking(w: World, ws: Any, number: str, talk_s: float = 60) -> Any:
    """a1 logs in, is ready and answers a citizen's call; returns the caller's channel."""
    await ws.send_json({"id": "in", "type": "login"})
    await ws.send_json({"id": "go", "type": "ready"})
    ch = w.server.pbx.inbound_call(Citizen(number, "benefits", talk_s=talk_s))
    while (await next_of(ws, "event"))["event"] != "acd.CallAnswered":
        pass
    return ch


async def _on_hold(w: World, ws: Any, number: str) -> tuple[Any, Any]:
    """a1 talks to a citizen and puts them on hold: (caller's channel, a1's channel)."""
    await next_of(ws, "hello")
    ch = await _talking(w, ws, number)
    agent_leg = next(c for c in w.server.pbx.channels.values() if c.name.startswith("PJSIP/a1-"))
    await ws.send_json({"id": "h", "type": "hold"})
    assert (await _reply(ws, "h"))["type"] == "ack"
    return ch, agent_leg


async def _until(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _reply(ws: Any, request_id: str) -> dict[str, Any]:
    """The ack or error for one request (events in between are skipped)."""
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        if frame["type"] in ("ack", "error") and frame.get("id") == request_id:
            return frame  # type: ignore[no-any-return]


async def test_hold_plays_music_to_the_caller_and_resume_bridges_them_again(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await next_of(ws, "hello")
        await ws.send_json({"id": "0", "type": "hold"})
        assert (await _reply(ws, "0"))["code"] == "no_call"
        ch = await _talking(w, ws, "+359888555101")
        pbx = w.server.pbx
        agent_leg = next(c for c in pbx.channels.values() if c.name.startswith("PJSIP/a1-"))
        await ws.send_json({"id": "1", "type": "unhold"})
        assert (await _reply(ws, "1"))["code"] == "not_held"
        await ws.send_json({"id": "2", "type": "hold"})
        assert (await _reply(ws, "2"))["type"] == "ack"
        # The citizen hears music in cti-held; the agent's phone stays up, unbridged.
        assert (ch.context, ch.moh, ch.bridge) == ("cti-held", True, None)
        assert (agent_leg.context, agent_leg.hung_up, agent_leg.bridge) == (
            "cti-agent-held",
            False,
            None,
        )
        redirect = [a for a in w.server.received if a.get("Action") == "Redirect"][-1]
        assert (redirect["ExtraChannel"], redirect["ExtraContext"]) == (
            agent_leg.name,
            "cti-agent-held",
        )
        assert w.core.acd is not None
        [view] = w.core.acd.acd.calls()
        assert (view.state, view.held) == ("connected", True)
        await ws.send_json({"id": "3", "type": "hold"})
        assert (await _reply(ws, "3"))["code"] == "already_held"
        await ws.send_json({"id": "4", "type": "unhold"})
        assert (await _reply(ws, "4"))["type"] == "ack"
        assert ch.bridge is not None
        assert ch.bridge == agent_leg.bridge
        assert not ch.moh
        [view] = w.core.acd.acd.calls()
        assert (view.state, view.held) == ("connected", False)
        states = {a.id: str(a.state) for a in w.core.acd.acd.agents()}
        assert states["a1"] == "on_call"
        # The conversation ends as usual: both legs go, the agent wraps up.
        pbx.hangup(ch.name)
        await _until(lambda: states_of(w)["a1"] in ("wrap_up", "ready"))
        assert agent_leg.hung_up


def states_of(w: World) -> dict[str, str]:
    assert w.core.acd is not None
    return {a.id: str(a.state) for a in w.core.acd.acd.agents()}


async def test_a_caller_who_hangs_up_on_hold_frees_the_agent_phone(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        ch, agent_leg = await _on_hold(w, ws, "+359888555102")
        w.server.pbx.hangup(ch.name)
        await _until(lambda: agent_leg.hung_up)  # the CTI hung the lone phone up
        await _until(lambda: states_of(w)["a1"] in ("wrap_up", "ready"))


async def test_an_agent_phone_lost_while_on_hold_puts_the_caller_back_in_line(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        ch, agent_leg = await _on_hold(w, ws, "+359888555103")
        await ws.send_json({"id": "nr", "type": "not_ready", "reason": "break"})
        assert (await _reply(ws, "nr"))["type"] == "ack"
        w.server.pbx.hangup(agent_leg.name)
        assert w.core.acd is not None
        acd = w.core.acd.acd
        await _until(lambda: [c.state for c in acd.calls()] == ["waiting"])
        assert not ch.hung_up
        assert ch.context == "cti-hold"
        # a1 asked for a break during the call: it gets it, not the caller again.
        await _until(lambda: states_of(w)["a1"] == "not_ready")


async def test_transfer_to_a_ready_agent_and_into_the_line_when_unanswered(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await next_of(ws, "hello")
        ch = await _talking(w, ws, "+359888555104")
        await ws.send_json({"id": "1", "type": "transfer", "agent": "a2"})
        assert (await _reply(ws, "1"))["code"] == "agent_not_ready"
        await ws.send_json({"id": "2", "type": "transfer", "agent": "zz"})
        assert (await _reply(ws, "2"))["code"] == "unknown_agent"
        await ws.send_json({"id": "3", "type": "transfer", "agent": "a2", "queue": "benefits"})
        bad = await _reply(ws, "3")
        assert (bad["code"], bad["fields"][0]["path"]) == ("bad_message", "transfer")
        for state in ("login", "ready"):
            await w.call("POST", "/api/v1/agents/a2/state", "admin", json={"state": state})
        w.server.pbx.endpoints["a2"].answer_after_s = None  # a2 will not answer
        await ws.send_json({"id": "4", "type": "hold"})
        assert (await _reply(ws, "4"))["type"] == "ack"
        await ws.send_json({"id": "5", "type": "transfer", "agent": "a2"})
        assert (await _reply(ws, "5"))["type"] == "ack"
        assert w.core.acd is not None
        acd = w.core.acd.acd
        await _until(lambda: [(c.agent, c.state) for c in acd.calls()] == [("a2", "offered")])
        assert states_of(w)["a1"] in ("wrap_up", "ready")
        held_leg = [c for c in w.server.pbx.ended if c.name.startswith("PJSIP/a1-")]
        assert held_leg, "a1's phone, left in cti-agent-held, was hung up"
        # a2 does not answer: missed, and the caller goes back in line (a1 takes it).
        await _until(lambda: states_of(w)["a2"] == "not_ready", timeout=10)
        back = [("a1", "connected")]
        await _until(lambda: [(c.agent, c.state) for c in acd.calls()] == back, 10)
        assert not ch.hung_up
        # Handed on, the call was offered to the queue's agents a second time.
        queue = acd.queue_view("benefits", w.core.acd.now())
        assert (queue.offered, queue.answered) == (2, 2)


async def test_transfer_to_an_outside_number_and_over_rest(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await next_of(ws, "hello")
        ch = await _talking(w, ws, "+359888555105")
        await ws.send_json({"id": "1", "type": "transfer", "number": "not a number"})
        assert (await _reply(ws, "1"))["code"] == "bad_phone"
        assert w.core.acd is not None
        [call] = w.core.acd.acd.calls()
        status, err = await w.call(
            "POST", f"/api/v1/calls/{call.id}/transfer", "agent", json={"number": "+3592"}
        )
        assert (status, err["code"]) == (403, "forbidden")
        status, err = await w.call(
            "POST", "/api/v1/calls/nope/transfer", "admin", json={"queue": "benefits"}
        )
        assert (status, err["code"]) == (409, "call_not_connected")
        status, err = await w.call("POST", f"/api/v1/calls/{call.id}/transfer", "admin", json={})
        assert (status, err["code"]) == (422, "invalid_request")
        status, body = await w.call(
            "POST",
            f"/api/v1/calls/{call.id}/transfer",
            "integrator",
            json={"number": "+359 2 987 6543"},
        )
        assert (status, body) == (200, {"call": call.id, "number": "+359 2 987 6543"})
        setvar = [a for a in w.server.received if a.get("Variable") == "CTI_TRANSFER_NUMBER"]
        assert [a["Value"] for a in setvar] == ["+35929876543"]
        await _until(lambda: ch.context == "cti-transfer-out" and ch.bridge is not None)
        outside = ch.peer
        assert outside is not None
        assert outside.name.startswith("PJSIP/trunk-")
        await _until(lambda: w.core.acd is not None and w.core.acd.acd.calls() == [])
        assert states_of(w)["a1"] in ("wrap_up", "ready")
        assert not ch.hung_up  # the citizen talks to the outside party now


async def test_agents_added_changed_and_removed_survive_a_restart(
    db_url: str, tmp_path: Any
) -> None:
    body = {"endpoint": "PJSIP/a3", "skills": {"benefits": 4}, "queues": ["benefits"]}
    async with world(db_url, tmp_path) as w:
        status, created = await w.call("PUT", "/api/v1/agents/a3", "admin", json=body)
        assert (status, created["endpoint"]) == (201, "PJSIP/a3")
        status, _ = await w.call("PUT", "/api/v1/agents/a3", "supervisor", json=body)
        assert status == 403
        changed = {**body, "skills": {"benefits": 9}}
        assert (await w.call("PUT", "/api/v1/agents/a3", "admin", json=changed))[0] == 200
        await w.call("POST", "/api/v1/agents/a1/state", "admin", json={"state": "login"})
        status, err = await w.call("DELETE", "/api/v1/agents/a1", "admin")
        assert (status, err["code"]) == (409, "agent_logged_in")
        assert (await w.call("DELETE", "/api/v1/agents/a2", "admin"))[0] == 200
        assert (await w.call("DELETE", "/api/v1/agents/a2", "admin"))[0] == 404
        refused = {**body, "queues": ["nope"]}
        status, err = await w.call("PUT", "/api/v1/agents/a4", "admin", json=refused)
        assert (status, err["code"]) == (422, "unknown_queue")
    async with world(db_url, tmp_path) as w:  # a new process on the same database
        status, a3 = await w.call("GET", "/api/v1/agents/a3", "admin")
        assert (status, a3["skills"], a3["state"]) == (200, {"benefits": 9}, "logged_out")
        assert (await w.call("GET", "/api/v1/agents/a2", "admin"))[0] == 404
        assert (await w.call("GET", "/api/v1/agents/a4", "admin"))[0] == 404
        assert (await w.call("GET", "/api/v1/agents/a1", "admin"))[0] == 200


async def test_click_to_call_is_the_agents_call_in_the_acd_on_the_desktop_and_in_the_record(
    db_url: str, tmp_path: Any
) -> None:
    """a1, on a break, calls a citizen from the REST API: the desktop sees the call
    offered, answered and completed as a1's; the stored record is an outbound call of
    a1's to that number, answered; the queue's inbound figures do not move; a1 is on the
    same break after the wrap-up."""
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await next_of(ws, "hello")
        await ws.send_json({"id": "in", "type": "login"})
        await ws.send_json({"id": "nr", "type": "not_ready", "reason": "break"})
        assert (await _reply(ws, "nr"))["type"] == "ack"
        click = {"agent": "a1", "number": "0888 555 120"}
        status, placed = await w.call("POST", "/api/v1/calls", "agent", json=click)
        assert status == 201, placed
        pop = await next_of(ws, "screen_pop", timeout=10)  # the citizen's history, as for a caller
        assert (pop["call"], pop["number"], pop["outbound"]) == (
            placed["call"],
            "+359888555120",
            True,
        )
        seen = []
        while "acd.CallCompleted" not in seen:
            frame = await next_of(ws, "event", timeout=10)
            if frame["event"].startswith("acd.Call"):
                assert frame["data"]["call"] == placed["call"]
                seen.append(frame["event"])
        assert seen == ["acd.CallAnswered", "acd.CallCompleted"]
        acd = w.core.acd
        assert acd is not None
        view = acd.acd.queue_view("benefits", acd.now())
        assert (view.offered, view.answered) == (0, 0)
        await _until(lambda: str(acd.acd.agent_view("a1").state) == "not_ready", 10)  # type: ignore[union-attr]
        assert acd.acd.agent_view("a1").reason == "break"  # type: ignore[union-attr]
        conn = await asyncpg.connect(db_url)
        try:
            row = None
            for _ in range(100):
                row = await conn.fetchrow(
                    "SELECT * FROM interactions WHERE direction = 'outbound' AND agent = 'a1'"
                )
                if row is not None:
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        assert row is not None, [str(dict(r)) for r in await _rows(db_url)]
        assert row["outcome"] == "answered"
        assert "+359888555120" in (row["caller_number"], row["called_number"])
        # Her wrap-up after her own call is in its record (written once it is over).
        for _ in range(100):
            wrap_up = next(
                (r["wrap_up_s"] for r in await _rows(db_url) if r["id"] == row["id"]), None
            )
            if wrap_up is not None:
                break
            await asyncio.sleep(0.05)
        assert wrap_up is not None, dict(row)
        assert wrap_up > 0


async def _rows(db_url: str) -> list[Any]:
    conn = await asyncpg.connect(db_url)
    try:
        return list(await conn.fetch("SELECT * FROM interactions"))
    finally:
        await conn.close()


async def test_a_click_to_call_the_citizen_does_not_answer_is_stored_failed_and_frees_the_agent(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await next_of(ws, "hello")
        await ws.send_json({"id": "in", "type": "login"})
        await ws.send_json({"id": "go", "type": "ready"})
        assert (await _reply(ws, "go"))["type"] == "ack"
        w.server.pbx.callback_answers["+359888555121"] = False
        click = {"agent": "a1", "number": "+359888555121"}
        status, placed = await w.call("POST", "/api/v1/calls", "agent", json=click)
        assert status == 201, placed
        while (await next_of(ws, "event", timeout=10))["event"] != "acd.CallbackFailed":
            pass
        acd = w.core.acd
        assert acd is not None
        await _until(lambda: str(acd.acd.agent_view("a1").state) == "ready")  # type: ignore[union-attr]
        assert acd.acd.calls() == []
        row = None
        for _ in range(100):
            rows = [r for r in await _rows(db_url) if r["direction"] == "outbound"]
            if rows:
                (row,) = rows
                break
            await asyncio.sleep(0.05)
        assert row is not None, "no record of the call"
        assert (row["agent"], row["caller_number"], row["outcome"]) == (
            "a1",
            "+359888555121",
            "failed",
        )
        assert row["answered_at"] is None
