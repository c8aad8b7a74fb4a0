"""Availability-based reservation: routing for the queues of a reservation group.

A call answered within the group's `service_level_s` needs an agent who is ready, or in
wrap-up ending within that time, when it arrives. Per pool (the agents whose home queue
is that queue) the engine counts those *available* agents minus the calls already
waiting for them (the pool's own line, served in order). Rules, in order of preference:

- `own_pool`: a ready agent of the queue's own pool takes the head of its line;
- `borrow_expert`: an expert of the queue from another pool, if that pool keeps more
  than its reserve available;
- `borrow`: a helper of another pool, on the same reserve condition, only if a helper
  taking the head of the line now lets more of its callers be answered within
  `service_level_s` than the own pool alone would, serving the line in order as its
  agents come free (`helper_gain`): a call that can no longer make it, or that an own
  agent in wrap-up will take in time, spends no helper;
- `guard`: once a call of the line has waited `guard_s`, any agent of the queue.

Helpers come from the pool with the most available above its reserve; agents are taken
in the queue's routing order. A line is served from its head (its order), so nobody
jumps ahead of an older caller of the same queue and priority.

Pure: reads the engine's records, returns choices; dispatch.py acts on them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import Any

from cti.queues.explain import Why, reservation_why
from cti.queues.lines import Line, Pool, helper_gain
from cti.queues.models import AcdConfig, ReservationGroup
from cti.queues.routing import fits
from cti.queues.state import Agent, Call, Queue

RANK = {"own_pool": 0, "borrow_expert": 1, "guard": 2, "borrow": 2}
Offer = Callable[[Call, Agent, Why], None]
Wraps = dict[str, list[float]]  # pool -> wrap-up ends of its agents, in order


class Reservation:
    """The reservation groups of a configuration and the choices made for them."""

    def __init__(self, config: AcdConfig, queues: Mapping[str, Queue], calls: Mapping[str, Call]):
        self.groups = config.groups
        self.group_of = {q: name for name, g in config.groups.items() for q in g.queues}
        self.ageing_per_s = config.ageing_per_s
        self._queues, self._calls = queues, calls

    # --- the figures --------------------------------------------------------------------

    def wraps(self, now: float) -> Wraps:
        """Per pool, the wrap-up ends of its agents who will be free after it (nothing
        pending, phone reachable), in order. Constant while a settling runs."""
        return {
            name: sorted(
                a.wrap_until
                for a in self._queues[name].pool_wrapping.values()
                if a.pending is None and a.reachable
            )
            for name in self.group_of
        }

    def pools(self, group: ReservationGroup, now: float, wraps: Wraps) -> dict[str, Pool]:
        """Per pool: ready, wrapping (ending within the threshold), waiting, reserve,
        available (ready + wrapping - waiting) and spare (available - reserve)."""
        out = {}
        horizon = now + group.service_level_s
        for name, reserve in group.queues.items():
            q = self._queues[name]
            wrapping = bisect.bisect_right(wraps[name], horizon)
            ready, waiting = len(q.pool_ready), len(q.waiting)
            available = ready + wrapping - waiting
            out[name] = {
                "ready": ready,
                "wrapping": wrapping,
                "waiting": waiting,
                "reserve": reserve,
                "available": available,
                "spare": available - reserve,
            }
        return out

    def line(self, q: Queue, now: float, wraps: Wraps, extra: Call | None = None) -> Line:
        """The state of `q`'s line (with `extra` at its head: a call not yet in line)."""
        group = self.groups[self.group_of[q.name]]
        pools = self.pools(group, now, wraps)
        own = pools[q.name]
        frees = [now] * own["ready"] + wraps[q.name]
        # The waiting keys hold each call's join time (`entered`) second.
        entered = [key[1] for key, _ in q.waiting[: len(frees) + 1]]
        if extra is not None:
            entered.insert(0, extra.entered)
            own["waiting"] += 1
            own["available"] -= 1
            own["spare"] -= 1
        line = Line(pools, own["waiting"], own["ready"] + own["wrapping"])
        aim = group.service_level_s
        line.helper_gains = bool(entered) and helper_gain(entered, frees, now, aim) > 0
        # `e + guard` as the guard timer computes it: `now - e` may be a hair short.
        guard = group.guard_s
        if guard is not None:
            line.guarded = any(now >= key[1] + guard for key, _ in q.waiting) or (
                extra is not None and now >= extra.entered + guard
            )
        return line

    # --- the rule ------------------------------------------------------------------------

    def rule(self, agent: Agent, q: Queue, line: Line) -> str | None:
        """The rule that lets this ready agent take the head of `q`'s line (None: none)."""
        profile = agent.profile
        if not agent.reachable or q.name not in profile.queues:
            return None
        if fits(profile, q.requirements[-1]) is None:
            return None  # not even the queue's loosest requirement
        home = profile.queues[0]
        if home == q.name:
            return "own_pool"
        pool = line.pools.get(home)  # None: an agent from outside the group
        keeps_reserve = pool is None or pool["spare"] > 0
        if keeps_reserve and fits(profile, q.requirements[0]) is not None:
            return "borrow_expert"
        if line.guarded:
            return "guard"
        if keeps_reserve and line.helper_gains:
            return "borrow"
        return None

    def choose(
        self,
        q: Queue,
        now: float,
        extra: Call | None = None,
        own_only: bool = False,
        wraps: Wraps | None = None,
    ) -> tuple[Agent, Why] | None:
        """The agent for the head of `q`'s line (or for `extra`, a call that would be its
        head), with the explanation; None: the call waits."""
        if not q.ready or (own_only and not q.pool_ready):
            return None
        line = self.line(q, now, wraps or self.wraps(now), extra)
        found = self._own(q, line) if q.pool_ready else None
        if found is None and not own_only:
            found = self._borrowed(q, line)
        if found is None:
            return None
        head = extra if extra is not None else self._calls[q.waiting[0][1]]
        agent, rule = found
        why = reservation_why(
            q, head, now, agent, rule, self.group_of[q.name], line.summary(), line.pools,
            lambda other: self.rule(other, q, line),
        )  # fmt: skip
        return agent, why

    def _own(self, q: Queue, line: Line) -> tuple[Agent, str] | None:
        """The first agent of the queue's own pool in its routing order."""
        for *_, aid in q.ready_order:
            agent = q.pool_ready.get(aid)
            if agent is not None and self.rule(agent, q, line) == "own_pool":
                return agent, "own_pool"
        return None

    def _borrowed(self, q: Queue, line: Line) -> tuple[Agent, str] | None:
        """The best agent of another pool: experts first, then the pool with the most
        available above its reserve, then the queue's routing order."""
        helpers = line.guarded or line.helper_gains
        if helpers:
            keys = q.ready_order
        else:  # only experts of the queue can be borrowed: no need to look at anyone else
            keys = sorted(q.ready_keys[aid] for aid in q.ready_experts if aid not in q.pool_ready)
        best: tuple[tuple[Any, ...], Agent, str] | None = None
        seen: set[str] = set()  # pools with a candidate: only their experts can do better
        for key in keys:
            aid = key[2]
            if aid in q.pool_ready:
                continue
            agent, expert = q.ready[aid], aid in q.ready_experts
            home = agent.profile.queues[0]
            pool = line.pools.get(home)
            if not expert and (
                home in seen or (not line.guarded and pool is not None and pool["spare"] <= 0)
            ):
                continue
            rule = self.rule(agent, q, line)
            if rule is None:
                continue
            seen.add(home)
            rank = (RANK[rule], 1_000 if pool is None else -pool["spare"], key)
            if best is None or rank < best[0]:
                best = (rank, agent, rule)
        return None if best is None else (best[1], best[2])

    def pick_new(self, call: Call, q: Queue, now: float) -> tuple[Agent, Why] | None:
        """The agent for a call not in line (new, or back from an offer) if it would head
        its line; behind older callers it waits (the settling after the step acts)."""
        key = (self.ageing_per_s * call.entered - call.priority, call.entered, call.seq)
        if q.waiting and q.waiting[0][0] < key:
            return None
        return self.choose(q, now, extra=call)

    def settle(self, now: float, offer: Offer) -> None:
        """Pair every ready agent a rule allows with the head of a line: own pools first,
        then one borrow at a time, the line whose head comes first by priority first."""
        queues = [self._queues[name] for name in self.group_of]
        wraps = self.wraps(now)
        while True:
            for q in queues:
                while q.waiting and q.pool_ready:
                    choice = self.choose(q, now, own_only=True, wraps=wraps)
                    if choice is None:
                        break
                    self._take(q, offer, *choice)
            lines = sorted((q for q in queues if q.waiting and q.ready), key=_head_key)
            for q in lines:
                choice = self.choose(q, now, wraps=wraps)
                if choice is not None:
                    self._take(q, offer, *choice)
                    break
            else:
                return

    def waiting_why(self, call: Call, now: float) -> Why:
        """Why a waiting call has no agent: its line, the pools, each candidate's rule."""
        q = self._queues[call.queue]
        line = self.line(q, now, self.wraps(now))
        return reservation_why(
            q, call, now, None, None, self.group_of[q.name], line.summary(), line.pools,
            lambda other: self.rule(other, q, line),
        )  # fmt: skip

    def may_serve(self, agent: Agent, call: Call, now: float) -> bool:
        """Would a rule let this agent, if ready, take the head of the call's line now?"""
        q = self._queues[call.queue]
        return self.rule(agent, q, self.line(q, now, self.wraps(now))) is not None

    def _take(self, q: Queue, offer: Offer, agent: Agent, why: Why) -> None:
        _, call_id = q.waiting.pop(0)
        offer(self._calls[call_id], agent, why)


def _head_key(q: Queue) -> tuple[tuple[float, float, int], str]:
    return q.waiting[0]
