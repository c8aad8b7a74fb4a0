"""A calling campaign in simulated time beside the inbound load (`cti bench campaign`):
`numbers` citizens to tell a result, worked by the same agents through the real ACD
core (`Acd.call_out(task=True)`, so its outbound policy decides: inbound first, the lines
lent to tasks, agents kept ready), day after day of the workload until every number is
done, and the same days without the campaign for comparison.

A day of the workload is the calling window: tasks are placed only inside it. Each
attempt's outcome is drawn (seeded): the citizen answers after a few seconds and is told
(or refuses, or it is a wrong number), does not answer (30 s), or is busy (2 s). No
answer or busy is tried again `retry_after_s` later, up to `max_attempts`. A dispatcher
round every `every_s` gives due numbers to ready agents, the longest idle first, as the
CTI's previews do.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from cti.queues.errors import AcdError
from cti.queues.events import CallAnswered, CallbackFailed, CallCompleted, Decisions, PlaceCallback
from cti.queues.models import AgentState
from cti.sim.routing import Day, RoutingResult, Scenario
from cti.sim.workload import Workload

DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    numbers: int = 10_000
    max_attempts: int = 3
    retry_after_s: float = 3600.0
    every_s: float = 5.0
    p_answer: float = 0.65
    p_busy: float = 0.10  # else no answer
    p_refused: float = 0.03  # of answered calls
    p_wrong: float = 0.02  # of answered calls
    talk_mean_s: float = 90.0
    seed: int = 7
    max_days: int = 200


@dataclass(slots=True)
class Number:
    attempts: int = 0
    due_at: float = 0.0  # campaign time (day * DAY_S + time of day)
    done: str | None = None  # informed, refused, wrong_number, failed


@dataclass(slots=True)
class CampaignFigures:
    numbers: int = 0
    days: int = 0
    completed_at_s: float | None = None  # campaign time when the last number was done
    placed: int = 0
    outside_hours: int = 0  # placed outside the day's window: must stay 0
    over_attempts: int = 0  # numbers tried more often than allowed: must stay 0
    outcomes: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)  # the ACD's, by code
    with_campaign: RoutingResult = field(default_factory=RoutingResult)
    without: RoutingResult = field(default_factory=RoutingResult)

    @property
    def sl_change(self) -> float:
        return self.with_campaign.sl - self.without.sl


class CampaignDay(Day):
    """One day of the workload with the campaign's calls placed among the inbound."""

    def __init__(
        self,
        workload: Workload,
        scenario: Scenario,
        rep: int,
        result: RoutingResult,
        run: Campaign,
        day: int,
    ) -> None:
        super().__init__(workload, scenario, rep, result, False)
        self.run_ = run
        self.day = day
        self.task_of: dict[str, int] = {}  # ACD call id -> number
        t = 0.0
        while t < workload.duration_s:
            self._push(t, "dispatch", "")
            t += run.plan.every_s

    def _other(self, at: float, kind: str, call: str) -> None:
        acd = self.acd
        if kind == "dispatch":
            self._dispatch(at)
        elif kind == "reached":
            self._apply(at, acd.offer_answered, call, at)
        elif kind == "missed":
            self._apply(at, acd.caller_hung_up, call, at)
        elif kind == "talked":
            self._apply(at, acd.call_ended, call, at)

    def _dispatch(self, at: float) -> None:
        run, acd = self.run_, self.acd
        now = self.day * DAY_S + at
        ready = sorted(
            (a for a in acd.agents() if a.state == AgentState.READY), key=lambda a: a.since
        )
        for agent in ready:
            number = run.next_due(now)
            if number is None:
                return
            call = f"t{number}-{run.numbers[number].attempts + 1}"
            self.task_of[call] = number
            try:
                self._apply(at, acd.call_out, call, agent.id, f"+3598{number:08d}", at, True)
            except AcdError as exc:
                del self.task_of[call]
                run.figures.refusals[exc.code] = run.figures.refusals.get(exc.code, 0) + 1
                run.put_back(number)
                return  # the policy says no for now: the next round tries again

    def _more(self, at: float, decisions: Decisions) -> None:
        run = self.run_
        for command in decisions.commands:
            if isinstance(command, PlaceCallback) and command.call in self.task_of:
                run.placed(self.task_of[command.call], at, self.workload.duration_s)
                outcome, ring_s = run.draw()
                run.pending[command.call] = outcome
                self._push(at + ring_s, "reached" if outcome else "missed", command.call)
        for event in decisions.events:
            call = getattr(event, "call", None)
            if call not in self.task_of:
                continue
            number = self.task_of[call]
            now = self.day * DAY_S + event.at
            if isinstance(event, CallAnswered):
                self._push(event.at + run.talk_s(), "talked", call)
            elif isinstance(event, CallCompleted):
                run.finished(number, run.pending.pop(call, None) or "informed", now)
            elif isinstance(event, CallbackFailed):
                run.pending.pop(call, None)
                run.finished(number, "no_answer", now)


class Campaign:
    def __init__(self, plan: CampaignPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.numbers = [Number() for _ in range(plan.numbers)]
        self.due: deque[int] = deque(range(plan.numbers))  # in due order
        self.later: list[int] = []  # retries, due later
        self.pending: dict[str, str | None] = {}  # call -> what answering will come to
        self.figures = CampaignFigures(numbers=plan.numbers)
        self.left = plan.numbers

    def next_due(self, now: float) -> int | None:
        if not self.due or self.numbers[self.due[0]].due_at > now:
            self._promote(now)
        if self.due and self.numbers[self.due[0]].due_at <= now:
            return self.due.popleft()
        return None

    def _promote(self, now: float) -> None:
        ready = [n for n in self.later if self.numbers[n].due_at <= now]
        if ready:
            self.later = [n for n in self.later if self.numbers[n].due_at > now]
            self.due.extend(sorted(ready, key=lambda n: self.numbers[n].due_at))

    def put_back(self, number: int) -> None:
        self.due.appendleft(number)

    def placed(self, number: int, at: float, window_s: float) -> None:
        n = self.numbers[number]
        n.attempts += 1
        f = self.figures
        f.placed += 1
        if not 0.0 <= at < window_s:
            f.outside_hours += 1
        if n.attempts > self.plan.max_attempts:
            f.over_attempts += 1

    def draw(self) -> tuple[str | None, float]:
        """(what answering comes to, or None: not answered; seconds until it is known)."""
        p, r = self.plan, self.rng.random()
        if r < p.p_answer:
            told = self.rng.random()
            outcome = (
                "refused"
                if told < p.p_refused
                else "wrong_number"
                if told < p.p_refused + p.p_wrong
                else "informed"
            )
            return outcome, self.rng.uniform(3.0, 20.0)
        if r < p.p_answer + p.p_busy:
            return None, 2.0
        return None, 30.0

    def talk_s(self) -> float:
        return max(20.0, self.rng.expovariate(1.0 / self.plan.talk_mean_s))

    def finished(self, number: int, outcome: str, now: float) -> None:
        n = self.numbers[number]
        f = self.figures
        if outcome == "no_answer":
            if n.attempts < self.plan.max_attempts:
                n.due_at = now + self.plan.retry_after_s
                self.later.append(number)
                return
            outcome = "failed"
        n.done = outcome
        f.outcomes[outcome] = f.outcomes.get(outcome, 0) + 1
        self.left -= 1
        if self.left == 0:
            f.completed_at_s = now


def run_campaign(workload: Workload, scenario: Scenario, plan: CampaignPlan) -> CampaignFigures:
    """Days of the workload (seeds day 0, 1, ...) with the campaign until it is done (or
    `max_days`), and the same days without it."""
    run = Campaign(plan)
    day = 0
    while run.left and day < plan.max_days:
        CampaignDay(workload, scenario, day, run.figures.with_campaign, run, day).run()
        Day(workload, scenario, day, run.figures.without, False).run()
        day += 1
    run.figures.days = day
    return run.figures
