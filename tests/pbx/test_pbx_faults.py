"""Scenario 6 of the pbx tier: faults in the middle of calls. Asterisk restarted
(`core restart now`) or killed (SIGKILL, then started again) while an agent talks: the
agent is freed, the call is recorded as ended by the PBX, the phones are back and the
next citizen is answered. And the CTI killed while citizens wait in line, started again
10 s later: they are adopted at their places in line and answered as agents become
ready (issue 17: "a caller waiting in [cti-hold] while the CTI restarted was never
offered to anyone")."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from celfacts import Cel
from findings import Findings, poll
from hotline import Hotline, agents, hotline

pytestmark = pytest.mark.pbx

FIRST, SECOND = "0888555001", "0888555002"


async def agent_state(line: Hotline, agent: str) -> str | None:
    """The agent's state as a supervisor reads it (GET /api/v1/agents/{id})."""
    assert line.session is not None
    headers = {"Authorization": f"Bearer {line.tokens['boss']}"}
    async with line.session.get(f"{line.base}/api/v1/agents/{agent}", headers=headers) as r:
        body = await r.json()
    return body.get("state") if r.status == 200 else f"HTTP {r.status}: {body}"


async def row_of(line: Hotline, linkedid: str, timeout: float = 15.0) -> dict[str, Any] | None:
    """The stored interaction, once the outbox has written it."""
    found = await poll(
        lambda: line.rows("SELECT * FROM interactions WHERE id = $1", linkedid), timeout
    )
    return found[0] if found else None


def contacts(line: Hotline) -> dict[str, str]:
    """Endpoint -> contact status, as `pjsip show contacts` lists them."""
    text = line.asterisk.cli("pjsip show contacts")
    return dict(re.findall(r"Contact:\s+(\S+?)/sip:\S+\s+\S+\s+(\S+)", text))


def ts(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())


# --- Asterisk restarted or killed mid-call ---------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "end_reason"), [("restart", "pbx_restart"), ("kill", "pbx_lost")]
)
async def test_asterisk_goes_away_while_an_agent_talks(
    db_url: str, fault: str, end_reason: str
) -> None:
    """ivanova talks with a citizen; Asterisk is restarted (`core restart now`: it hangs
    up every call first) or killed (SIGKILL: it says nothing) and started again. The
    agent is not left on_call, the call is stored answered with the PBX's end reason;
    her phone is back once Asterisk has qualified it (its registration survives in
    astdb; the first qualify comes within qualify_frequency, 30 s), and the next citizen
    is routed to her and answered."""
    people = agents({"answer_ms": 1000, "talk_ms": 8000}, {"ready": False}, {"ready": False})
    async with hotline(db_url, people) as line:
        desk = line.desktops["ivanova"]
        caller = line.call("citizen", [FIRST], stay_ms=60000)
        answered = await desk.wait(lambda f: f.get("event") == "acd.CallAnswered", 30)
        first = answered["data"]["call"]
        await asyncio.sleep(2)
        seen = len(desk.frames)
        faulted = time.time()
        if fault == "restart":
            await asyncio.to_thread(line.asterisk.restart_now)
        else:
            line.asterisk.crash()
            caller.stop()  # the citizen hears silence and gives up
            await asyncio.sleep(2)
            await asyncio.to_thread(line.asterisk.start)
        back = time.time()
        # The next citizen calls at once; he waits in line until her phone is back.
        second_caller = line.call("citizen2", [SECOND], stay_ms=60000)

        def changes() -> list[dict[str, Any]]:
            return [
                {**f["data"], "wall": f["at"]}
                for f in desk.frames[seen:]
                if f.get("event") == "acd.AgentStateChanged"
            ]

        # Freed: her desktop leaves on_call; REST agrees.
        freed = await poll(lambda: [c for c in changes() if c["old"] == "on_call"], 20)
        state_after = await agent_state(line, "ivanova")
        record = await row_of(line, first)
        # Once Asterisk has qualified her phone she is ready, and offered the next call.
        pop = await desk.wait(lambda f: f["type"] == "screen_pop" and f.get("call") != first, 50)
        ready_at = max(c["wall"] for c in changes() if c["new"] == "ready")
        assert second_caller.wait(40) == 0, second_caller.errors()[-3000:]
        await line.settle()
        second = await row_of(line, pop["call"])
        cel = Cel(line.asterisk.cel_file)
        resynced = line.cti_events("ami.resynced")
        phones = contacts(line)
    print(
        f"{fault}: ivanova {[(c['new'], c['reason']) for c in changes()]}, ready again"
        f" {ready_at - back:.1f} s after Asterisk was back"
    )
    m = Findings()
    m.check(bool(freed), f"ivanova's desktop never left on_call: {changes()}")
    m.check(state_after not in ("on_call", "reserved"), f"REST: ivanova is {state_after!r} after")
    m.check(record is not None, f"the call {first} was not stored")
    if record is not None:
        m.equal(record["outcome"], "answered", "the first call's outcome")
        m.equal(record["end_reason"], end_reason, "the first call's end_reason")
        m.equal(record["agent"], "ivanova", "the first call's agent")
        ended = ts(record["ended_at"])
        m.check(
            ended is not None and faulted - 1 <= ended <= back + 15,
            f"the first call ended at {ended} (fault at {faulted:.1f}, back at {back:.1f})",
        )
        trunk = cel.of(first)[0].channel
        if fault == "restart":
            # Asterisk hung the call up itself before restarting: CEL has the end.
            hung_up = cel.first("HANGUP", trunk, linkedid=first)
            m.close(ended, hung_up, "the first call's ended_at vs CEL HANGUP", 0.1)
        else:
            ends = [r.kind for r in cel.of(first) if r.kind in ("HANGUP", "LINKEDID_END")]
            m.equal(ends, [], "CEL of a killed Asterisk: the first call never ended")
    m.equal(phones.get("agent-1001"), "Avail", "ivanova's phone in Asterisk at the end")
    m.check(second is not None, f"the second call {pop['call']} was not stored")
    if second is not None:
        m.equal(second["outcome"], "answered", "the second call's outcome")
        m.equal(second["agent"], "ivanova", "the second call's agent")
        m.equal(second["end_reason"], "completed", "the second call's end_reason")
        (phone,) = cel.channels("PJSIP/agent-1001-", pop["call"])
        answer = cel.first("ANSWER", phone, linkedid=pop["call"])
        m.close(ts(second["answered_at"]), answer, "the second call's answered_at (CEL)", 0.1)
    m.check(len(resynced) >= 2, f"the CTI never resynchronised with the new Asterisk: {resynced}")
    assert not m.found, str(m)


# --- the CTI killed while citizens wait ----------------------------------------------------------


async def test_callers_waiting_while_the_cti_restarts_are_answered_in_order(db_url: str) -> None:
    """Two citizens wait in [cti-hold] (nobody is ready); the CTI is killed (SIGKILL) and
    started again 10 s later. The first to call is offered first when ivanova becomes
    ready, the second when petrov does; each call's wait is its whole time in line, as
    Asterisk saw it."""
    people = agents(
        {"answer_ms": 1000, "talk_ms": 3000, "ready": False},
        {"answer_ms": 1000, "talk_ms": 3000, "ready": False},
        {"ready": False},
    )
    async with hotline(db_url, people) as line:
        first_caller = line.call("citizen1", [FIRST], stay_ms=60000)
        await asyncio.sleep(3)
        second_caller = line.call("citizen2", [SECOND], stay_ms=60000)

        def waiting() -> list[str]:
            return [c for c in line.asterisk.channels() if c.split("!")[1] == "cti-hold"]

        held = await poll(lambda: len(waiting()) == 2 and waiting(), 30)
        assert held, f"two citizens in [cti-hold]: {line.asterisk.channels()}"
        old = list(line.desktops.values())
        line.kill_cti()
        await asyncio.sleep(10)
        await line.start_cti()
        for desktop in old:
            await desktop.close()
        assert line.session is not None
        headers = {"Authorization": f"Bearer {line.tokens['boss']}"}
        async with line.session.get(f"{line.base}/api/v1/calls", headers=headers) as r:
            live = (await r.json())["items"]
        pops = {}
        for agent in people[:2]:
            desk = await line.open_desktop(agent)
            login = await desk.request("login")
            assert login["type"] == "ack" or login.get("code") == "agent_logged_in", login
            ready = await desk.request("ready")
            assert ready["type"] == "ack", ready
            pops[agent.id] = await desk.wait(lambda f: f["type"] == "screen_pop", 15)
        for caller in (first_caller, second_caller):
            assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = {r["id"]: r for r in await line.interactions(2)}
        cel = Cel(line.asterisk.cel_file)
        resynced = line.cti_events("acd.resynced")
    first, second = cel.calls()
    m = Findings()
    m.equal(
        sorted((c["id"], c["state"]) for c in live),
        sorted([(first, "waiting"), (second, "waiting")]),
        "REST /calls after the restart",
    )
    m.equal(pops["ivanova"]["call"], first, "ivanova (ready first) is offered the first caller")
    m.equal(pops["petrov"]["call"], second, "petrov is offered the second caller")
    m.check(
        any(e.get("adopted") == 2 for e in resynced), f"acd.resynced in the CTI's log: {resynced}"
    )
    for linkedid, agent_id, endpoint in ((first, "ivanova", "1001"), (second, "petrov", "1002")):
        row = rows.get(linkedid)
        m.check(row is not None, f"call {linkedid} not stored")
        if row is None:
            continue
        trunk = cel.of(linkedid)[0].channel
        queued = cel.first("STREAM_BEGIN", trunk, "cti-hold")
        (phone,) = cel.channels(f"PJSIP/agent-{endpoint}-", linkedid)
        answer = cel.first("ANSWER", phone)
        m.equal(row["outcome"], "answered", f"{linkedid} outcome")
        m.equal(row["agent"], agent_id, f"{linkedid} agent")
        m.close(
            ts(row["queued_at"]), queued, f"{linkedid} queued_at (CEL: music in [cti-hold])", 0.1
        )
        m.close(ts(row["answered_at"]), answer, f"{linkedid} answered_at (CEL)", 0.1)
        waited = None if answer is None or queued is None else answer - queued
        m.close(row["wait_s"], waited, f"{linkedid} wait_s (CEL)", 0.1)
        m.check(waited is not None and waited > 10, f"{linkedid} waited {waited} s only")
    popped = pops["ivanova"].get("waited_s")
    m.check(
        popped is not None and popped > 10,
        f"ivanova's screen-pop says the first caller waited {popped} s",
    )
    assert not m.found, str(m)
