"""The pieces of `cti bench routing` the reservation mode added: the day driver (it must
reproduce the routing simulator's figures), the reservation scenario, the what-if
changes, and the rules that pick the default and draw the frontier."""

from __future__ import annotations

import pytest

from cti.bench.routing_days import Figures, add_agent, cross_train, reserve_router, run_days
from cti.bench.routing_modes import RELAXATION_DEFAULT, frontier, pick_default, two_one_zero
from cti.bench.routing_whatif import variants
from cti.sim.routing import simulate, skills_router
from cti.sim.workload import Workload, default_workload_path, load_workload


@pytest.fixture(scope="module")
def workload() -> Workload:
    return load_workload(default_workload_path())


def test_the_bench_figures_of_a_day_agree_with_the_simulators_own(workload: Workload) -> None:
    """One day loop (sim/routing.py) serves both; the bench derives its figures and
    the wait tail from the answered waits it records, which must agree with the
    simulator's counts and means."""
    scenario = skills_router(workload)
    ours = run_days(workload, scenario, range(1))
    theirs = simulate(workload, scenario, replications=1)
    assert (ours.offered, ours.answered, ours.abandoned) == (
        theirs.offered,
        theirs.answered,
        theirs.abandoned,
    )
    assert (ours.sl, ours.skill_match) == (theirs.sl, theirs.skill_match)
    assert ours.asa_s == pytest.approx(theirs.asa_s)
    assert ours.max_s >= ours.p99_s > ours.asa_s


def test_one_reserved_day_loses_no_call_and_keeps_more_experts(workload: Workload) -> None:
    reserve = run_days(workload, reserve_router(workload, two_one_zero(workload)), range(1))
    relax = run_days(workload, skills_router(workload), range(1))
    # Every counted call is answered or abandoned by the end of the day (no overflow).
    assert reserve.answered + reserve.abandoned == reserve.offered == relax.offered
    assert reserve.skill_match > relax.skill_match + 0.05


def test_the_reservation_scenario_groups_every_topic(workload: Workload) -> None:
    scenario = reserve_router(workload)
    (group,) = scenario.config.groups.values()
    assert set(group.queues) == set(workload.topics)
    assert group.service_level_s == workload.service_level_threshold_s
    assert group.guard_s == 180
    # One each, none for the smallest pools (3 agents).
    sizes = {p.primary: p.count for p in workload.agents}
    assert all(group.queues[t] == (0 if sizes[t] <= 3 else 1) for t in sizes)
    assert two_one_zero(workload) == {
        "social_assistance": 2,
        "child_protection": 1,
        "employment": 1,
        "labour_inspection": 1,
        "disability": 0,
    }


def test_what_if_adds_an_agent_or_cross_trains_a_pool(workload: Workload) -> None:
    more = add_agent(workload, "disability")
    assert more.agent_count == workload.agent_count + 1
    trained = cross_train(skills_router(workload), "disability", "social_assistance")
    levels = {a.id: a.skills.get("social_assistance") for a in trained.config.agents}
    assert {levels[f"disability-{i}"] for i in (1, 2, 3)} == {7}
    assert levels["social_assistance-1"] == 9
    assert levels["employment-1"] == 5
    names = [name for name, _, _ in variants(workload, [])]
    assert names[0] == "baseline"
    assert "+1 social_assistance" in names
    assert "disability at 7 in social_assistance" in names
    with pytest.raises(ValueError, match="add:POOL or train:POOL:TOPIC"):
        variants(workload, ["add:nobody"])


def _figures(sl: float, match: float, waits: list[float]) -> Figures:
    answered = len(waits)
    return Figures(
        offered=answered,
        answered=answered,
        in_sl=round(sl * answered),
        matched=round(match * answered),
        waits=waits,
    )


def test_the_default_meets_both_targets_with_the_shortest_tail() -> None:
    waits = [float(i) for i in range(100)]
    results = {
        RELAXATION_DEFAULT: _figures(0.87, 0.70, waits),
        "fast but mismatched": _figures(0.95, 0.79, waits),
        "good, long tail": _figures(0.86, 0.82, [w * 2 for w in waits]),
        "good, short tail": _figures(0.85, 0.80, waits),
        "slow": _figures(0.84, 0.90, waits),
    }
    assert pick_default(results) == ("good, short tail", True)
    del results["good, short tail"], results["good, long tail"]
    assert pick_default(results) == (RELAXATION_DEFAULT, False)
    assert frontier(results) == ["fast but mismatched", "slow"]
