"""An agent's own call to a citizen (click-to-call) as a call of the ACD, with a fake
clock: the agent is on it, it never waits in a line, and it counts in no queue's inbound
figures."""

from __future__ import annotations

from typing import Any

import pytest

from acd_helpers import agent, check_invariants, config
from cti.queues import Acd, AcdError
from cti.queues.dispatch import CITIZEN_RING_S, RING_GRACE_S
from cti.queues.events import CallbackFailed, CallOffered, ConnectToAgent, PlaceCallback
from cti.queues.models import AgentState

BENEFITS: dict[str, Any] = {"skills": {"benefits": 7}, "wrap_up_s": 20, "ring_timeout_s": 15}


def acd() -> Acd:
    cfg = config(
        {"benefits": BENEFITS},
        [
            agent("ivanova", {"benefits": 9}, ["benefits"]),
            agent("petrov", {"benefits": 9}, ["benefits"]),
        ],
    )
    return Acd(cfg, 0.0)


def state(a: Acd, agent_id: str) -> tuple[AgentState, str | None]:
    view = a.agent_view(agent_id)
    assert view is not None
    return view.state, view.reason


def test_a_ready_agent_calls_out_talks_wraps_up_and_the_queue_figures_do_not_move() -> None:
    a = acd()
    a.login("ivanova", 0, ready=True)
    d = a.call_out("o1", "ivanova", "+359888555009", 1)
    assert d.commands == [PlaceCallback("o1", "ivanova", "PJSIP/ivanova", "+359888555009", 15)]
    (offer,) = [e for e in d.events if isinstance(e, CallOffered)]
    assert offer.why is not None
    assert offer.why["rule"] == "outbound"
    assert state(a, "ivanova") == (AgentState.RESERVED, None)
    # An inbound caller arriving now waits: ivanova is busy with her own call.
    d = a.call_arrived("in1", "benefits", 2)
    assert not [c for c in d.commands if isinstance(c, ConnectToAgent)]
    a.offer_answered("o1", 4)  # the citizen answered
    assert state(a, "ivanova") == (AgentState.ON_CALL, None)
    a.call_ended("o1", 64)
    assert state(a, "ivanova") == (AgentState.WRAP_UP, None)
    d = a.tick(84)  # wrap-up over: ready, and the waiting inbound caller is offered
    assert [(c.call, c.agent) for c in d.commands if isinstance(c, ConnectToAgent)] == [
        ("in1", "ivanova")
    ]
    view = a.queue_view("benefits", 84)
    assert (view.offered, view.answered, view.abandoned) == (1, 0, 0)  # only "in1"
    stats = a.agent_stats("ivanova")
    assert (stats.offered, stats.answered, stats.missed) == (1, 0, 0)  # "in1" rings now
    check_invariants(a)


def test_an_agent_on_a_break_calls_out_and_is_on_the_same_break_after_the_call() -> None:
    a = acd()
    a.login("ivanova", 0, ready=True)
    a.set_not_ready("ivanova", "break", 1)
    a.call_out("o1", "ivanova", "+359888555009", 2)
    a.offer_answered("o1", 5)
    a.call_ended("o1", 30)
    a.tick(50)
    assert state(a, "ivanova") == (AgentState.NOT_READY, "break")


def test_an_outbound_call_that_never_connects_is_over_and_waits_in_no_line() -> None:
    a = acd()
    a.login("ivanova", 0, ready=True)
    # The citizen does not answer: the dialplan's Dial ends, the agent's leg hangs up.
    a.call_out("o1", "ivanova", "+359888555009", 1)
    d = a.caller_hung_up("o1", 20)
    assert [e.call for e in d.events if isinstance(e, CallbackFailed)] == ["o1"]
    assert a.call_view("o1") is None
    assert state(a, "ivanova") == (AgentState.READY, None)
    # Her own phone never answers: the ring guard covers her ring and the citizen's,
    # then the call is over (not a missed offer: she is ready again, not "missed").
    a.call_out("o2", "ivanova", "+359888555009", 30)
    assert not a.tick(30 + 15 + RING_GRACE_S).events  # the citizen may still be ringing
    d = a.tick(30 + 15 + RING_GRACE_S + CITIZEN_RING_S)
    assert [e.call for e in d.events if isinstance(e, CallbackFailed)] == ["o2"]
    assert a.call_view("o2") is None
    assert a.calls() == []
    assert state(a, "ivanova") == (AgentState.READY, None)
    assert a.agent_stats("ivanova").missed == 0
    assert a.queue_stats("benefits").callbacks_failed == 0
    check_invariants(a)


def test_who_may_not_call_out_is_told_why_and_nothing_changes() -> None:
    a = acd()
    with pytest.raises(AcdError) as err:
        a.call_out("o1", "ivanova", "+359888555009", 0)
    assert err.value.code == "agent_logged_out"
    a.login("ivanova", 0, ready=True)
    a.call_arrived("in1", "benefits", 1)  # ivanova's phone rings for a citizen
    with pytest.raises(AcdError) as err:
        a.call_out("o1", "ivanova", "+359888555009", 2)
    assert err.value.code == "agent_busy"
    with pytest.raises(AcdError) as err:
        a.call_out("in1", "petrov", "+359888555009", 2)
    assert err.value.code == "duplicate_call"
    a.login("petrov", 2)
    with pytest.raises(AcdError) as err:
        a.call_out("o1", "petrov", "", 3)
    assert err.value.code == "bad_number"
    a.set_reachable("petrov", False, 3)
    with pytest.raises(AcdError) as err:
        a.call_out("o1", "petrov", "+359888555009", 4)
    assert err.value.code == "agent_unreachable"
    assert [c.id for c in a.calls()] == ["in1"]
    check_invariants(a)


def test_task_calls_keep_inbound_first_and_the_lines_lent_to_them() -> None:
    cfg = config(
        {"benefits": BENEFITS, "employment": {"skills": {"employment": 5}, "wrap_up_s": 20}},
        [
            agent("ivanova", {"benefits": 9}, ["benefits"]),
            agent("petrov", {"benefits": 9}, ["benefits"]),
            agent("georgiev", {"employment": 9}, ["employment"]),
        ],
        outbound={"inbound_wait_limit_s": 20, "max_lines": 1},
    )
    a = Acd(cfg, 0.0)
    for who in ("ivanova", "petrov", "georgiev"):
        a.login(who, 0)  # not ready: nobody takes the caller
    a.call_arrived("in1", "benefits", 0)
    a.tick(25)
    with pytest.raises(AcdError) as err:
        a.call_out("t1", "ivanova", "+359888555009", 25, task=True)
    assert err.value.code == "inbound_waiting"
    # Her own click-to-call is hers to decide; a caller of another queue does not hold
    # back an agent who cannot serve them.
    a.call_out("o1", "ivanova", "+359888555009", 25)
    a.call_out("t2", "georgiev", "+359888555010", 25, task=True)
    # One line lent to tasks, in use: the next task call waits for it.
    a.caller_hung_up("in1", 26)
    with pytest.raises(AcdError) as err:
        a.call_out("t3", "petrov", "+359888555011", 26, task=True)
    assert err.value.code == "lines_busy"
    a.caller_hung_up("t2", 27)  # that citizen did not answer: the line is free
    a.call_out("t3", "petrov", "+359888555011", 27, task=True)
    check_invariants(a)
