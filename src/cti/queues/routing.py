"""Routing decisions: who fits a call (skills, relaxation, reserves), the ready agents of
each queue in routing order, the waiting lines, and the two choices made on them.

Pure bookkeeping on the records of state.py: no events, no timers.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

from cti.queues.models import AcdConfig, AgentProfile, AgentState, QueueConfig
from cti.queues.state import Agent, Call, Queue, Requirement
from cti.queues.stats import QueueStats


class Routing:
    """The queues' indexes of ready agents and waiting calls, and the choices made on them."""

    def __init__(self, config: AcdConfig, calls: Mapping[str, Call]) -> None:
        self.config = config
        self.queues = {
            name: Queue(
                name,
                q,
                requirements(q),
                [0] + [step.reserve for step in q.relaxation],
                stats=QueueStats(handle_estimate_s=q.default_handle_s),
            )
            for name, q in config.queues.items()
        }
        # Any reserve at all: only then do helpers need counting (a hot path otherwise).
        self.uses_reserves = any(
            step.reserve for q in config.queues.values() for step in q.relaxation
        )
        self._calls = calls  # every call in the ACD, by id (the waiting lines hold ids)
        # Queues routed by reservation (reservation.py): an agent's own pick skips them.
        self.grouped = frozenset(name for g in config.groups.values() for name in g.queues)

    # --- the choices -------------------------------------------------------------------

    def pick_agent(self, call: Call, q: Queue) -> Agent | None:
        """The ready agent for this call: best level (or not), then longest idle, then id —
        the first in the queue's routing order who may take the call."""
        requirement = q.requirements[call.step]
        reserve = q.reserves[call.step]
        for _, _, aid in q.ready_order:
            agent = q.ready[aid]
            if fits(agent.profile, requirement) is None:
                continue
            if reserve and aid not in q.ready_experts and self.spare(agent) < reserve:
                continue
            return agent
        return None

    def pick_call(self, agent: Agent) -> Call | None:
        """The waiting call this agent should take (taken out of its line): highest
        effective priority first.

        Effective priority = priority + ageing x wait, plus `match_bonus` in the queues
        whose unrelaxed requirements the agent meets. Within one queue the bonus is the
        same for every call, so each queue's line is scanned in its own order only up to
        the first call the agent may serve.
        """
        best: Call | None = None
        best_key: tuple[float, float, int] | None = None
        bonus = self.config.match_bonus
        spare = self.spare(agent) if self.uses_reserves else 0
        for name in agent.profile.queues:
            if name in self.grouped:
                continue
            q = self.queues[name]
            expert = fits(agent.profile, q.requirements[0]) is not None
            shift = bonus if expert else 0.0
            for key, call_id in q.waiting:
                adjusted = (key[0] - shift, key[1], key[2])
                if best_key is not None and adjusted >= best_key:
                    break
                call = self._calls[call_id]
                if fits(agent.profile, q.requirements[call.step]) is not None and (
                    expert or spare >= q.reserves[call.step]
                ):
                    best, best_key = call, adjusted
                    break
        if best is not None:
            self.remove_waiting(best, self.queues[best.queue])
        return best

    def may_serve(self, agent: Agent, call: Call) -> bool:
        """Would this agent, if ready, be allowed to take this call now?"""
        q = self.queues[call.queue]
        return (
            agent.reachable
            and call.queue in agent.profile.queues
            and fits(agent.profile, q.requirements[call.step]) is not None
            and (
                fits(agent.profile, q.requirements[0]) is not None
                or self.spare(agent) >= q.reserves[call.step]
            )
        )

    def spare(self, agent: Agent) -> int:
        """Other experts of the agent's home queue (its first) who are ready."""
        if not agent.profile.queues:
            return 0
        home = self.queues[agent.profile.queues[0]]
        return len(home.ready_experts) - (agent.profile.id in home.ready_experts)

    # --- the ready agents ----------------------------------------------------------------

    def index(self, agent: Agent) -> None:
        """Record a logged-in agent as a member of its queues (and ready there, if so)."""
        if agent.state == AgentState.LOGGED_OUT:
            return
        for name in agent.profile.queues:
            self.queues[name].members[agent.profile.id] = agent
        self.update_ready(agent)

    def unindex(self, agent: Agent) -> None:
        if agent.profile.queues:
            home = self.queues[agent.profile.queues[0]]
            home.pool_ready.pop(agent.profile.id, None)
            home.pool_wrapping.pop(agent.profile.id, None)
        for name in agent.profile.queues:
            q = self.queues[name]
            q.members.pop(agent.profile.id, None)
            q.not_ready.discard(agent.profile.id)
            _drop_ready(q, agent.profile.id)

    def update_ready(self, agent: Agent) -> None:
        """Put the agent in (or out of) its queues' routing order as its state says."""
        routable = agent.state == AgentState.READY and agent.reachable
        aid = agent.profile.id
        if agent.profile.queues:
            home = self.queues[agent.profile.queues[0]]
            _keep(home.pool_ready, aid, agent, routable)
            _keep(home.pool_wrapping, aid, agent, agent.state == AgentState.WRAP_UP)
        for name in agent.profile.queues:
            q = self.queues[name]
            _keep_id(q.not_ready, aid, agent.state == AgentState.NOT_READY)
            if routable:
                q.ready[aid] = agent
                if fits(agent.profile, q.requirements[0]) is not None:
                    q.ready_experts.add(aid)
                by_level = self.config.agent_selection == "best_level"
                level = min_level(agent.profile, q.config.skills) if by_level else 0
                key = (-level, agent.idle_since, aid)
                old = q.ready_keys.get(aid)
                if old != key:
                    if old is not None:
                        del q.ready_order[bisect.bisect_left(q.ready_order, old)]
                    bisect.insort(q.ready_order, key)
                    q.ready_keys[aid] = key
            else:
                _drop_ready(q, aid)

    # --- the waiting lines -----------------------------------------------------------------

    def add_waiting(self, call: Call, q: Queue) -> None:
        """Put the call in the queue's line at the place its effective priority gives."""
        call.key = (self.config.ageing_per_s * call.entered - call.priority, call.entered, call.seq)
        bisect.insort(q.waiting, (call.key, call.id))

    @staticmethod
    def remove_waiting(call: Call, q: Queue) -> None:
        i = bisect.bisect_left(q.waiting, (call.key, call.id))
        if i < len(q.waiting) and q.waiting[i][1] == call.id:
            del q.waiting[i]

    @staticmethod
    def position(call: Call, q: Queue) -> int:
        return bisect.bisect_left(q.waiting, (call.key, call.id)) + 1

    @staticmethod
    def expected_wait(q: Queue, position: int) -> float | None:
        """position x expected handling time / agents working the queue (None: nobody)."""
        working = len(q.members) - len(q.not_ready)
        if working == 0:
            return None
        return position * q.stats.handle_estimate_s / working


def _keep(members: dict[str, Agent], aid: str, agent: Agent, keep: bool) -> None:
    if keep:
        members[aid] = agent
    else:
        members.pop(aid, None)


def _keep_id(ids: set[str], aid: str, keep: bool) -> None:
    if keep:
        ids.add(aid)
    else:
        ids.discard(aid)


def _drop_ready(q: Queue, aid: str) -> None:
    q.ready.pop(aid, None)
    q.ready_experts.discard(aid)
    old = q.ready_keys.pop(aid, None)
    if old is not None:
        del q.ready_order[bisect.bisect_left(q.ready_order, old)]


def requirements(q: QueueConfig) -> list[Requirement]:
    """What a call must find in an agent after 0, 1, 2... relaxation steps."""
    out: list[Requirement] = [dict(q.skills)]
    for step in q.relaxation:
        if step.any_agent:
            out.append(None)
        else:
            assert step.min_level is not None
            out.append({skill: min(level, step.min_level) for skill, level in q.skills.items()})
    return out


def steps_due(q: QueueConfig, waited_s: float) -> int:
    """How many relaxation steps are in force after waiting `waited_s`."""
    return sum(1 for step in q.relaxation if step.after_s <= waited_s)


def fits(profile: AgentProfile, requirement: Requirement) -> int | None:
    """None if the agent may not take the call; else its lowest level among the skills."""
    if requirement is None:
        return 0
    lowest = 10
    for skill, level in requirement.items():
        have = profile.skills.get(skill, 0)
        if have < level:
            return None
        lowest = min(lowest, have)
    return lowest


def min_level(profile: AgentProfile, skills: dict[str, int]) -> int:
    return min((profile.skills.get(s, 0) for s in skills), default=10)
