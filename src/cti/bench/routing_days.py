"""Simulated days for `cti bench routing`: the workload's calls through the real ACD core
(the discrete-event day of `cti.sim.routing`), with the figures the bench prints,
including every answered caller's wait for the tail (p99, max), and the scenarios the
bench adds: the reservation mode and the what-if staffing changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cti.queues.models import ReservationGroup
from cti.sim.routing import RoutingResult, Scenario, run_day, skills_router
from cti.sim.workload import Workload

SMALL_POOL = 3  # pools this small keep no reserve by default (issue 23)


@dataclass(slots=True)
class Figures:
    """Figures over calls arriving after the warm-up (definitions: the workload file)."""

    offered: int = 0
    answered: int = 0
    in_sl: int = 0
    abandoned: int = 0
    matched: int = 0
    waits: list[float] = field(default_factory=list)  # of answered calls
    ewt_errors: list[float] = field(default_factory=list)  # |expected - real| wait
    decision_ns: list[int] = field(default_factory=list)

    @property
    def sl(self) -> float:
        return self.in_sl / self.offered if self.offered else 0.0

    @property
    def abandon(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0

    @property
    def asa_s(self) -> float:
        return sum(self.waits) / len(self.waits) if self.waits else 0.0

    @property
    def skill_match(self) -> float:
        return self.matched / self.answered if self.answered else 0.0

    @property
    def ewt_mae_s(self) -> float:
        return sum(self.ewt_errors) / len(self.ewt_errors) if self.ewt_errors else 0.0

    @property
    def p99_s(self) -> float:
        return self.wait_quantile(0.99)

    @property
    def max_s(self) -> float:
        return max(self.waits, default=0.0)

    def wait_quantile(self, q: float) -> float:
        if not self.waits:
            return 0.0
        ordered = sorted(self.waits)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def decision_us(self, q: float) -> float:
        if not self.decision_ns:
            return 0.0
        ordered = sorted(self.decision_ns)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def run_days(
    workload: Workload, scenario: Scenario, days: Iterable[int], timed: bool = False
) -> Figures:
    """Run the scenario over the given replications (day r uses the seed + r)."""
    result = RoutingResult()
    for day in days:
        run_day(workload, scenario, day, result, timed)
    return Figures(
        offered=result.offered,
        answered=result.answered,
        in_sl=result.answered_in_sl,
        abandoned=result.abandoned,
        matched=result.matched,
        waits=result.waits,
        ewt_errors=result.ewt_error_s,
        decision_ns=result.decision_ns,
    )


def reserve_router(
    workload: Workload,
    reserves: dict[str, int] | None = None,
    service_level_s: float | None = None,
    guard_s: float | None = 180.0,
    name: str = "reserve",
) -> Scenario:
    """The router with every topic queue in one reservation group. Reserves default to
    one agent per pool, none for the smallest pools (issue 23)."""
    base = skills_router(workload)
    if reserves is None:
        reserves = {p.primary: 0 if p.count <= SMALL_POOL else 1 for p in workload.agents}
    group = ReservationGroup(
        queues={t: reserves.get(t, 0) for t in workload.topics},
        service_level_s=service_level_s or workload.service_level_threshold_s,
        guard_s=guard_s,
    )
    config = base.config.model_copy(update={"groups": {"hotline": group}})
    return Scenario(name, config, base.queue_of)


def add_agent(workload: Workload, pool: str) -> Workload:
    """What-if: one more agent in `pool` (its primary topic)."""
    pools = tuple(
        p.model_copy(update={"count": p.count + 1}) if p.primary == pool else p
        for p in workload.agents
    )
    return workload.model_copy(update={"agents": pools})


def cross_train(scenario: Scenario, pool: str, topic: str, level: int = 7) -> Scenario:
    """What-if: every agent of `pool` at `level` in `topic` too."""
    agents = tuple(
        a.model_copy(update={"skills": {**a.skills, topic: max(level, a.skills.get(topic, 0))}})
        if a.queues and a.queues[0] == pool
        else a
        for a in scenario.config.agents
    )
    config = scenario.config.model_copy(update={"agents": agents})
    return Scenario(scenario.name, config, scenario.queue_of)
