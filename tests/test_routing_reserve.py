"""Availability-based reservation (issue 23): the rules one by one on small centres, the
explanation every offer carries, and the configuration's checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from acd_helpers import agent, check_invariants, config
from cti.queues import Acd
from cti.queues.events import CallOffered, Decisions, OverflowCall, PlaceCallback
from cti.queues.lines import helper_gain


def centre(reserves: dict[str, int] | None = None, **social: Any) -> Acd:
    """Pools of social, child and jobs experts; everyone may help anyone (the queues'
    loosest relaxation step: any agent). The guard is at 60 s."""
    queue = {
        "relaxation": [{"after_s": 10, "any_agent": True}],
        "wrap_up_s": 20,
        "ring_timeout_s": 10,
    }
    cfg = config(
        queues={
            "social": {"skills": {"social": 7}, **queue, **social},
            "child": {"skills": {"child": 7}, **queue},
            "jobs": {"skills": {"jobs": 7}, **queue},
        },
        agents=[
            agent("s1", {"social": 9}, ["social", "child", "jobs"]),
            agent("s2", {"social": 9}, ["social", "child", "jobs"]),
            agent("c1", {"child": 9, "social": 5}, ["child", "social", "jobs"]),
            agent("c2", {"child": 9, "social": 5}, ["child", "social", "jobs"]),
            agent("c3", {"child": 9}, ["child", "social", "jobs"]),
            agent("j1", {"jobs": 9, "social": 8}, ["jobs", "social", "child"]),
            agent("j2", {"jobs": 9, "social": 6}, ["jobs", "social", "child"]),
        ],
        groups={
            "hotline": {"queues": reserves or {"social": 1, "child": 1, "jobs": 0}, "guard_s": 60}
        },
    )
    return Acd(cfg, 0.0)


def login(acd: Acd, *agents: str, now: float = 0.0) -> None:
    for a in agents:
        acd.login(a, now, ready=True)


def offers(d: Decisions) -> list[CallOffered]:
    return [e for e in d.events if isinstance(e, CallOffered)]


def busy(acd: Acd, call: str, queue: str, now: float) -> str:
    """A call answered at once; returns the agent who took it."""
    (offer,) = offers(acd.call_arrived(call, queue, now))
    acd.offer_answered(call, now)
    return offer.agent


def test_a_call_goes_to_its_own_pool_before_any_helper() -> None:
    acd = centre()
    login(acd, "c1", "j1", "s1")  # the helpers have idled longer
    (offer,) = offers(acd.call_arrived("k1", "social", 5))
    assert offer.agent == "s1"
    assert offer.why is not None
    assert offer.why["rule"] == "own_pool"
    check_invariants(acd)


def test_an_expert_ending_wrap_up_soon_is_waited_for_instead_of_a_helper() -> None:
    acd = centre()
    login(acd, "s1", "c1", "c2", "c3")
    assert busy(acd, "k1", "social", 0) == "s1"
    acd.call_ended("k1", 30)  # s1 wraps up until 50: within 20 s of a new caller
    d = acd.call_arrived("k2", "social", 31)
    assert offers(d) == [], "a helper was spent on a call its own pool covers"
    check_invariants(acd)
    (offer,) = offers(acd.tick(50))
    assert (offer.call, offer.agent, offer.why and offer.why["rule"]) == ("k2", "s1", "own_pool")


def test_an_uncovered_call_borrows_from_the_pool_with_most_to_spare() -> None:
    acd = centre({"social": 1, "child": 1, "jobs": 0})
    login(acd, "c1", "c2", "c3", "j2")  # no social expert logged in
    (offer,) = offers(acd.call_arrived("k1", "social", 1))
    # child has 3 available over a reserve of 1 (spare 2); jobs 1 over 0 (spare 1): a
    # child agent, though j2 has the better level (6) for social; c1/c2 (5) before c3 (0).
    assert offer.agent in ("c1", "c2")
    why = offer.why
    assert why is not None
    assert why["rule"] == "borrow"
    assert why["pools"]["child"]["spare"] == 2
    assert why["pools"]["jobs"]["spare"] == 1
    assert {c["agent"] for c in why["candidates"]} == {"c1", "c2", "c3", "j2"}
    assert next(c for c in why["candidates"] if c["agent"] == "j2")["rule"] == "borrow"


def test_a_pool_at_its_reserve_does_not_lend() -> None:
    acd = centre({"social": 0, "child": 2, "jobs": 5})
    login(acd, "c1", "c2", "c3", "j1")
    assert offers(acd.call_arrived("k1", "social", 1))[0].agent.startswith("c")
    # child: 2 ready left = its reserve; jobs: 1 available, reserve 5.
    assert offers(acd.call_arrived("k2", "social", 2)) == []
    check_invariants(acd)
    assert acd.call_view("k2") is not None
    assert acd.call_view("k2").state == "waiting"


def test_a_call_that_can_no_longer_make_the_threshold_spends_no_helper_until_the_guard() -> None:
    acd = centre({"social": 0, "child": 3, "jobs": 5})
    login(acd, "c1", "c2", "c3")  # child has 3 available: no spare over a reserve of 3
    assert offers(acd.call_arrived("k1", "social", 0)) == []
    # At 25 s a fourth child expert would make a spare, but k1 can no longer make 20 s.
    c3 = acd.profile("c3")
    assert c3 is not None
    acd.upsert_agent(c3.model_copy(update={"id": "c4"}), 24)
    assert offers(acd.login("c4", 25, ready=True)) == []
    check_invariants(acd)
    # The guard (60 s) lets anyone take it, reserves or not.
    (offer,) = offers(acd.tick(60))
    assert offer.call == "k1"
    assert offer.why is not None
    assert offer.why["rule"] == "guard"


def test_within_a_topic_the_older_caller_is_served_first() -> None:
    acd = centre({"social": 0, "child": 3, "jobs": 5})
    login(acd, "c1", "c2", "c3")
    acd.call_arrived("k1", "social", 0)
    acd.call_arrived("k2", "social", 3)
    (offer,) = offers(acd.login("s1", 4, ready=True))
    assert offer.call == "k1"
    (offer,) = offers(acd.login("s2", 5, ready=True))
    assert offer.call == "k2"


def test_a_higher_priority_caller_goes_first_in_its_line() -> None:
    acd = centre({"social": 0, "child": 3, "jobs": 5})
    login(acd, "c1", "c2", "c3")
    acd.call_arrived("k1", "social", 0)
    acd.call_arrived("k2", "social", 1, priority=5)
    (offer,) = offers(acd.login("s1", 2, ready=True))
    assert offer.call == "k2"


def test_an_agent_freed_takes_another_topic_the_arrival_rule_sends_it() -> None:
    acd = centre({"social": 0, "child": 0, "jobs": 0})
    login(acd, "c1")
    assert busy(acd, "k1", "child", 0) == "c1"
    acd.call_arrived("k2", "social", 10)  # nobody ready: waits, uncovered
    acd.call_ended("k1", 12)  # c1 in wrap-up until 32
    # At 32 k2 has waited 22 s: too late for the threshold, so c1 stays free for child...
    assert offers(acd.tick(32)) == []
    check_invariants(acd)
    # ...until the guard (60 s of waiting).
    (offer,) = offers(acd.tick(70))
    assert (offer.call, offer.agent, offer.why and offer.why["rule"]) == ("k2", "c1", "guard")


def test_the_freed_agent_rule_under_the_threshold() -> None:
    acd = centre({"social": 0, "child": 0, "jobs": 0})
    login(acd, "c1")
    assert busy(acd, "k1", "child", 0) == "c1"
    acd.call_ended("k1", 5)  # c1 in wrap-up until 25
    acd.call_arrived("k2", "social", 10)  # child's c1 is not social's pool: uncovered
    (offer,) = offers(acd.tick(25))
    assert (offer.call, offer.agent, offer.why and offer.why["rule"]) == ("k2", "c1", "borrow")


def test_an_expert_of_the_queue_from_another_pool_is_borrowed_while_its_pool_keeps_reserve() -> (
    None
):
    acd = centre({"social": 0, "child": 0, "jobs": 0})
    login(acd, "j1", "c1")  # j1: jobs pool, social expert (8); c1: social level 5
    (offer,) = offers(acd.call_arrived("k1", "social", 0))
    assert offer.agent == "j1"
    assert offer.why is not None
    assert offer.why["rule"] == "borrow_expert"


def test_ring_no_answer_puts_the_call_back_at_its_place_for_the_next_agent() -> None:
    acd = centre()
    login(acd, "s1", "s2")
    (offer,) = offers(acd.call_arrived("k1", "social", 0))
    d = acd.offer_failed("k1", "no_answer", 3)
    (again,) = offers(d)
    assert again.call == "k1"
    assert again.agent != offer.agent
    assert [e.agent for e in offers(d)] == [again.agent]
    assert {a.id: a.reason for a in acd.agents()}[offer.agent] == "missed"
    assert len(acd.routing_explanations("k1")) == 2


def test_callbacks_and_overflow_keep_working_in_a_group() -> None:
    acd = centre(
        {"social": 0, "child": 5, "jobs": 5}, max_wait_s=30, overflow={"action": "callback"}
    )
    login(acd, "c1")
    acd.call_arrived("k1", "social", 0)
    d = acd.tick(30)
    assert [c.action for c in d.commands if isinstance(c, OverflowCall)] == ["callback"]
    acd.callback_accepted("k1", "+359888000111", 31)
    acd.caller_hung_up("k1", 32)  # the line may drop: the callback keeps its place
    d = acd.login("s1", 40, ready=True)
    assert [type(c) for c in d.commands] == [PlaceCallback]
    acd.offer_answered("k1", 45)
    check_invariants(acd)


def test_every_offer_is_explained_in_the_relaxation_mode_too() -> None:
    cfg = config(
        queues={"q": {"skills": {"x": 7}, "relaxation": [{"after_s": 10, "min_level": 3}]}},
        agents=[agent("a", {"x": 9}, ["q"]), agent("b", {"x": 4}, ["q"])],
    )
    acd = Acd(cfg, 0.0)
    login(acd, "b")
    assert offers(acd.call_arrived("k", "q", 0)) == []
    (offer,) = offers(acd.tick(10))
    why = offer.why
    assert why is not None
    assert (why["mode"], why["rule"], why["step"], why["agent"]) == (
        "relaxation",
        "relaxed_step_1",
        1,
        "b",
    )
    assert why["requirement"] == {"x": 3}
    assert acd.routing_explanations("k")[0]["agent"] == "b"
    assert acd.routing_explanations("nope") == []


def test_a_group_names_only_queues_and_each_queue_once() -> None:
    with pytest.raises(ValidationError, match="'nope' is not a queue"):
        config(queues={"q": {}}, agents=[], groups={"g": {"queues": {"nope": 1}}})
    with pytest.raises(ValidationError, match="queue q is in g"):
        config(
            queues={"q": {}},
            agents=[],
            groups={"g": {"queues": {"q": 1}}, "h": {"queues": {"q": 0}}},
        )
    with pytest.raises(ValidationError, match="at least one queue"):
        config(queues={"q": {}}, agents=[], groups={"g": {"queues": {}}})


@pytest.mark.parametrize(
    ("entered", "frees", "gain"),
    [
        ([0.0], [], 1),  # nobody of its own pool comes free: the helper answers it in time
        ([0.0], [10.0], 0),  # its own agent ends wrap-up in time: no helper
        ([0.0], [30.0], 1),  # its own agent comes too late
        ([-30.0], [], 0),  # waited 35 s: can no longer make 20 s, spends no helper
        ([0.0, 5.0], [10.0], 1),  # the head borrows, the second gets the own agent at 10
        # The head cannot make it, but a helper for it lets the second have the own
        # agent at 10 s: without one the head takes that agent and the second waits.
        ([-30.0, 5.0], [10.0], 1),
        ([-30.0, 5.0], [10.0, 12.0], 0),  # the second makes it with or without a helper
        ([-30.0, 0.0, 4.0], [10.0, 22.0], 2),  # the second and the third both gain
    ],
)
def test_a_helper_is_spent_only_when_it_lets_one_more_caller_make_the_threshold(
    entered: list[float], frees: list[float], gain: int
) -> None:
    assert helper_gain(entered, frees, now=5.0, aim=20.0) == gain
