"""Tier 3: the CTI restarts (a new process: a new Core with an empty ACD) while calls
are up on the simulated PBX; after its AMI login it adopts them from Asterisk's view."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from acd_helpers import agent, config
from cti.app import Core
from cti.config import AmiSettings, Settings
from cti.queues import AgentState
from cti.queues.events import CallAnswered, Event
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Channel, Citizen, Endpoint

SCALE = 0.05
QUEUE = {"benefits": {"skills": {"benefits": 5}, "wrap_up_s": 2, "ring_timeout_s": 15}}
AGENTS = [agent("a1", {"benefits": 8}, ["benefits"])]


def core(port: int, events: list[Event]) -> Core:
    settings = Settings(ami=AmiSettings(port=port, auth="md5", secret="ctisecret"))  # type: ignore[arg-type]
    return Core(
        settings,
        config(QUEUE, AGENTS),
        publish_call=lambda e: None,
        publish_acd=events.append,
        acd_time_scale=SCALE,
    )


async def until(what: Callable[[], bool], wall_s: float = 5.0) -> None:
    deadline = time.monotonic() + wall_s
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def state(c: Core, aid: str) -> AgentState:
    assert c.acd is not None
    return next(a.state for a in c.acd.acd.agents() if a.id == aid)


async def test_a_restarted_cti_adopts_the_call_in_progress_and_the_caller_in_line() -> None:
    server = SimAmiServer({"a1": Endpoint("a1", answer_after_s=1.0)}, time_scale=SCALE)
    port = await server.start()
    first_events: list[Event] = []
    first = core(port, first_events)
    await first.start()
    await first.ami.wait_connected(5)
    try:
        assert first.acd is not None
        first.acd.apply(first.acd.acd.login("a1", first.acd.now(), ready=True))
        talking = server.pbx.inbound_call(Citizen("+359888000011", "benefits", talk_s=60.0))
        await until(lambda: any(isinstance(e, CallAnswered) for e in first_events))
        waiting = server.pbx.inbound_call(Citizen("+359888000012", "benefits", patience_s=600))
        await until(lambda: len(first.acd.acd.calls()) == 2 if first.acd else False)
        await asyncio.sleep(30 * SCALE)  # the second caller waits 30 s in line
    finally:
        await first.close()  # the CTI goes away; Asterisk keeps both calls up
    assert {ch.linkedid for ch in server.pbx.channels.values()} >= {
        talking.linkedid,
        waiting.linkedid,
    }
    events: list[Event] = []
    second = core(port, events)
    await second.start()
    await second.ami.wait_connected(5)
    try:
        acd = second.acd
        assert acd is not None
        await until(lambda: len(acd.acd.calls()) == 2)
        calls = {c.id: c for c in acd.acd.calls()}
        assert (calls[talking.linkedid].state, calls[talking.linkedid].agent) == (
            "connected",
            "a1",
        )
        assert state(second, "a1") == AgentState.ON_CALL
        # Back at its place in line with the wait it had (CTI_QUEUED_AT on the channel).
        assert calls[waiting.linkedid].state == "waiting"
        waited = acd.now() - calls[waiting.linkedid].entered
        assert 25 <= waited <= 30 + 1 / SCALE + 5, waited  # EPOCH is whole (wall) seconds
        # When the adopted conversation ends, a1 wraps up and takes the waiting caller.
        server.pbx.hangup(talking.name, 16)
        await until(lambda: state(second, "a1") == AgentState.WRAP_UP)
        await until(
            lambda: any(isinstance(e, CallAnswered) and e.call == waiting.linkedid for e in events)
        )
    finally:
        await second.close()
        await server.close()


@asynccontextmanager
async def a1_talking(
    number: str, quiet_phones: bool = False
) -> AsyncIterator[tuple[SimAmiServer, Core, list[Event], Channel]]:
    """a1 logged in, ready, and talking with a citizen on a fresh simulated PBX;
    `quiet_phones`: a restarted Asterisk never qualifies a phone by itself."""
    server = SimAmiServer({"a1": Endpoint("a1", answer_after_s=1.0)}, time_scale=SCALE)
    if quiet_phones:
        server.pbx.boot_sequence.qualify_frequency_s = 1e9
    port = await server.start()
    events: list[Event] = []
    c = core(port, events)
    await c.start()
    await c.ami.wait_connected(5)
    try:
        acd = c.acd
        assert acd is not None
        acd.apply(acd.acd.login("a1", acd.now(), ready=True))
        call = server.pbx.inbound_call(Citizen(number, "benefits", talk_s=600.0))
        await until(lambda: state(c, "a1") == AgentState.ON_CALL)
        yield server, c, events, call
    finally:
        await c.close()
        await server.close()


async def test_calls_gone_while_the_cti_was_away_free_their_agent() -> None:
    """Asterisk lost the call (a crash, a restart) while the link was down: after the
    resync the agent is not left on a call that no longer exists."""
    async with a1_talking("+359888000013") as (server, c, _, call):
        connects = c.ami.connects
        # The link drops; meanwhile the call ends, and no Hangup reaches us.
        server.drop_all()
        server.pbx.hangup(call.name, 16)
        await until(lambda: c.ami.connects > connects and c.ami.connected, wall_s=10)
        await until(lambda: state(c, "a1") != AgentState.ON_CALL)
        assert c.acd is not None
        assert c.acd.acd.calls() == []


async def _asterisk_goes_away(fault: str) -> None:
    """a1 talks; the simulated Asterisk restarts (`core restart now`) or crashes and
    starts again. Its phone would come back only at a qualify much later
    (qualify_frequency made endless here): the CTI's PJSIPQualify after the reconnect
    brings it back, and the next caller is answered."""
    async with a1_talking("+359888000014", quiet_phones=True) as (server, c, events, first):
        acd = c.acd
        assert acd is not None
        boot, connects = server.pbx.boot, c.ami.connects
        await asyncio.sleep(1.0)  # a new boot time (whole seconds)
        if fault == "restart":
            await server.restart(down_s=1.0)
        else:
            await server.crash(down_s=1.0)
        assert server.pbx.boot > boot
        await until(lambda: c.ami.connects > connects and c.ami.connected, wall_s=10)
        await until(lambda: acd.acd.calls() == [])  # the first call ended in the ACD too
        await until(lambda: state(c, "a1") == AgentState.READY)
        # The resync after the login (booted, channels, reachability) asks the qualify;
        # the call ended by its Hangup may come first, so wait for it (a loaded machine).
        await until(lambda: any(a.get("Action") == "PJSIPQualify" for a in server.received))
        second = server.pbx.inbound_call(Citizen("+359888000015", "benefits", talk_s=1.0))
        assert second.linkedid != first.linkedid
        await until(
            lambda: any(isinstance(e, CallAnswered) and e.call == second.linkedid for e in events)
        )


async def test_an_asterisk_restart_ends_its_calls_and_routing_resumes() -> None:
    await _asterisk_goes_away("restart")


async def test_an_asterisk_crash_ends_its_calls_and_routing_resumes() -> None:
    await _asterisk_goes_away("crash")


async def _calling_out(number: str) -> tuple[SimAmiServer, Core, str]:
    """A fresh simulated PBX and CTI, a1 ready and talking with a citizen she called
    (who talks until hung up on); (server, core, the call's id)."""
    server = SimAmiServer({"a1": Endpoint("a1", answer_after_s=1.0)}, time_scale=SCALE)
    server.pbx.dialplan.callback_talk_s = 600.0
    c = core(await server.start(), [])
    await c.start()
    await c.ami.wait_connected(5)
    acd = c.acd
    assert acd is not None
    acd.apply(acd.acd.login("a1", acd.now(), ready=True))
    placed = acd.call_out("a1", number)
    await until(lambda: state(c, "a1") == AgentState.ON_CALL)
    return server, c, placed


def _phone(server: SimAmiServer) -> Channel:
    (phone,) = [ch for ch in server.pbx.channels.values() if ch.name.startswith("PJSIP/a1-")]
    return phone


async def test_an_agents_own_call_gone_while_the_cti_was_away_frees_the_agent() -> None:
    """a1 talks on a click-to-call (the ACD's call, not a caller's line); the link
    drops and meanwhile Asterisk ends a1's leg: after the resync a1 is not left on it."""
    server, c, _ = await _calling_out("+359888000016")
    try:
        connects = c.ami.connects
        server.drop_all()
        server.pbx.hangup(_phone(server).name, 16)
        await until(lambda: c.ami.connects > connects and c.ami.connected, wall_s=10)
        await until(lambda: state(c, "a1") != AgentState.ON_CALL)
        assert c.acd is not None
        assert c.acd.acd.calls() == []
    finally:
        await c.close()
        await server.close()


async def test_a_restarted_cti_adopts_an_agents_own_call_and_frees_her_after_it() -> None:
    """a1 talks on a click-to-call when the CTI goes away; the new CTI finds her leg
    (CTI_CALL_ID on it) and has her on that call, not ready for another; when the call
    ends she wraps up and is free again."""
    server, first, placed = await _calling_out("+359888000017")
    await first.close()
    second = core(server.port, [])
    await second.start()
    await second.ami.wait_connected(5)
    try:
        acd = second.acd
        assert acd is not None
        await until(lambda: state(second, "a1") == AgentState.ON_CALL)
        (view,) = acd.acd.calls()
        assert (view.id, view.state, view.agent, view.outbound) == (placed, "connected", "a1", True)
        server.pbx.hangup(_phone(server).name, 16)
        await until(lambda: state(second, "a1") in (AgentState.WRAP_UP, AgentState.READY))
        assert acd.acd.calls() == []
    finally:
        await second.close()
        await server.close()
