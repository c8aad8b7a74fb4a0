"""Routing studies in simulated time: a workload's calls and agents driven through the
real ACD core (`cti.queues.Acd`) by a discrete-event loop, no sockets, no sleeping.

Agents answer the moment they are offered a call (the workload files define no ring
time), talk for the drawn handling time, then wrap up as their queue says. Citizens
hang up when their patience runs out, ringing or not.
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cti.queues.engine import Acd
from cti.queues.events import (
    CallAbandoned,
    CallAnswered,
    CallOverflowed,
    CallQueued,
    ConnectToAgent,
    Decisions,
)
from cti.queues.models import AcdConfig, AgentProfile, QueueConfig, RelaxationStep
from cti.sim.workload import CallPlan, Workload, generate_calls

_Kind = str  # arrive, answer, hangup, abandon; a subclass adds its own (cti.sim.campaign)


@dataclass(frozen=True, slots=True)
class Scenario:
    """An ACD configuration for a workload and the queue each topic's calls go to."""

    name: str
    config: AcdConfig
    queue_of: dict[str, str]


@dataclass(slots=True)
class RoutingResult:
    """Figures over calls arriving after the warm-up (definitions: the workload file)."""

    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    overflowed: int = 0
    wait_answered_s: float = 0.0
    waits: list[float] = field(default_factory=list)  # of answered calls, in answer order
    matched: int = 0
    ewt_error_s: list[float] = field(default_factory=list)
    decision_ns: list[int] = field(default_factory=list)

    @property
    def sl(self) -> float:
        return self.answered_in_sl / self.offered if self.offered else 0.0

    @property
    def abandon(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0

    @property
    def asa_s(self) -> float:
        return self.wait_answered_s / self.answered if self.answered else 0.0

    @property
    def skill_match(self) -> float:
        return self.matched / self.answered if self.answered else 0.0

    def decision_us(self, quantile: float) -> float:
        if not self.decision_ns:
            return 0.0
        ordered = sorted(self.decision_ns)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] / 1000.0

    def ewt_mae_s(self) -> float:
        return statistics.fmean(self.ewt_error_s) if self.ewt_error_s else 0.0


def _agents(
    workload: Workload, queues_for: Callable[[str, tuple[str, ...]], tuple[str, ...]]
) -> list[AgentProfile]:
    """Each pool's agents: primary topic at level 9, secondary topics at level 5."""
    out = []
    for pool in workload.agents:
        skills = {pool.primary: 9, **dict.fromkeys(pool.secondary, 5)}
        for i in range(pool.count):
            out.append(
                AgentProfile(
                    id=f"{pool.primary}-{i + 1}",
                    endpoint=f"PJSIP/{pool.primary}-{i + 1}",
                    skills=skills,
                    queues=queues_for(pool.primary, pool.secondary),
                )
            )
    return out


def _home_first(
    primary: str, secondary: tuple[str, ...], topics: tuple[str, ...]
) -> tuple[str, ...]:
    rest = tuple(t for t in topics if t != primary and t not in secondary)
    return (primary, *secondary, *rest)


def skills_router(
    workload: Workload,
    relaxation: Sequence[RelaxationStep] = (
        RelaxationStep(after_s=10, min_level=5),
        RelaxationStep(after_s=15, any_agent=True),
    ),
    agent_selection: Literal["best_level", "longest_idle"] = "best_level",
    ageing_per_s: float = 1 / 60,
    match_bonus: float = 1.0,
) -> Scenario:
    """Our router: one queue per topic asking for the topic at the required level,
    relaxing to secondary experts and then to anyone as the wait grows."""
    topics = tuple(workload.topics)
    queue = QueueConfig(
        skills={},
        relaxation=tuple(relaxation),
        service_level_s=workload.service_level_threshold_s,
        wrap_up_s=workload.wrap_up_s,
    )
    queues = {t: queue.model_copy(update={"skills": {t: workload.required_level}}) for t in topics}
    config = AcdConfig(
        queues=queues,
        agent_selection=agent_selection,
        ageing_per_s=ageing_per_s,
        match_bonus=match_bonus,
        agents=tuple(
            _agents(workload, lambda primary, secondary: _home_first(primary, secondary, topics))
        ),
    )
    return Scenario("router", config, {t: t for t in topics})


def siloed_fcfs(workload: Workload) -> Scenario:
    """Reference: one FCFS queue per topic served only by that topic's primary agents."""
    topics = tuple(workload.topics)
    queue = QueueConfig(
        service_level_s=workload.service_level_threshold_s, wrap_up_s=workload.wrap_up_s
    )
    config = AcdConfig(
        queues=dict.fromkeys(topics, queue),
        agent_selection="longest_idle",
        ageing_per_s=0.0,
        match_bonus=0.0,
        agents=tuple(_agents(workload, lambda primary, secondary: (primary,))),
    )
    return Scenario("siloed", config, {t: t for t in topics})


def pooled_fcfs(workload: Workload) -> Scenario:
    """Reference: one FCFS queue served by every agent regardless of skill."""
    queue = QueueConfig(
        service_level_s=workload.service_level_threshold_s, wrap_up_s=workload.wrap_up_s
    )
    config = AcdConfig(
        queues={"all": queue},
        agent_selection="longest_idle",
        ageing_per_s=0.0,
        match_bonus=0.0,
        agents=tuple(_agents(workload, lambda primary, secondary: ("all",))),
    )
    return Scenario("pooled", config, dict.fromkeys(workload.topics, "all"))


def simulate(
    workload: Workload,
    scenario: Scenario,
    replications: int | None = None,
    duration_s: float | None = None,
    time_decisions: bool = False,
) -> RoutingResult:
    """Run the scenario over `replications` seeded days of the workload."""
    result = RoutingResult()
    wl = workload if duration_s is None else workload.model_copy(update={"duration_s": duration_s})
    for rep in range(replications if replications is not None else workload.replications):
        run_day(wl, scenario, rep, result, time_decisions)
    return result


def run_day(
    workload: Workload, scenario: Scenario, day: int, result: RoutingResult, timed: bool = False
) -> None:
    """Run one seeded day (seed + `day`) of the scenario, adding its figures to `result`;
    `timed` also records how long each engine step took."""
    Day(workload, scenario, day, result, timed).run()


class Day:
    def __init__(
        self, workload: Workload, scenario: Scenario, rep: int, result: RoutingResult, timed: bool
    ) -> None:
        self.workload = workload
        self.scenario = scenario
        self.result = result
        self.timed = timed
        self.acd = Acd(scenario.config, 0.0)
        self.skills = {a.id: a.skills for a in scenario.config.agents}
        self.plans: dict[str, CallPlan] = {}
        self.ewt: dict[str, float] = {}
        self.heap: list[tuple[float, int, _Kind, str]] = []
        self.live: set[str] = set()  # calls in the ACD before an answer or an outcome
        self.seq = 0
        for plan in generate_calls(workload, rep):
            self.plans[plan.id] = plan
            self._push(plan.arrival_s, "arrive", plan.id)

    def _push(self, at: float, kind: _Kind, call: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, call))

    def _counted(self, call: str) -> bool:
        return self.plans[call].arrival_s >= self.workload.warmup_s

    def run(self) -> None:
        acd = self.acd
        for agent in self.scenario.config.agents:
            self._apply(0.0, acd.login, agent.id, 0.0, True)
        live = self.live
        while self.heap:
            deadline = acd.next_deadline()
            if deadline is not None and deadline <= self.heap[0][0]:
                self._apply(deadline, acd.tick, deadline)
                continue
            at, _, kind, call = heapq.heappop(self.heap)
            if kind == "arrive":
                plan = self.plans[call]
                live.add(call)
                if self._counted(call):
                    self.result.offered += 1
                self._apply(at, acd.call_arrived, call, self.scenario.queue_of[plan.topic], at)
                self._push(at + plan.patience_s, "abandon", call)
            elif kind == "abandon" and call in live:
                self._apply(at, acd.caller_hung_up, call, at)
            elif kind == "answer" and call in live:
                self._apply(at, acd.offer_answered, call, at)
            elif kind == "hangup":
                self._apply(at, acd.call_ended, call, at)
            elif kind not in ("answer", "abandon"):
                self._other(at, kind, call)

    def _other(self, at: float, kind: str, call: str) -> None:
        """An event of a subclass's own (the base has none)."""

    def _more(self, at: float, decisions: Decisions) -> None:
        """What a subclass does with a step's decisions besides the inbound calls'."""

    def _apply(self, at: float, method: Callable[..., Decisions], *args: object) -> None:
        if self.timed:
            start = time.perf_counter_ns()
            decisions = method(*args)
            self.result.decision_ns.append(time.perf_counter_ns() - start)
        else:
            decisions = method(*args)
        live = self.live
        self._more(at, decisions)
        for command in decisions.commands:
            if isinstance(command, ConnectToAgent):
                self._push(at, "answer", command.call)
        for event in decisions.events:
            if getattr(event, "call", None) not in self.plans:
                continue  # not an inbound call of the workload (agent states, a task's)
            if isinstance(event, CallAnswered):
                live.discard(event.call)
                plan = self.plans[event.call]
                self._push(event.at + plan.handling_s, "hangup", event.call)
                if self._counted(event.call):
                    self._answered(event, plan)
            elif isinstance(event, CallAbandoned | CallOverflowed):
                live.discard(event.call)
                if self._counted(event.call):
                    if isinstance(event, CallAbandoned):
                        self.result.abandoned += 1
                    else:
                        self.result.overflowed += 1
            elif isinstance(event, CallQueued) and event.expected_wait_s is not None:
                self.ewt[event.call] = event.expected_wait_s

    def _answered(self, event: CallAnswered, plan: CallPlan) -> None:
        r = self.result
        r.answered += 1
        r.wait_answered_s += event.wait_s
        r.waits.append(event.wait_s)
        if event.wait_s <= self.workload.service_level_threshold_s:
            r.answered_in_sl += 1
        if self.skills[event.agent].get(plan.topic, 0) >= self.workload.required_level:
            r.matched += 1
        if event.call in self.ewt:
            r.ewt_error_s.append(abs(self.ewt[event.call] - event.wait_s))
