"""Why this agent: the explanation of each routing decision, and the recent ones kept
per call so a supervisor can read them on demand (`GET /api/v1/calls/{id}/routing`).

Reservation decisions are explained by reservation.py; this module explains the
relaxation mode's (requirements in force, reserve, the ready agents in routing order)
and keeps them all. An explanation is a JSON-ready dict: it travels with the call's
`CallOffered` event (`why`) and is kept here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cti.queues.routing import fits, min_level
from cti.queues.state import Agent, Call, Queue

Why = dict[str, Any]
CANDIDATES = 8  # ready agents listed per decision, in routing order (and the chosen one)


def relaxation_why(
    q: Queue, call: Call, agent: Agent | None, now: float, spare: int | None = None
) -> Why:
    """A relaxation-mode offer (or, with no agent, why the call still waits): the
    requirement in force after the call's relaxation steps, the reserve a helper must
    leave, and the ready agents in routing order."""
    requirement = q.requirements[call.step]
    candidates = []
    for _, _, aid in q.ready_order[:CANDIDATES]:
        other = q.ready[aid]
        candidates.append(_candidate(q, other, now, fits(other.profile, requirement) is not None))
    expert = agent is not None and fits(agent.profile, q.requirements[0]) is not None
    return {
        "mode": "relaxation",
        "rule": None if agent is None else "expert" if expert else f"relaxed_step_{call.step}",
        "agent": None if agent is None else agent.profile.id,
        "queue": q.name,
        "waited_s": round(now - call.entered, 1),
        "step": call.step,
        "requirement": requirement,
        "reserve": q.reserves[call.step],
        "helper_home_spare": None if expert else spare,
        "chosen": None if agent is None else _candidate(q, agent, now, True),
        "candidates": candidates,
        "ready_total": len(q.ready),
    }


def reservation_why(
    q: Queue,
    call: Call,
    now: float,
    chosen: Agent | None,
    rule: str | None,
    group: str,
    line: dict[str, Any],
    pools: dict[str, dict[str, int]],
    allowed: Callable[[Agent], str | None],
) -> Why:
    """A reservation-group offer as a supervisor reads it: the line's cover, each pool's
    availability and reserve, the ready agents in routing order with the rule (if any)
    that lets each take the call, and the rule that chose."""
    candidates = []
    for *_, aid in q.ready_order[:CANDIDATES]:
        agent = q.ready[aid]
        item = _candidate(q, agent, now, fits(agent.profile, q.requirements[-1]) is not None)
        item["expert"] = fits(agent.profile, q.requirements[0]) is not None
        item["rule"] = allowed(agent)
        candidates.append(item)
    return {
        "mode": "reservation",
        "group": group,
        "rule": rule,
        "agent": None if chosen is None else chosen.profile.id,
        "queue": q.name,
        "waited_s": round(now - call.entered, 1),
        "line": line,
        "pools": pools,
        "chosen": None if chosen is None else _candidate(q, chosen, now, True),
        "candidates": candidates,
        "ready_total": len(q.ready),
    }


def fixed_why(rule: str, call: Call, agent: Agent, now: float) -> Why:
    """An offer no routing rule chose: a transfer to a named agent, a ring found after a
    restart."""
    return {
        "mode": rule,
        "rule": rule,
        "agent": agent.profile.id,
        "queue": call.queue,
        "waited_s": round(now - call.entered, 1),
    }


def _candidate(q: Queue, agent: Agent, now: float, fits_now: bool) -> Why:
    return {
        "agent": agent.profile.id,
        "pool": agent.profile.queues[0] if agent.profile.queues else None,
        "level": min_level(agent.profile, q.config.skills),
        "idle_s": round(now - agent.idle_since, 1),
        "fits": fits_now,
    }


class Explanations:
    """The explanations of the last `limit` calls routed, each with its offers in order
    (at most `per_call`: a call offered again and again keeps its latest)."""

    def __init__(self, limit: int = 2000, per_call: int = 8) -> None:
        self._by_call: OrderedDict[str, list[Why]] = OrderedDict()
        self.limit, self.per_call = limit, per_call

    def add(self, call_id: str, at: float, why: Why) -> None:
        kept = self._by_call.pop(call_id, None) or []
        kept.append({"at": at, **why})
        self._by_call[call_id] = kept[-self.per_call :]
        while len(self._by_call) > self.limit:
            self._by_call.popitem(last=False)

    def of(self, call_id: str) -> list[Why]:
        return list(self._by_call.get(call_id, ()))
