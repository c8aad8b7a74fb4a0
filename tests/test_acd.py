"""The ACD core with a fake clock: routing, relaxation, ring-no-answer, wrap-up,
overflow, callbacks, agent states and statistics, as the PBX and agents would see them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acd_helpers import agent, check_invariants, config, states
from cti.config import ConfigError
from cti.queues import Acd, AcdError, load_acd_config
from cti.queues.events import (
    AgentStateChanged,
    Announce,
    CallAbandoned,
    CallAnswered,
    CallbackFailed,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallRequeued,
    CancelOffer,
    ConnectToAgent,
    Decisions,
    OverflowCall,
    PlaceCallback,
)

BENEFITS: dict[str, Any] = {
    "skills": {"benefits": 7},
    "relaxation": [{"after_s": 15, "min_level": 5}, {"after_s": 45, "any_agent": True}],
    "wrap_up_s": 20,
    "ring_timeout_s": 15,
}


def connects(d: Decisions) -> list[tuple[str, str]]:
    return [(c.call, c.agent) for c in d.commands if isinstance(c, ConnectToAgent)]


def ready_all(acd: Acd, *ids: str, at: float = 0.0) -> None:
    for aid in ids:
        acd.login(aid, at, ready=True)


def two_level_acd(**queue: Any) -> Acd:
    cfg = config(
        {"benefits": {**BENEFITS, **queue}},
        [
            agent("expert", {"benefits": 9}, ["benefits"]),
            agent("junior", {"benefits": 5}, ["benefits"]),
            agent("other", {"employment": 9}, ["benefits"]),
        ],
    )
    return Acd(cfg, 0.0)


# --- routing -------------------------------------------------------------------------


def test_call_goes_to_best_level_then_longest_idle() -> None:
    cfg = config(
        {"benefits": BENEFITS},
        [
            agent("b8", {"benefits": 8}, ["benefits"]),
            agent("a8", {"benefits": 8}, ["benefits"]),
            agent("c9", {"benefits": 9}, ["benefits"]),
        ],
    )
    acd = Acd(cfg, 0.0)
    acd.login("b8", 0, ready=True)
    acd.login("a8", 5, ready=True)
    acd.login("c9", 10, ready=True)
    assert connects(acd.call_arrived("k1", "benefits", 20)) == [("k1", "c9")]
    # b8 and a8 tie on level: b8 has been ready longer.
    assert connects(acd.call_arrived("k2", "benefits", 21)) == [("k2", "b8")]
    assert connects(acd.call_arrived("k3", "benefits", 22)) == [("k3", "a8")]


def test_longest_idle_selection_ignores_level() -> None:
    cfg = config(
        {"benefits": BENEFITS},
        [agent("old", {"benefits": 7}, ["benefits"]), agent("top", {"benefits": 10}, ["benefits"])],
        agent_selection="longest_idle",
    )
    acd = Acd(cfg, 0.0)
    acd.login("old", 0, ready=True)
    acd.login("top", 1, ready=True)
    assert connects(acd.call_arrived("k1", "benefits", 2)) == [("k1", "old")]


def test_requirements_relax_with_waiting_time() -> None:
    acd = two_level_acd()
    ready_all(acd, "junior", "other")
    d = acd.call_arrived("k1", "benefits", 100)
    assert connects(d) == []
    assert [type(e) for e in d.events] == [CallQueued]
    assert acd.next_deadline() == 115
    assert connects(acd.tick(114.9)) == []
    d = acd.tick(115)
    assert connects(d) == [("k1", "junior")]
    offered = [e for e in d.events if isinstance(e, CallOffered)]
    assert offered[0].waited_s == 15
    assert offered[0].level == 5
    acd.offer_answered("k1", 116)
    # A second call is taken by the agent without the skill only after 45 s.
    acd.call_arrived("k2", "benefits", 120)
    assert connects(acd.tick(164.9)) == []
    assert connects(acd.tick(165)) == [("k2", "other")]


def test_answer_by_relaxed_agent_is_not_a_skill_match() -> None:
    acd = two_level_acd()
    ready_all(acd, "junior")
    acd.call_arrived("k1", "benefits", 0)
    acd.tick(15)
    answered = acd.offer_answered("k1", 17).events[-1]
    assert isinstance(answered, CallAnswered)
    assert (answered.agent, answered.wait_s, answered.matched) == ("junior", 17, False)


def test_ready_agent_takes_highest_effective_priority_then_longest_wait() -> None:
    cfg = config(
        {
            "low": {"priority": 0, "wrap_up_s": 0},
            "high": {"priority": 2, "wrap_up_s": 0},
        },
        [agent("a", {}, ["low", "high"])],
        ageing_per_s=1 / 60,
        match_bonus=0,
    )
    acd = Acd(cfg, 0.0)
    acd.login("a", 0)
    acd.call_arrived("low-1", "low", 0)
    acd.call_arrived("high-1", "high", 60)  # 2 points, beats low-1's 1 point of ageing
    acd.call_arrived("low-2", "low", 61)
    assert connects(acd.set_ready("a", 90)) == [("high-1", "a")]
    acd.offer_answered("high-1", 90)
    acd.call_ended("high-1", 91)
    # 200 s later low-1 has aged 200/60 = 3.3 points: more than a new high call's 2.
    acd.call_arrived("high-2", "high", 199)
    assert connects(acd.set_ready("a", 200)) == [("low-1", "a")]


def test_agent_prefers_calls_it_is_expert_for() -> None:
    cfg = config(
        {
            "benefits": {"skills": {"benefits": 7}, "relaxation": [{"after_s": 0, "min_level": 5}]},
            "jobs": {"skills": {"jobs": 7}},
        },
        [agent("a", {"benefits": 5, "jobs": 9}, ["benefits", "jobs"])],
        match_bonus=1.0,
    )
    acd = Acd(cfg, 0.0)
    acd.login("a", 0)
    acd.call_arrived("b1", "benefits", 0)
    acd.call_arrived("j1", "jobs", 30)  # waited 30 s less, but the agent is its expert
    assert connects(acd.set_ready("a", 40)) == [("j1", "a")]


# --- offers, ring-no-answer, abandon ---------------------------------------------------


def test_ring_no_answer_keeps_the_callers_place() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("first", "benefits", 0)
    acd.call_arrived("second", "benefits", 5)
    d = acd.offer_failed("first", "no_answer", 15)
    assert states(acd)["expert"] == ("not_ready", "missed")
    requeued = [e for e in d.events if isinstance(e, CallRequeued)]
    assert requeued[0].cause == "no_answer"
    # The next agent free takes "first" (its place was kept), not "second".
    acd.login("junior", 16)
    assert connects(acd.set_ready("expert", 20)) == [("first", "expert")]


def test_requeued_call_goes_straight_to_another_ready_agent() -> None:
    acd = two_level_acd()
    acd.call_arrived("k1", "benefits", 0)
    ready_all(acd, "expert", at=1)
    acd.login("junior", 2, ready=True)
    acd.tick(16)  # k1 is offered to the expert; the junior is now allowed
    d = acd.offer_failed("k1", "unreachable", 17)
    assert connects(d) == [("k1", "junior")]
    assert states(acd)["expert"] == ("not_ready", "unreachable")


def test_pbx_silence_on_an_offer_withdraws_it() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("k1", "benefits", 0)
    assert acd.next_deadline() == 20  # ring timeout 15 s + 5 s grace
    d = acd.tick(20)
    assert [type(c) for c in d.commands] == [CancelOffer]
    assert states(acd)["expert"] == ("not_ready", "missed")
    assert [c.state for c in acd.calls()] == ["waiting"]


def test_caller_hanging_up_while_agent_rings_frees_agent_at_once() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("k1", "benefits", 0)
    acd.call_arrived("k2", "benefits", 1)
    d = acd.caller_hung_up("k1", 3)
    abandoned = [e for e in d.events if isinstance(e, CallAbandoned)]
    assert abandoned[0].while_ringing == "expert"
    assert abandoned[0].wait_s == 3
    assert connects(d) == [("k2", "expert")]
    assert not [c for c in d.commands if isinstance(c, CancelOffer)]  # the PBX drops the ringing


def test_an_agent_never_gets_two_calls_and_a_call_never_two_agents() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    d1 = acd.call_arrived("k1", "benefits", 0)
    d2 = acd.call_arrived("k2", "benefits", 0)
    assert connects(d1) == [("k1", "expert")]
    assert connects(d2) == []
    with pytest.raises(AcdError) as exc:
        acd.offer_answered("k2", 1)
    assert exc.value.code == "call_not_offered"


# --- agent states ------------------------------------------------------------------------


def test_wrap_up_returns_to_ready_by_itself() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("k1", "benefits", 0)
    acd.offer_answered("k1", 2)
    d = acd.call_ended("k1", 62)
    assert states(acd)["expert"] == ("wrap_up", None)
    change = [e for e in d.events if isinstance(e, AgentStateChanged)][-1]
    assert (change.old, change.new, change.previous_s) == ("on_call", "wrap_up", 60)
    assert acd.next_deadline() == 82
    acd.tick(81.9)
    assert states(acd)["expert"] == ("wrap_up", None)
    acd.tick(82)
    assert states(acd)["expert"] == ("ready", None)


def test_wrap_up_can_be_extended_or_cut_short() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("k1", "benefits", 0)
    acd.offer_answered("k1", 0)
    acd.call_ended("k1", 10)
    acd.extend_wrap_up("expert", 30, 15)
    acd.tick(45)
    assert states(acd)["expert"] == ("wrap_up", None)
    acd.tick(60)
    assert states(acd)["expert"] == ("ready", None)
    acd.call_arrived("k2", "benefits", 70)
    acd.offer_answered("k2", 70)
    acd.call_ended("k2", 80)
    acd.set_ready("expert", 81)  # done early
    assert states(acd)["expert"] == ("ready", None)


def test_not_ready_asked_during_a_call_applies_after_wrap_up() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("k1", "benefits", 0)
    acd.offer_answered("k1", 0)
    acd.set_not_ready("expert", "lunch", 5)
    assert states(acd)["expert"] == ("on_call", None)
    assert acd.agents()[0].pending == "not_ready"
    acd.call_ended("k1", 10)
    acd.call_arrived("k2", "benefits", 12)
    acd.tick(30)
    assert states(acd)["expert"] == ("not_ready", "lunch")
    assert [c.state for c in acd.calls()] == ["waiting"]


def test_logout_during_a_call_applies_after_wrap_up() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("k1", "benefits", 0)
    acd.offer_answered("k1", 0)
    acd.logout("expert", 5)
    assert states(acd)["expert"] == ("on_call", None)
    acd.call_ended("k1", 10)
    acd.tick(30)
    assert states(acd)["expert"] == ("logged_out", None)


def test_logout_or_not_ready_while_ringing_gives_the_call_back() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert", "junior")
    acd.call_arrived("k1", "benefits", 0)
    acd.tick(15)
    d = acd.logout("expert", 16)
    assert [type(c) for c in d.commands] == [CancelOffer, ConnectToAgent]
    assert connects(d) == [("k1", "junior")]
    d = acd.set_not_ready("junior", "break", 17)
    assert [c.agent for c in d.commands if isinstance(c, CancelOffer)] == ["junior"]
    assert [e.cause for e in d.events if isinstance(e, CallRequeued)] == ["declined"]
    assert [c.state for c in acd.calls()] == ["waiting"]


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (lambda acd: acd.set_ready("expert", 1), "agent_logged_out"),
        (lambda acd: acd.login("junior", 1) and acd.login("junior", 2), "agent_logged_in"),
        (
            lambda acd: acd.login("junior", 1) and acd.set_not_ready("junior", "nap", 2),
            "unknown_reason",
        ),
        (
            lambda acd: acd.login("junior", 1) and acd.set_not_ready("junior", "missed", 2),
            "unknown_reason",
        ),
        (
            lambda acd: acd.login("junior", 1) and acd.extend_wrap_up("junior", 10, 2),
            "not_in_wrap_up",
        ),
        (lambda acd: acd.login("nobody", 1), "unknown_agent"),
        (lambda acd: acd.call_arrived("k", "nowhere", 1), "unknown_queue"),
        (
            lambda acd: (
                acd.call_arrived("k", "benefits", 1) and acd.call_arrived("k", "benefits", 2)
            ),
            "duplicate_call",
        ),
        (
            lambda acd: acd.call_arrived("k", "benefits", 1) and acd.call_ended("k", 2),
            "call_not_connected",
        ),
        (lambda acd: acd.caller_hung_up("ghost", 1), "unknown_call"),
    ],
)
def test_illegal_requests_are_refused_with_a_code(action: Any, code: str) -> None:
    acd = two_level_acd()
    before = states(acd)
    with pytest.raises(AcdError) as exc:
        action(acd)
    assert exc.value.code == code
    assert before["expert"] == states(acd)["expert"]


def test_unreachable_agent_is_not_routed_until_it_is_back() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.set_reachable("expert", False, 1)
    assert states(acd)["expert"] == ("not_ready", "unreachable")
    with pytest.raises(AcdError) as exc:
        acd.set_ready("expert", 2)
    assert exc.value.code == "agent_unreachable"
    assert connects(acd.call_arrived("k1", "benefits", 3)) == []
    assert connects(acd.set_reachable("expert", True, 4)) == [("k1", "expert")]


def test_skills_change_applies_to_the_next_call() -> None:
    acd = two_level_acd()
    ready_all(acd, "junior")
    acd.call_arrived("k1", "benefits", 0)
    profile = acd.config.agents[1].model_copy(update={"skills": {"benefits": 8}})
    assert connects(acd.upsert_agent(profile, 1)) == [("k1", "junior")]


# --- overflow and callbacks -------------------------------------------------------------


def test_max_wait_overflows_to_voicemail_and_the_call_leaves() -> None:
    acd = two_level_acd(max_wait_s=60, overflow={"action": "voicemail"})
    acd.call_arrived("k1", "benefits", 0)
    d = acd.tick(60)
    assert d.commands == [OverflowCall("k1", "benefits", "voicemail", None)]
    assert acd.calls() == []
    assert acd.queue_stats("benefits").overflowed == 1


def test_full_queue_overflows_at_once() -> None:
    acd = two_level_acd(max_length=1, overflow={"action": "fallback"})
    acd.call_arrived("k1", "benefits", 0)
    d = acd.call_arrived("k2", "benefits", 1)
    assert d.commands == [OverflowCall("k2", "benefits", "fallback", None)]
    assert [e.cause for e in d.events if isinstance(e, CallOverflowed)] == ["max_length"]
    assert [c.id for c in acd.calls()] == ["k1"]


def test_overflow_to_another_queue_routes_there() -> None:
    cfg = config(
        {
            "benefits": {
                **BENEFITS,
                "max_wait_s": 30,
                "overflow": {"action": "queue", "target": "general"},
            },
            "general": {},
        },
        [agent("g", {}, ["general"])],
    )
    acd = Acd(cfg, 0.0)
    acd.login("g", 0)
    acd.call_arrived("k1", "benefits", 0)
    acd.tick(30)
    assert [(c.queue, c.entered) for c in acd.calls()] == [("general", 30)]
    assert connects(acd.set_ready("g", 31)) == [("k1", "g")]


def test_callback_keeps_the_place_and_is_placed_when_its_turn_comes() -> None:
    acd = two_level_acd(max_wait_s=60, overflow={"action": "callback"})
    acd.call_arrived("k1", "benefits", 0)
    acd.call_arrived("k2", "benefits", 10)
    d = acd.tick(60)
    assert d.commands == [OverflowCall("k1", "benefits", "callback", None)]
    acd.callback_accepted("k1", "0888123456", 65)
    acd.caller_hung_up("k1", 66)  # the citizen hangs up: not an abandon
    assert acd.queue_stats("benefits").abandoned == 0
    acd.login("expert", 70)
    d = acd.set_ready("expert", 71)
    assert d.commands == [PlaceCallback("k1", "expert", "PJSIP/expert", "0888123456", 15)]
    # The citizen does not pick up: the callback failed, the agent is free again.
    d = acd.caller_hung_up("k1", 90)
    assert [type(e) for e in d.events if isinstance(e, CallbackFailed)] == [CallbackFailed]
    assert connects(d) == [("k2", "expert")]


def test_position_and_expected_wait_are_announced() -> None:
    acd = two_level_acd(announce_every_s=30, default_handle_s=120)
    ready_all(acd, "expert")
    acd.call_arrived("k0", "benefits", 0)
    acd.offer_answered("k0", 0)
    d1 = acd.call_arrived("k1", "benefits", 1)
    d2 = acd.call_arrived("k2", "benefits", 2)
    queued = [e for e in d1.events + d2.events if isinstance(e, CallQueued)]
    assert [(e.position, e.expected_wait_s) for e in queued] == [(1, 120), (2, 240)]
    d = acd.tick(31)
    assert d.commands == [Announce("k1", 1, 120)]


# --- statistics ----------------------------------------------------------------------------


def test_queue_and_agent_statistics_add_up() -> None:
    acd = two_level_acd(service_level_s=20)
    ready_all(acd, "expert")
    acd.call_arrived("fast", "benefits", 0)
    acd.offer_answered("fast", 5)
    acd.call_arrived("slow", "benefits", 10)
    acd.call_arrived("gone", "benefits", 11)
    acd.call_ended("fast", 65)  # talk 60 s
    acd.caller_hung_up("gone", 70)
    acd.tick(85)  # wrap-up over: "slow" is offered after 75 s
    acd.offer_answered("slow", 90)
    view = acd.queue_view("benefits", 90)
    assert (view.offered, view.answered, view.abandoned, view.waiting) == (3, 2, 1, 0)
    assert view.service_level == pytest.approx(1 / 3)
    assert view.abandon_rate == pytest.approx(1 / 3)
    assert view.asa_s == pytest.approx((5 + 80) / 2)
    assert view.aht_s == pytest.approx(60 + 20)
    s = acd.agent_stats("expert")
    assert (s.offered, s.answered, s.missed) == (2, 2, 0)
    # Ready 0-0 and 85-85, reserved 0-5 and 85-90, on call 5-65, wrap-up 65-85.
    assert s.occupancy() == pytest.approx(1.0)


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("queues", "extra", "message"),
    [
        (
            {
                "q": {
                    "relaxation": [
                        {"after_s": 30, "min_level": 5},
                        {"after_s": 10, "any_agent": True},
                    ]
                }
            },
            {},
            "increasing",
        ),
        (
            {"q": {"relaxation": [{"after_s": 30, "min_level": 5, "any_agent": True}]}},
            {},
            "exactly one",
        ),
        ({"q": {"max_wait_s": 60}}, {}, "overflow action"),
        ({"q": {"overflow": {"action": "queue", "target": "nowhere"}}}, {}, "not a queue"),
        ({"q": {"overflow": {"action": "voicemail", "target": "q"}}}, {}, "takes no target"),
        ({"q": {"skills": {"benefits": 11}}}, {}, "less than or equal to 10"),
        ({"q": {}}, {"not_ready_reasons": ["break", "missed"]}, "reserved for the ACD"),
        ({"q": {}}, {"agents": [agent("a", {}, ["x"])]}, "unknown queues"),
        ({"bad name!": {}}, {}, "letters, digits"),
    ],
)
def test_bad_configuration_names_the_problem(
    tmp_path: Path, queues: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    import yaml

    path = tmp_path / "acd.yaml"
    path.write_text(yaml.safe_dump({"queues": queues, **extra}), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_acd_config(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)


def test_shipped_example_configuration_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    cfg = load_acd_config(root / "deploy" / "acd.yaml")
    assert cfg.queues
    assert cfg.agents


def test_check_acd_command_reports_the_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cti.cli import main

    bad = tmp_path / "acd.yaml"
    bad.write_text("queues:\n  q: {max_wait_s: 5}\n", encoding="utf-8")
    assert main(["check-acd", str(bad)]) == 2
    assert "queues.q: max_wait_s / max_length need an overflow action" in capsys.readouterr().err
    root = Path(__file__).resolve().parent.parent
    assert main(["check-acd", str(root / "deploy" / "acd.yaml")]) == 0
    assert (
        "queue child_protection: child_protection>=7, priority 5, 3 agents"
        in capsys.readouterr().out
    )


def test_helper_keeps_an_expert_of_its_own_queue_ready() -> None:
    cfg = config(
        {
            "benefits": {
                "skills": {"benefits": 7},
                "relaxation": [
                    {"after_s": 0, "min_level": 5, "reserve": 1},
                    {"after_s": 30, "min_level": 5},
                ],
            },
            "child": {"skills": {"child": 7}},
        },
        [
            agent("helper", {"child": 9, "benefits": 5}, ["child", "benefits"]),
            agent("peer", {"child": 8}, ["child"]),
        ],
    )
    acd = Acd(cfg, 0.0)
    acd.login("helper", 0, ready=True)
    # The helper is the only child expert ready: it stays for the child line.
    assert connects(acd.call_arrived("b1", "benefits", 1)) == []
    # Another child expert becomes ready: now the helper may take the benefits call.
    assert connects(acd.login("peer", 5, ready=True)) == [("b1", "helper")]
    acd.offer_answered("b1", 6)
    # Without a spare expert the second call waits until the reserve step ends (30 s).
    acd.call_ended("b1", 8)  # helper in wrap-up until 28
    assert connects(acd.call_arrived("c1", "child", 20)) == [("c1", "peer")]
    acd.offer_answered("c1", 21)
    acd.call_arrived("b2", "benefits", 29)  # helper ready since 28, but peer is busy
    acd.tick(58)
    assert [c.state for c in acd.calls() if c.id == "b2"] == ["waiting"]
    assert connects(acd.tick(59)) == [("b2", "helper")]


# --- hold, transfer to an agent, removing agents -----------------------------------------


def test_hold_and_resume_keep_the_agent_on_the_call() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("c1", "benefits", 0)
    with pytest.raises(AcdError) as exc:
        acd.hold("c1", 1)  # ringing, not talking yet
    assert exc.value.code == "call_not_connected"
    acd.offer_answered("c1", 2)
    d = acd.hold("c1", 10)
    assert [(type(e).__name__, e.agent) for e in d.events] == [("CallHeld", "expert")]
    assert [(c.state, c.held) for c in acd.calls()] == [("connected", True)]
    with pytest.raises(AcdError) as exc:
        acd.hold("c1", 11)
    assert exc.value.code == "already_held"
    [resumed] = acd.resume("c1", 40).events
    assert (type(resumed).__name__, resumed.held_s) == ("CallResumed", 30)
    with pytest.raises(AcdError) as exc:
        acd.resume("c1", 41)
    assert exc.value.code == "not_held"
    assert states(acd)["expert"] == ("on_call", None)
    check_invariants(acd)


def test_transfer_to_an_agent_offers_the_call_and_wraps_up_the_first() -> None:
    acd = two_level_acd()
    ready_all(acd, "expert")
    acd.call_arrived("c1", "benefits", 0)
    acd.offer_answered("c1", 2)
    for target, code in (("junior", "agent_not_ready"), ("expert", "same_agent")):
        with pytest.raises(AcdError) as exc:
            acd.transfer_to_agent("c1", target, 5)
        assert exc.value.code == code
    acd.login("junior", 5, ready=True)
    acd.hold("c1", 6)
    d = acd.transfer_to_agent("c1", "junior", 10)
    kinds = [type(e).__name__ for e in d.events]
    assert (
        kinds.index("CallCompleted") < kinds.index("CallTransferred") < kinds.index("CallOffered")
    )
    assert connects(d) == [("c1", "junior")]
    assert states(acd)["expert"] == ("wrap_up", None)
    assert [(c.agent, c.state, c.held) for c in acd.calls()] == [("junior", "offered", False)]
    check_invariants(acd)
    # Not answered: the call waits in the queue's line; nobody is double-booked.
    acd.offer_failed("c1", "no_answer", 25)
    assert states(acd)["junior"] == ("not_ready", "missed")
    assert [c.state for c in acd.calls()] == ["waiting"]
    check_invariants(acd)
    assert connects(acd.tick(30)) == [("c1", "expert")]  # wrap-up (20 s) is over
    stats = acd.queue_stats("benefits")
    assert (stats.offered, stats.answered) == (2, 1)


def test_only_a_logged_out_agent_can_be_removed() -> None:
    acd = two_level_acd()
    acd.login("junior", 0)
    with pytest.raises(AcdError) as exc:
        acd.remove_agent("junior", 1)
    assert exc.value.code == "agent_logged_in"
    acd.remove_agent("other", 1)
    assert sorted(states(acd)) == ["expert", "junior"]
    with pytest.raises(AcdError) as exc:
        acd.remove_agent("other", 2)
    assert exc.value.code == "unknown_agent"


def test_an_agent_is_found_by_its_phone_after_changes_and_removals() -> None:
    acd = Acd(config({"q": {}}, [agent("a1", {}, ["q"]), agent("a2", {}, ["q"])]))
    assert (acd.agent_of("PJSIP/a1"), acd.agent_of("PJSIP/a2")) == ("a1", "a2")
    assert acd.agent_of("PJSIP/trunk") is None
    moved = acd.profile("a1")
    assert moved is not None
    acd.upsert_agent(moved.model_copy(update={"endpoint": "PJSIP/desk-7"}), 1)
    assert (acd.agent_of("PJSIP/desk-7"), acd.agent_of("PJSIP/a1")) == ("a1", None)
    acd.remove_agent("a2", 2)
    assert acd.agent_of("PJSIP/a2") is None
