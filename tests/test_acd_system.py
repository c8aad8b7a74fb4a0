"""Tier 3: the ACD through the simulated PBX over real sockets.

Simulated Asterisk (AMI on 127.0.0.1) <- AmiClient -> AmiFeed -> AcdService -> Acd, the
same `Core` `cti serve` runs. The PBX runs 20 times faster than the wall clock, and so
does the ACD's clock, so a 15 s ring timeout takes 0.75 s here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from acd_helpers import agent, config
from cti.ami.events import CallEvent, InteractionEnded
from cti.app import Core
from cti.config import AmiSettings, Settings
from cti.queues import AgentState
from cti.queues.events import AgentStateChanged, CallAbandoned, CallOffered, Event
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Citizen, Endpoint, Fields

E = TypeVar("E")
SCALE = 0.05  # simulated seconds -> wall seconds


@dataclass
class Stack:
    server: SimAmiServer
    core: Core
    events: list[Event] = field(default_factory=list)
    pbx_events: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    ended_interactions: set[str] = field(default_factory=set)  # seen by the tracker

    @property
    def service(self) -> Any:
        assert self.core.acd is not None
        return self.core.acd

    def do(self, step: Callable[[float], Any]) -> None:
        """Run an agent's request against the ACD (as the desktop API will)."""
        self.service.apply(step(self.service.now()))

    def state(self, aid: str) -> tuple[AgentState, str | None]:
        view = next(a for a in self.service.acd.agents() if a.id == aid)
        return view.state, view.reason

    def of(self, cls: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, cls)]

    def kinds(self, call: str | None = None) -> list[str]:
        return [
            type(e).__name__
            for e in self.events
            if call is None or getattr(e, "call", None) == call
        ]

    def dump(self) -> str:
        acd = "\n".join(str(e.to_dict()) for e in self.events)
        pbx = "\n".join(
            f"{n} {f.get('Channel')} {f.get('Variable', '')}={f.get('Value', '')} "
            f"{f.get('DialStatus', '')}"
            for n, f in self.pbx_events
        )
        return f"{acd}\nPBX:\n{pbx}"

    async def until(self, what: Callable[[], bool], sim_s: float = 60.0) -> None:
        deadline = time.monotonic() + sim_s * SCALE + 2.0
        while not what():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out\nACD: {self.dump()}")
            await asyncio.sleep(0.01)


@asynccontextmanager
async def stack(
    endpoints: list[Endpoint], queues: dict[str, Any], agents: list[Any]
) -> AsyncIterator[Stack]:
    server = SimAmiServer({e.name: e for e in endpoints}, time_scale=SCALE)
    port = await server.start()
    settings = Settings(ami=AmiSettings(port=port, auth="md5", secret="ctisecret"))  # type: ignore[arg-type]
    events: list[Event] = []
    core = Core(
        settings,
        config(queues, agents),
        publish_call=lambda e: on_call_event(e),
        publish_acd=events.append,
        acd_time_scale=SCALE,
    )
    st = Stack(server, core, events)

    def on_call_event(e: CallEvent) -> None:
        if isinstance(e, InteractionEnded):
            st.ended_interactions.add(e.interaction_id)

    def watch(name: str, fields: Fields) -> None:
        st.pbx_events.append((name, dict(fields)))

    server.listeners.append(watch)
    await core.start()
    await core.ami.wait_connected(5)
    try:
        yield st
    finally:
        await core.close()
        await server.close()


QUEUE = {"benefits": {"skills": {"benefits": 5}, "wrap_up_s": 10, "ring_timeout_s": 15}}


def _answered(st: Stack) -> Callable[[], bool]:
    return lambda: "CallAnswered" in st.kinds()


async def test_a_call_is_routed_answered_and_the_agent_wraps_up_to_ready() -> None:
    async with stack(
        [Endpoint("a1", answer_after_s=1.0)], QUEUE, [agent("a1", {"benefits": 8}, ["benefits"])]
    ) as st:
        st.do(lambda now: st.service.acd.login("a1", now, ready=True))
        ch = st.server.pbx.inbound_call(Citizen("+359888000001", "benefits", talk_s=5.0))
        await st.until(lambda: "CallCompleted" in st.kinds())
        call = ch.linkedid
        # An agent was ready: offered at once, never queued.
        assert st.kinds(call) == ["CallOffered", "CallAnswered", "CallCompleted"]
        offered = st.of(CallOffered)[0]
        assert offered.agent == "a1"
        assert st.state("a1")[0] == AgentState.WRAP_UP
        # The PBX really bridged the citizen with the agent's phone.
        dial_ends = [f for n, f in st.pbx_events if n == "DialEnd"]
        assert [f["DialStatus"] for f in dial_ends] == ["ANSWER"]
        assert dial_ends[0]["DestChannel"].startswith("PJSIP/a1-")
        assert any(n == "BridgeEnter" for n, _ in st.pbx_events)
        # Wrap-up (10 s) ends by itself.
        await st.until(lambda: st.state("a1")[0] == AgentState.READY, sim_s=15)
        stats = st.service.acd.queue_stats("benefits")
        assert (stats.offered, stats.answered, stats.abandoned) == (1, 1, 0)


async def test_ring_no_answer_makes_the_agent_not_ready_and_the_call_goes_to_the_next() -> None:
    async with stack(
        [Endpoint("a1", answer_after_s=None), Endpoint("a2", answer_after_s=1.0)],
        QUEUE,
        [agent("a1", {"benefits": 9}, ["benefits"]), agent("a2", {"benefits": 6}, ["benefits"])],
    ) as st:
        st.do(lambda now: st.service.acd.login("a1", now, ready=True))
        st.do(lambda now: st.service.acd.login("a2", now, ready=True))
        ch = st.server.pbx.inbound_call(Citizen("+359888000002", "benefits", talk_s=30.0))
        await st.until(_answered(st))
        call = ch.linkedid
        assert st.kinds(call) == [
            "CallOffered",
            "CallRequeued",
            "CallOffered",
            "CallAnswered",
        ]
        offers = [e.agent for e in st.of(CallOffered)]
        assert offers == ["a1", "a2"]  # best level first, then the next one
        assert st.state("a1") == (AgentState.NOT_READY, "missed")
        assert st.state("a2")[0] == AgentState.ON_CALL
        statuses = [f["DialStatus"] for n, f in st.pbx_events if n == "DialEnd"]
        assert statuses == ["NOANSWER", "ANSWER"]


async def test_a_caller_who_hangs_up_while_the_agent_rings_frees_the_agent_at_once() -> None:
    async with stack(
        [Endpoint("a1", answer_after_s=None)], QUEUE, [agent("a1", {"benefits": 8}, ["benefits"])]
    ) as st:
        st.do(lambda now: st.service.acd.login("a1", now, ready=True))
        ch = st.server.pbx.inbound_call(Citizen("+359888000003", "benefits", patience_s=3.0))
        await st.until(lambda: "CallAbandoned" in st.kinds())
        assert st.kinds(ch.linkedid) == ["CallOffered", "CallAbandoned"]
        abandoned = st.of(CallAbandoned)[0]
        assert abandoned.while_ringing
        # Freed at once: ready again before the ring timeout could have expired.
        assert st.state("a1")[0] == AgentState.READY
        names = [n for n, f in st.pbx_events if n in ("DialEnd", "Hangup")]
        assert names == ["DialEnd", "Hangup", "Hangup"]
        assert [f["DialStatus"] for n, f in st.pbx_events if n == "DialEnd"] == ["CANCEL"]
        assert st.service.acd.calls() == []


@pytest.mark.parametrize("ready", ["after_the_line_dropped", "as_the_callback_is_accepted"])
async def test_overflow_to_callback_keeps_the_place_and_calls_the_citizen_back(ready: str) -> None:
    queues = {
        "benefits": {
            **QUEUE["benefits"],
            "max_wait_s": 5,
            "overflow": {"action": "callback"},
        }
    }
    async with stack(
        [Endpoint("a1", answer_after_s=1.0)], queues, [agent("a1", {"benefits": 8}, ["benefits"])]
    ) as st:
        st.do(lambda now: st.service.acd.login("a1", now))  # logged in, not ready
        number = "+359888000004"
        ch = st.server.pbx.inbound_call(Citizen(number, "benefits", accept_callback=True))
        call = ch.linkedid
        await st.until(lambda: "CallbackAccepted" in st.kinds())
        if ready == "after_the_line_dropped":
            # The citizen hangs up after accepting; the ACD keeps the place.
            await st.until(lambda: call in st.ended_interactions)
            views = st.service.acd.calls()
            assert [(c.id, c.state, c.callback_number) for c in views] == [
                (call, "waiting", number)
            ]
        # else: the callback is placed before the first line's Hangup reaches the CTI.
        st.do(lambda now: st.service.acd.set_ready("a1", now))
        await st.until(lambda: "CallCompleted" in st.kinds())
        kinds = st.kinds(call)
        assert kinds[:3] == ["CallQueued", "CallOverflowed", "CallbackAccepted"]
        assert kinds[-3:] == ["CallOffered", "CallAnswered", "CallCompleted"]
        assert "CallbackFailed" not in kinds
        originates = [a for a in st.server.received if a.get("Action") == "Originate"]
        assert len(originates) == 1
        assert originates[0]["Channel"] == "PJSIP/a1"
        assert f"CTI_CALLBACK_NUMBER={number}" in originates[0]["Variable"].split("\n")
        redirects = [a["Context"] for a in st.server.received if a.get("Action") == "Redirect"]
        assert redirects == ["cti-callback-offer"]
        # The PBX dialled the citizen's number from the agent's channel.
        dialled = [f["DestCallerIDNum"] for n, f in st.pbx_events if n == "DialBegin"]
        assert dialled == [number]
        assert st.service.acd.calls() == []


async def test_an_agent_who_logs_out_during_a_call_finishes_it_and_gets_no_more() -> None:
    async with stack(
        [Endpoint("a1", answer_after_s=1.0), Endpoint("a2", answer_after_s=1.0)],
        QUEUE,
        [agent("a1", {"benefits": 8}, ["benefits"]), agent("a2", {"benefits": 6}, ["benefits"])],
    ) as st:
        st.do(lambda now: st.service.acd.login("a1", now, ready=True))
        first = st.server.pbx.inbound_call(Citizen("+359888000005", "benefits", talk_s=10.0))
        await st.until(_answered(st))
        st.do(lambda now: st.service.acd.logout("a1", now))
        assert st.state("a1")[0] == AgentState.ON_CALL  # the conversation goes on
        second = st.server.pbx.inbound_call(Citizen("+359888000006", "benefits", talk_s=5.0))
        await st.until(lambda: "CallCompleted" in st.kinds(first.linkedid))
        await st.until(lambda: st.state("a1")[0] == AgentState.LOGGED_OUT, sim_s=15)
        assert st.kinds(second.linkedid) == ["CallQueued"]  # nobody took it from a1
        st.do(lambda now: st.service.acd.login("a2", now, ready=True))
        await st.until(lambda: "CallAnswered" in st.kinds(second.linkedid))
        offered = st.of(CallOffered)
        assert [(e.call, e.agent) for e in offered] == [
            (first.linkedid, "a1"),
            (second.linkedid, "a2"),
        ]
        a1 = [e.new for e in st.of(AgentStateChanged) if e.agent == "a1"]
        assert a1[-3:] == ["on_call", "wrap_up", "logged_out"]


async def test_an_unreachable_phone_takes_its_agent_out_of_routing_until_it_is_back() -> None:
    async with stack(
        [Endpoint("a1", answer_after_s=1.0), Endpoint("a2", answer_after_s=1.0)],
        QUEUE,
        [agent("a1", {"benefits": 9}, ["benefits"]), agent("a2", {"benefits": 6}, ["benefits"])],
    ) as st:
        st.do(lambda now: st.service.acd.login("a1", now, ready=True))
        st.do(lambda now: st.service.acd.login("a2", now, ready=True))
        st.server.pbx.set_reachable("a1", False)  # qualify fails: ContactStatus Unreachable
        await st.until(lambda: st.state("a1") == (AgentState.NOT_READY, "unreachable"))
        first = st.server.pbx.inbound_call(Citizen("+359888000007", "benefits", talk_s=5.0))
        await st.until(lambda: "CallAnswered" in st.kinds(first.linkedid))
        assert [e.agent for e in st.of(CallOffered)] == ["a2"]  # not the better, absent a1
        st.server.pbx.set_reachable("a1", True)
        await st.until(lambda: st.state("a1")[0] == AgentState.READY)
