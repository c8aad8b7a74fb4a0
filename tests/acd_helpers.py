"""Builders and invariant checks shared by the ACD tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cti.queues import Acd, AcdConfig, AgentState
from cti.queues.events import (
    CallAbandoned,
    CallAnswered,
    CallbackFailed,
    CallCompleted,
    CallOffered,
    CallOverflowed,
    CallRequeued,
    Decisions,
)


def config(queues: dict[str, Any], agents: list[dict[str, Any]], **extra: Any) -> AcdConfig:
    return AcdConfig.model_validate({"queues": queues, "agents": agents, **extra})


def agent(aid: str, skills: dict[str, int], queues: list[str]) -> dict[str, Any]:
    return {"id": aid, "endpoint": f"PJSIP/{aid}", "skills": skills, "queues": queues}


def states(acd: Acd) -> dict[str, tuple[str, str | None]]:
    return {a.id: (a.state.value, a.reason) for a in acd.agents()}


def check_invariants(acd: Acd) -> None:
    """What must hold after every engine step, whatever came before."""
    agents = {a.id: a for a in acd.agents()}
    calls = {c.id: c for c in acd.calls()}
    holders: dict[str, str] = {}
    for a in agents.values():
        if a.state in (AgentState.RESERVED, AgentState.ON_CALL):
            assert a.call is not None, f"{a.id} is {a.state} without a call"
            assert a.call not in holders, f"call {a.call} held by {holders.get(a.call)} and {a.id}"
            holders[a.call] = a.id
            c = calls[a.call]
            assert c.agent == a.id
            assert c.state == ("offered" if a.state == AgentState.RESERVED else "connected")
        else:
            assert a.call is None, f"{a.id} is {a.state} but holds {a.call}"
    for c in calls.values():
        if c.state == "waiting":
            assert c.agent is None
        else:
            assert c.agent is not None
            assert agents[c.agent].call == c.id
    # Work conservation: no ready agent may serve a waiting call (timers are run by
    # every engine step first, so requirements are those of the current time).
    for c in calls.values():
        if c.state == "waiting":
            for a in agents.values():
                if a.state == AgentState.READY:
                    assert not acd.may_serve(a.id, c.id), f"ready {a.id} could serve waiting {c.id}"
    # Statistics add up per queue.
    for name in acd.config.queues:
        s = acd.queue_stats(name)
        inside = sum(
            1
            for c in calls.values()
            if c.queue == name and c.state != "connected" and not c.outbound
        )
        ended = s.answered + s.abandoned + s.overflowed + s.callbacks_failed
        assert s.offered == ended + inside, f"{name}: offered {s.offered} != {ended} + {inside}"


class OfferLedger:
    """An independent record of offers, built only from the engine's events."""

    def __init__(self) -> None:
        self.open: dict[str, str] = {}  # call -> agent (offered or talking)
        self.ended: dict[str, str] = {}  # call -> how it ended
        self.answers: dict[str, int] = {}

    def feed(self, d: Decisions) -> None:
        for e in d.events:
            if isinstance(e, CallOffered):
                assert e.call not in self.open, f"{e.call} offered twice"
                assert e.agent not in self.open.values(), f"{e.agent} double-booked"
                assert e.call not in self.ended
                self.open[e.call] = e.agent
            elif isinstance(e, CallAnswered):
                assert self.open.get(e.call) == e.agent
                self.answers[e.call] = self.answers.get(e.call, 0) + 1
            elif isinstance(e, CallRequeued):
                assert self.open.pop(e.call) == e.agent
            elif isinstance(e, CallCompleted | CallbackFailed):
                assert self.open.pop(e.call) == e.agent
                self._end(e.call, type(e).__name__)
            elif isinstance(e, CallAbandoned):
                if e.while_ringing is not None:
                    assert self.open.pop(e.call) == e.while_ringing
                self._end(e.call, "abandoned")
            elif isinstance(e, CallOverflowed) and e.action not in ("callback", "queue"):
                self._end(e.call, "overflowed")

    def _end(self, call: str, how: str) -> None:
        assert call not in self.ended, f"{call} ended twice ({self.ended[call]}, {how})"
        self.ended[call] = how


def drain(machine: Any, agents: list[str], tick: Callable[[], object], rounds: int) -> None:
    """The end of a property run on a state machine (its `acd`, `now` and `_do`): every
    agent back and ready, offered calls answered, connected ones ended, waiting callers
    hanging up (a callback ends when answered), one second a round on the machine's own
    clock (its checks read it), the invariants checked each time."""
    acd, do = machine.acd, machine._do
    for _ in range(rounds):
        if not acd.calls():
            break
        for a in agents:
            do(acd.set_reachable, a, True, machine.now)
            if {v.id: v.state for v in acd.agents()}[a] == AgentState.LOGGED_OUT:
                do(acd.login, a, machine.now, True)
            else:
                do(acd.set_ready, a, machine.now)
        for c in acd.calls():
            if c.state == "offered":
                do(acd.offer_answered, c.id, machine.now)
            elif c.state == "connected":
                do(acd.call_ended, c.id, machine.now)
            elif c.callback_number is None:
                do(acd.caller_hung_up, c.id, machine.now)
        machine.now += 1
        tick()
        check_invariants(acd)


def every_call_ended_once(acd: Acd, ledger: OfferLedger, arrived: list[str]) -> None:
    """After `drain`: no call left, none lost or ended twice, and a completed call was
    answered exactly once (the others never)."""
    assert not acd.calls(), "calls left in the ACD"
    assert sorted(ledger.ended) == sorted(arrived), "a call was lost or ended twice"
    for call, how in ledger.ended.items():
        assert ledger.answers.get(call, 0) == (how == "CallCompleted"), call
