"""The ACD core for the agent's after-call choices: a break asked for during the call or
the wrap-up takes effect when the wrap-up ends (by time or by finishing), and an agent
can have its own wrap-up and ring time (the demo's person at human pace)."""

from __future__ import annotations

from typing import Any

import pytest

from acd_helpers import agent, config, states
from cti.queues import Acd, AcdError
from cti.queues.events import ConnectToAgent

QUEUE: dict[str, Any] = {"skills": {"benefits": 5}, "wrap_up_s": 20, "ring_timeout_s": 15}


def _acd(**own: Any) -> Acd:
    person = {**agent("person", {"benefits": 9}, ["benefits"]), **own}
    cfg = config({"benefits": QUEUE}, [person, agent("bot", {"benefits": 9}, ["benefits"])])
    acd = Acd(cfg, 0.0)
    acd.login("person", 0, ready=True)
    return acd


def _talk_then_hang_up(acd: Acd, call: str, at: float) -> None:
    acd.call_arrived(call, "benefits", at)
    acd.offer_answered(call, at + 1)
    acd.call_ended(call, at + 10)


def test_a_break_chosen_in_wrap_up_waits_for_the_wrap_up_to_end() -> None:
    acd = _acd()
    _talk_then_hang_up(acd, "k1", 0)
    acd.set_not_ready("person", "break", 12)
    assert states(acd)["person"] == ("wrap_up", None)  # still filing the case
    view = acd.agent_view("person")
    assert view is not None
    assert (view.pending, view.pending_reason, view.wrap_until) == ("not_ready", "break", 30)
    acd.call_arrived("k2", "benefits", 20)
    acd.tick(30)  # the wrap-up time is over: the break, not the waiting call
    assert states(acd)["person"] == ("not_ready", "break")
    assert [c.state for c in acd.calls()] == ["waiting"]


def test_finishing_the_wrap_up_applies_the_break_asked_for_during_the_call() -> None:
    acd = _acd()
    acd.call_arrived("k1", "benefits", 0)
    acd.offer_answered("k1", 1)
    acd.set_not_ready("person", "lunch", 5)
    acd.call_ended("k1", 10)
    acd.finish_wrap_up("person", 15)
    assert states(acd)["person"] == ("not_ready", "lunch")


def test_finishing_without_a_break_makes_the_agent_ready_and_ready_cancels_a_break() -> None:
    acd = _acd()
    _talk_then_hang_up(acd, "k1", 0)
    acd.finish_wrap_up("person", 12)
    assert states(acd)["person"] == ("ready", None)
    _talk_then_hang_up(acd, "k2", 20)
    acd.set_not_ready("person", "break", 31)
    acd.set_ready("person", 32)  # changed their mind: ready now
    assert states(acd)["person"] == ("ready", None)
    with pytest.raises(AcdError) as refused:
        acd.finish_wrap_up("person", 33)
    assert refused.value.code == "not_in_wrap_up"


def test_an_agent_may_have_its_own_wrap_up_and_ring_time() -> None:
    acd = _acd(wrap_up_s=200, ring_timeout_s=150)
    d = acd.call_arrived("k1", "benefits", 0)
    rings = [c.ring_timeout_s for c in d.commands if isinstance(c, ConnectToAgent)]
    assert rings == [150]
    acd.tick(100)  # the queue's 15 s (+ grace) would have withdrawn the offer
    assert states(acd)["person"] == ("reserved", None)
    acd.offer_answered("k1", 101)
    acd.call_ended("k1", 110)
    acd.tick(130)  # the queue's 20 s are over, the person's 200 s are not
    assert states(acd)["person"] == ("wrap_up", None)
    acd.tick(310)
    assert states(acd)["person"] == ("ready", None)
    # The other agents keep the queue's times.
    acd.login("bot", 311, ready=True)
    acd.set_not_ready("person", "break", 311)
    d = acd.call_arrived("k2", "benefits", 312)
    assert [c.ring_timeout_s for c in d.commands if isinstance(c, ConnectToAgent)] == [15]


def test_a_break_asked_for_can_be_called_off() -> None:
    acd = _acd()
    _talk_then_hang_up(acd, "k1", 0)
    acd.set_not_ready("person", "break", 12)
    acd.cancel_pending("person", 13)
    acd.tick(30)
    assert states(acd)["person"] == ("ready", None)
