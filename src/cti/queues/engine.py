"""The ACD core: agents, waiting calls, routing, timers. Pure: no I/O, time is passed in.

Every public method takes `now`, first runs the timers that fell due up to `now`
(relaxation steps, ring guard, wrap-up end, maximum wait, announcements) at their own
times, then applies the request, and returns the `Decisions` (PBX commands + events).
The driver calls `tick(now)` at `next_deadline()`.

Routing rules (see docs/acd.md):
- a call that can be served now goes to the ready agent that meets its current
  requirements with the best level for the queue's skills, then the longest idle
  (`agent_selection: longest_idle` drops the level), then the agent id;
- an agent that becomes ready takes, among the waiting calls of all its queues that it
  may serve, the one with the highest effective priority (priority + ageing x wait),
  then the longest wait, then the earliest arrival. Ageing makes every waiting call
  eventually outrank new ones, so no queue an agent serves is starved;
- the agent is reserved before the PBX is told; a call that was offered and not
  answered goes back in line at the place it had (its join time is kept).

Invariant after every step: no ready agent may serve any waiting call.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field
from typing import Literal

from cti.queues.errors import AcdError
from cti.queues.events import (
    AgentStateChanged,
    Announce,
    CallAbandoned,
    CallAnswered,
    CallbackAccepted,
    CallbackFailed,
    CallCompleted,
    CallHeld,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallRequeued,
    CallResumed,
    CallTransferred,
    CancelOffer,
    ConnectToAgent,
    Decisions,
    OfferFailure,
    OverflowCall,
    PlaceCallback,
)
from cti.queues.models import (
    LOGIN,
    MISSED,
    UNREACHABLE,
    AcdConfig,
    AgentProfile,
    AgentState,
    QueueConfig,
)
from cti.queues.stats import AgentStats, QueueStats

# The PBX reports a ring-no-answer at the ring timeout; if it says nothing for this
# much longer, the ACD withdraws the offer itself so an agent can never stay reserved.
RING_GRACE_S = 5.0

CallState = Literal["waiting", "offered", "connected"]
Requirement = dict[str, int] | None  # skill -> min level; None: any agent of the queue


@dataclass(slots=True, eq=False)
class _Agent:
    profile: AgentProfile
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    call: _Call | None = None
    wrap_until: float = 0.0
    pending: tuple[AgentState, str | None] | None = None  # applied when wrap-up ends
    reachable: bool = True
    stats: AgentStats = field(default_factory=AgentStats)


@dataclass(slots=True, eq=False)
class _Call:
    id: str
    queue: str
    priority: int
    arrived: float  # first arrival in the ACD
    entered: float  # joined the current queue's line: its place
    seq: int
    key: tuple[float, float, int] = (0.0, 0.0, 0)
    state: CallState = "waiting"
    agent: _Agent | None = None
    offered_at: float = 0.0
    answered_at: float = 0.0
    step: int = 0  # relaxation steps in force
    # Bumps on every state change; stale timers compare it. It starts at seq << 20 so
    # that a call id that comes back (a transfer: a new arrival with the same id) never
    # matches the timers left by its earlier life.
    epoch: int = 0

    def __post_init__(self) -> None:
        self.epoch = self.seq << 20

    callback_number: str | None = None
    calling_back: bool = False  # the current offer is the callback to the citizen
    overflow_offered: bool = False
    held_since: float | None = None  # on hold (answered calls only)


@dataclass(slots=True, eq=False)
class _Queue:
    name: str
    config: QueueConfig
    requirements: list[Requirement]  # index = relaxation steps in force
    reserves: list[int]  # experts a helper must leave ready at home, per step
    waiting: list[tuple[tuple[float, float, int], str]] = field(default_factory=list)
    ready: dict[str, _Agent] = field(default_factory=dict)  # ready, reachable members
    members: dict[str, _Agent] = field(default_factory=dict)  # logged-in members
    ready_experts: set[str] = field(default_factory=set)  # ready members at base level
    # `ready` in routing order: (-level or 0, idle since, id), and each member's key.
    ready_order: list[tuple[int, float, str]] = field(default_factory=list)
    ready_keys: dict[str, tuple[int, float, str]] = field(default_factory=dict)
    stats: QueueStats = field(default_factory=QueueStats)


@dataclass(frozen=True, slots=True)
class AgentView:
    id: str
    state: AgentState
    reason: str | None
    since: float
    call: str | None
    pending: str | None
    reachable: bool


@dataclass(frozen=True, slots=True)
class CallView:
    id: str
    queue: str
    state: CallState
    agent: str | None
    entered: float
    arrived: float
    callback_number: str | None
    held: bool = False


@dataclass(frozen=True, slots=True)
class QueueView:
    name: str
    waiting: int
    ringing: int
    longest_wait_s: float
    agents_logged_in: int
    agents_ready: int
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    service_level: float | None
    abandon_rate: float | None
    asa_s: float | None
    aht_s: float | None
    expected_wait_s: float | None  # for a caller joining now


_TimerKind = Literal["relax", "max_wait", "announce", "ring", "wrap"]


class Acd:
    """The automatic call distributor for one contact center."""

    def __init__(self, config: AcdConfig, now: float = 0.0) -> None:
        self.config = config
        self._now = now
        self._seq = 0
        self._timer_seq = 0
        self._timers: list[tuple[float, int, _TimerKind, str, int]] = []
        self._out = Decisions()
        self._agents: dict[str, _Agent] = {}
        self._calls: dict[str, _Call] = {}
        self._queues = {
            name: _Queue(
                name,
                q,
                _requirements(q),
                [0] + [step.reserve for step in q.relaxation],
                stats=QueueStats(handle_estimate_s=q.default_handle_s),
            )
            for name, q in config.queues.items()
        }
        self._reasons = frozenset(config.not_ready_reasons)
        self._reserves = any(step.reserve for q in config.queues.values() for step in q.relaxation)
        for profile in config.agents:
            self._agents[profile.id] = _Agent(profile, since=now)

    # --- agents --------------------------------------------------------------------

    def upsert_agent(self, profile: AgentProfile, now: float) -> Decisions:
        """Add an agent or change its endpoint, skills or queues (applies at once)."""
        self._advance(now)
        unknown = [q for q in profile.queues if q not in self._queues]
        if unknown:
            raise AcdError("unknown_queue", f"agent {profile.id}: unknown queues {unknown}")
        agent = self._agents.get(profile.id)
        if agent is None:
            self._agents[profile.id] = _Agent(profile, since=self._now)
            return self._flush()
        self._unindex(agent)
        agent.profile = profile
        self._index(agent)
        if agent.state == AgentState.READY:
            self._agent_available(agent)
        return self._flush()

    def remove_agent(self, agent_id: str, now: float) -> Decisions:
        """Take an agent out of the center; only a logged-out agent can be removed."""
        self._advance(now)
        agent = self._agent(agent_id)
        if agent.state != AgentState.LOGGED_OUT:
            raise AcdError("agent_logged_in", f"agent {agent_id} is logged in: log it out first")
        del self._agents[agent_id]
        return self._flush()

    def login(self, agent_id: str, now: float, ready: bool = False) -> Decisions:
        self._advance(now)
        agent = self._agent(agent_id)
        if agent.state != AgentState.LOGGED_OUT:
            raise AcdError("agent_logged_in", f"agent {agent_id} is already logged in")
        if not agent.reachable:
            self._set_state(agent, AgentState.NOT_READY, UNREACHABLE)
        elif ready:
            self._agent_available(agent)
        else:
            self._set_state(agent, AgentState.NOT_READY, LOGIN)
        return self._flush()

    def set_ready(self, agent_id: str, now: float) -> Decisions:
        """Ready now; from wrap-up this finishes it. On a call: cancels a pending change."""
        self._advance(now)
        agent = self._logged_in(agent_id)
        if agent.state in (AgentState.ON_CALL, AgentState.RESERVED):
            agent.pending = None
        elif agent.state != AgentState.READY:
            if not agent.reachable:
                raise AcdError("agent_unreachable", f"agent {agent_id}: the phone is not reachable")
            agent.pending = None
            self._agent_available(agent)
        return self._flush()

    def set_not_ready(self, agent_id: str, reason: str, now: float) -> Decisions:
        """Not ready with a reason; on a call it applies after wrap-up; ringing declines."""
        self._advance(now)
        agent = self._logged_in(agent_id)
        if reason not in self._reasons:
            raise AcdError("unknown_reason", f"not-ready reason {reason!r} is not configured")
        if agent.state == AgentState.ON_CALL:
            agent.pending = (AgentState.NOT_READY, reason)
        elif agent.state == AgentState.RESERVED:
            self._withdraw(agent, "declined", AgentState.NOT_READY, reason)
        else:
            agent.pending = None
            self._set_state(agent, AgentState.NOT_READY, reason)
        return self._flush()

    def logout(self, agent_id: str, now: float) -> Decisions:
        """Log out; on a call it applies after wrap-up; ringing gives the call back."""
        self._advance(now)
        agent = self._logged_in(agent_id)
        if agent.state == AgentState.ON_CALL:
            agent.pending = (AgentState.LOGGED_OUT, None)
        elif agent.state == AgentState.RESERVED:
            self._withdraw(agent, "agent_logout", AgentState.LOGGED_OUT, None)
        else:
            self._set_state(agent, AgentState.LOGGED_OUT, None)
        return self._flush()

    def extend_wrap_up(self, agent_id: str, seconds: float, now: float) -> Decisions:
        self._advance(now)
        agent = self._logged_in(agent_id)
        if agent.state != AgentState.WRAP_UP:
            raise AcdError("not_in_wrap_up", f"agent {agent_id} is {agent.state}, not in wrap-up")
        if not (0 < seconds <= 3600):
            raise AcdError(
                "bad_duration", f"wrap-up extension must be 0 < s <= 3600, got {seconds}"
            )
        agent.wrap_until += seconds
        self._push(agent.wrap_until, "wrap", agent.profile.id, 0)
        return self._flush()

    def set_reachable(self, agent_id: str, reachable: bool, now: float) -> Decisions:
        """The agent's endpoint became (un)reachable: unreachable agents are not routed."""
        self._advance(now)
        agent = self._agent(agent_id)
        if agent.reachable == reachable:
            return self._flush()
        agent.reachable = reachable
        if not reachable and agent.state == AgentState.READY:
            self._set_state(agent, AgentState.NOT_READY, UNREACHABLE)
        elif reachable and agent.state == AgentState.NOT_READY and agent.reason == UNREACHABLE:
            self._agent_available(agent)
        return self._flush()

    # --- calls ---------------------------------------------------------------------

    def call_arrived(self, call_id: str, queue: str, now: float, priority: int = 0) -> Decisions:
        """A caller is on hold for `queue` (priority adds to the queue's base priority)."""
        self._advance(now)
        if call_id in self._calls:
            raise AcdError("duplicate_call", f"call {call_id} is already in the ACD")
        q = self._queue(queue)
        self._seq += 1
        call = _Call(call_id, queue, q.config.priority + priority, self._now, self._now, self._seq)
        self._calls[call_id] = call
        q.stats.offered += 1
        self._enqueue(call, q)
        return self._flush()

    def offer_answered(self, call_id: str, now: float) -> Decisions:
        self._advance(now)
        call = self._offered(call_id)
        agent = call.agent
        assert agent is not None
        q = self._queues[call.queue]
        call.state = "connected"
        call.epoch += 1
        call.answered_at = self._now
        wait = self._now - call.entered
        q.stats.record_answer(wait, q.config.service_level_s)
        agent.stats.answered += 1
        self._set_state(agent, AgentState.ON_CALL, None)
        matched = _fits(agent.profile, q.requirements[0]) is not None
        self._out.events.append(
            CallAnswered(self._now, call.id, q.name, agent.profile.id, wait, matched)
        )
        return self._flush()

    def offer_failed(self, call_id: str, cause: OfferFailure, now: float) -> Decisions:
        """The PBX could not connect the offered agent: the call keeps its place."""
        self._advance(now)
        call = self._offered(call_id)
        agent = call.agent
        assert agent is not None
        reason = UNREACHABLE if cause == "unreachable" else MISSED
        self._ring_failed(call, agent, cause, reason)
        return self._flush()

    def call_ended(self, call_id: str, now: float) -> Decisions:
        """An answered call was hung up (either side): the agent goes to wrap-up."""
        self._advance(now)
        self._complete(self._connected(call_id))
        return self._flush()

    def hold(self, call_id: str, now: float) -> Decisions:
        """The agent puts the citizen on hold; the agent stays on the call."""
        self._advance(now)
        call = self._connected(call_id)
        if call.held_since is not None:
            raise AcdError("already_held", f"call {call_id} is on hold already")
        call.held_since = self._now
        agent = call.agent
        assert agent is not None
        self._out.events.append(CallHeld(self._now, call.id, call.queue, agent.profile.id))
        return self._flush()

    def resume(self, call_id: str, now: float) -> Decisions:
        """The citizen on hold is back in the conversation."""
        self._advance(now)
        call = self._connected(call_id)
        if call.held_since is None:
            raise AcdError("not_held", f"call {call_id} is not on hold")
        held, call.held_since = self._now - call.held_since, None
        agent = call.agent
        assert agent is not None
        self._out.events.append(CallResumed(self._now, call.id, call.queue, agent.profile.id, held))
        return self._flush()

    def transfer_to_agent(self, call_id: str, agent_id: str, now: float) -> Decisions:
        """Hand an answered call straight to a ready agent: the first agent goes to
        wrap-up, the second is offered the call. Like a transfer to a queue, it is a new
        arrival in the call's queue (offered again, its place taken now): if the agent
        does not answer, it waits in that line like any other call."""
        self._advance(now)
        call = self._connected(call_id)
        target = self._agent(agent_id)
        first = call.agent
        assert first is not None
        if target is first:
            raise AcdError("same_agent", f"agent {agent_id} already has call {call_id}")
        if target.state != AgentState.READY or not target.reachable:
            raise AcdError("agent_not_ready", f"agent {agent_id} is {target.state}, not ready")
        self._complete(call)
        self._seq += 1
        handed = _Call(call.id, call.queue, call.priority, call.arrived, self._now, self._seq)
        self._calls[call.id] = handed
        self._queues[call.queue].stats.offered += 1
        self._out.events.append(
            CallTransferred(self._now, call.id, call.queue, first.profile.id, agent_id)
        )
        self._offer(handed, target)
        return self._flush()

    def caller_hung_up(self, call_id: str, now: float) -> Decisions:
        """The citizen's channel is gone. Waiting or ringing: abandoned; talking: ended."""
        self._advance(now)
        call = self._call(call_id)
        q = self._queues[call.queue]
        if call.state == "connected":
            self._complete(call)
        elif call.callback_number is not None:
            self._callback_leg_gone(call, q)
        else:
            agent = call.agent
            if call.state == "waiting":
                self._unqueue(call, q)
            self._forget(call)
            q.stats.abandoned += 1
            who = agent.profile.id if agent else None
            self._out.events.append(
                CallAbandoned(self._now, call.id, q.name, self._now - call.entered, who)
            )
            if agent is not None:
                agent.call = None
                self._release(agent)
        return self._flush()

    def callback_accepted(self, call_id: str, number: str, now: float) -> Decisions:
        """The caller took the callback offer: the call keeps its place, the line may drop."""
        self._advance(now)
        call = self._call(call_id)
        if call.state == "connected":
            raise AcdError("call_connected", f"call {call_id} is already answered")
        if not number or len(number) > 32:
            raise AcdError("bad_number", f"callback number must be 1-32 characters, got {number!r}")
        call.callback_number = number
        self._out.events.append(CallbackAccepted(self._now, call.id, call.queue, number))
        return self._flush()

    def tick(self, now: float) -> Decisions:
        """Run the timers due up to `now`."""
        self._advance(now)
        return self._flush()

    def next_deadline(self) -> float | None:
        """When `tick` must be called next (None: no timer pending)."""
        return self._timers[0][0] if self._timers else None

    # --- views ---------------------------------------------------------------------

    def agents(self) -> list[AgentView]:
        return [_agent_view(a) for a in self._agents.values()]

    def agent_view(self, agent_id: str) -> AgentView | None:
        agent = self._agents.get(agent_id)
        return None if agent is None else _agent_view(agent)

    def profiles(self) -> list[AgentProfile]:
        """Every agent's current profile (with the changes made since the configuration)."""
        return [a.profile for a in self._agents.values()]

    def calls(self) -> list[CallView]:
        return [_call_view(c) for c in self._calls.values()]

    def call_view(self, call_id: str) -> CallView | None:
        call = self._calls.get(call_id)
        return None if call is None else _call_view(call)

    def queue_view(self, name: str, now: float) -> QueueView:
        q = self._queue(name)
        waits = [now - self._calls[cid].entered for _, cid in q.waiting]
        ringing = sum(1 for a in q.members.values() if a.state == AgentState.RESERVED)
        s = q.stats
        return QueueView(
            name,
            len(q.waiting),
            ringing,
            max(waits, default=0.0),
            len(q.members),
            len(q.ready),
            s.offered,
            s.answered,
            s.abandoned,
            s.overflowed,
            s.service_level,
            s.abandon_rate,
            s.asa_s,
            s.aht_s,
            self._expected_wait(q, len(q.waiting) + 1),
        )

    def may_serve(self, agent_id: str, call_id: str) -> bool:
        """Would this agent, if ready, be allowed to take this call now?"""
        agent, call = self._agent(agent_id), self._call(call_id)
        q = self._queues[call.queue]
        return (
            agent.reachable
            and call.queue in agent.profile.queues
            and _fits(agent.profile, q.requirements[call.step]) is not None
            and (
                _fits(agent.profile, q.requirements[0]) is not None
                or self._spare(agent) >= q.reserves[call.step]
            )
        )

    def may_take(self, agent_id: str, call_id: str) -> bool:
        """Could this agent be handed this call now (ready, reachable, not its own)?"""
        agent, call = self._agents.get(agent_id), self._calls.get(call_id)
        return (
            agent is not None
            and call is not None
            and call.agent is not agent
            and agent.state == AgentState.READY
            and agent.reachable
        )

    def queue_stats(self, name: str) -> QueueStats:
        return self._queue(name).stats

    def profile(self, agent_id: str) -> AgentProfile | None:
        """The agent's current profile (it may have changed since the configuration)."""
        agent = self._agents.get(agent_id)
        return None if agent is None else agent.profile

    def agent_stats(self, agent_id: str) -> AgentStats:
        return self._agent(agent_id).stats

    # --- internals: lookups ----------------------------------------------------------

    def _agent(self, agent_id: str) -> _Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise AcdError("unknown_agent", f"no agent {agent_id!r}")
        return agent

    def _logged_in(self, agent_id: str) -> _Agent:
        agent = self._agent(agent_id)
        if agent.state == AgentState.LOGGED_OUT:
            raise AcdError("agent_logged_out", f"agent {agent_id} is not logged in")
        return agent

    def _queue(self, name: str) -> _Queue:
        q = self._queues.get(name)
        if q is None:
            raise AcdError("unknown_queue", f"no queue {name!r}")
        return q

    def _call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            raise AcdError("unknown_call", f"no call {call_id!r} in the ACD")
        return call

    def _connected(self, call_id: str) -> _Call:
        call = self._call(call_id)
        if call.state != "connected":
            raise AcdError("call_not_connected", f"call {call_id} is {call.state}, not connected")
        return call

    def _offered(self, call_id: str) -> _Call:
        call = self._call(call_id)
        if call.state != "offered":
            raise AcdError("call_not_offered", f"call {call_id} is {call.state}, not offered")
        return call

    def _flush(self) -> Decisions:
        out, self._out = self._out, Decisions()
        return out

    # --- internals: agent state --------------------------------------------------------

    def _set_state(self, agent: _Agent, new: AgentState, reason: str | None) -> None:
        old, old_reason = agent.state, agent.reason
        if old == new and old_reason == reason:
            return
        spent = self._now - agent.since
        agent.stats.add_time(old, spent)
        agent.state, agent.reason, agent.since = new, reason, self._now
        if new == AgentState.READY:
            agent.idle_since = self._now
        if new == AgentState.LOGGED_OUT:
            self._unindex(agent)
            agent.pending = None
        else:
            self._index(agent)
        self._out.events.append(
            AgentStateChanged(self._now, agent.profile.id, old, new, reason, spent)
        )

    def _index(self, agent: _Agent) -> None:
        if agent.state == AgentState.LOGGED_OUT:
            return
        for name in agent.profile.queues:
            self._queues[name].members[agent.profile.id] = agent
        self._update_ready(agent)

    def _unindex(self, agent: _Agent) -> None:
        for name in agent.profile.queues:
            q = self._queues[name]
            q.members.pop(agent.profile.id, None)
            self._not_ready_in(q, agent.profile.id)

    def _update_ready(self, agent: _Agent) -> None:
        routable = agent.state == AgentState.READY and agent.reachable
        aid = agent.profile.id
        for name in agent.profile.queues:
            q = self._queues[name]
            if routable:
                q.ready[aid] = agent
                if _fits(agent.profile, q.requirements[0]) is not None:
                    q.ready_experts.add(aid)
                by_level = self.config.agent_selection == "best_level"
                level = _min_level(agent.profile, q.config.skills) if by_level else 0
                key = (-level, agent.idle_since, aid)
                old = q.ready_keys.get(aid)
                if old != key:
                    if old is not None:
                        del q.ready_order[bisect.bisect_left(q.ready_order, old)]
                    bisect.insort(q.ready_order, key)
                    q.ready_keys[aid] = key
            else:
                self._not_ready_in(q, aid)

    @staticmethod
    def _not_ready_in(q: _Queue, aid: str) -> None:
        q.ready.pop(aid, None)
        q.ready_experts.discard(aid)
        old = q.ready_keys.pop(aid, None)
        if old is not None:
            del q.ready_order[bisect.bisect_left(q.ready_order, old)]

    def _spare(self, agent: _Agent) -> int:
        """Other experts of the agent's home queue (its first) who are ready."""
        if not agent.profile.queues:
            return 0
        home = self._queues[agent.profile.queues[0]]
        return len(home.ready_experts) - (agent.profile.id in home.ready_experts)

    def _agent_available(self, agent: _Agent) -> None:
        """The agent is free: ready, then offered the best call it may serve."""
        self._set_state(agent, AgentState.READY, None)
        call = self._pick_call(agent)
        if call is not None:
            self._offer(call, agent)
        elif self._reserves and agent.profile.queues:
            # One more ready expert at home may let ready peers help other queues.
            home = self._queues[agent.profile.queues[0]]
            for peer in list(home.ready.values()):
                if peer is not agent and peer.state == AgentState.READY:
                    other = self._pick_call(peer)
                    if other is not None:
                        self._offer(other, peer)

    def _release(self, agent: _Agent) -> None:
        """The agent's call is over (wrap-up done, or the offer ended without an answer
        for a reason not the agent's): apply a pending change, else ready if reachable."""
        pending, agent.pending = agent.pending, None
        if pending is not None:
            self._set_state(agent, pending[0], pending[1])
        elif not agent.reachable:
            self._set_state(agent, AgentState.NOT_READY, UNREACHABLE)
        else:
            self._agent_available(agent)

    # --- internals: calls ----------------------------------------------------------------

    def _enqueue(self, call: _Call, q: _Queue) -> None:
        """A new call in `q`: to an agent at once, else in line (or overflow if full)."""
        call.step = _steps_due(q.config, 0.0)
        agent = self._pick_agent(call, q)
        if agent is not None:
            self._offer(call, agent)
            return
        limit = q.config.max_length
        if limit is not None and len(q.waiting) >= limit and q.config.overflow:
            if q.config.overflow.action != "callback":
                self._overflow(call, q, "max_length")
                return
            self._insert(call, q)
            self._queued_event(call, q)
            self._overflow(call, q, "max_length")
            return
        self._insert(call, q)
        self._queued_event(call, q)

    def _queued_event(self, call: _Call, q: _Queue) -> None:
        position = self._position(call, q)
        ewt = self._expected_wait(q, position)
        self._out.events.append(CallQueued(self._now, call.id, q.name, position, ewt))

    def _insert(self, call: _Call, q: _Queue) -> None:
        call.state, call.agent = "waiting", None
        call.epoch += 1
        call.key = (self.config.ageing_per_s * call.entered - call.priority, call.entered, call.seq)
        bisect.insort(q.waiting, (call.key, call.id))
        self._schedule_waiting(call, q)

    def _unqueue(self, call: _Call, q: _Queue) -> None:
        i = bisect.bisect_left(q.waiting, (call.key, call.id))
        if i < len(q.waiting) and q.waiting[i][1] == call.id:
            del q.waiting[i]

    def _position(self, call: _Call, q: _Queue) -> int:
        return bisect.bisect_left(q.waiting, (call.key, call.id)) + 1

    def _forget(self, call: _Call) -> None:
        call.epoch += 1
        del self._calls[call.id]

    def _schedule_waiting(self, call: _Call, q: _Queue) -> None:
        cfg = q.config
        waited = self._now - call.entered
        if call.step < len(cfg.relaxation):
            self._push(
                call.entered + cfg.relaxation[call.step].after_s, "relax", call.id, call.epoch
            )
        # A callback has no caller on the line to overflow: it waits for its turn.
        if (
            cfg.max_wait_s is not None
            and not call.overflow_offered
            and call.callback_number is None
        ):
            self._push(call.entered + cfg.max_wait_s, "max_wait", call.id, call.epoch)
        every = cfg.announce_every_s
        if every is not None and call.callback_number is None:
            self._push(
                call.entered + every * (math.floor(waited / every) + 1),
                "announce",
                call.id,
                call.epoch,
            )

    def _offer(self, call: _Call, agent: _Agent) -> None:
        q = self._queues[call.queue]
        call.state, call.agent, call.offered_at = "offered", agent, self._now
        call.epoch += 1
        agent.call = call
        agent.stats.offered += 1
        self._set_state(agent, AgentState.RESERVED, None)
        cfg = q.config
        who = agent.profile
        level = _min_level(who, cfg.skills)
        self._out.events.append(
            CallOffered(self._now, call.id, q.name, who.id, self._now - call.entered, level)
        )
        number = call.callback_number
        call.calling_back = number is not None
        if number is not None:
            self._out.commands.append(
                PlaceCallback(call.id, who.id, who.endpoint, number, cfg.ring_timeout_s)
            )
        else:
            self._out.commands.append(
                ConnectToAgent(call.id, who.id, who.endpoint, cfg.ring_timeout_s)
            )
        self._push(self._now + cfg.ring_timeout_s + RING_GRACE_S, "ring", call.id, call.epoch)

    def _ring_failed(self, call: _Call, agent: _Agent, cause: str, reason: str) -> None:
        agent.stats.missed += 1
        agent.call = None
        self._set_state(agent, AgentState.NOT_READY, reason)
        self._requeue(call, agent, cause)

    def _withdraw(self, agent: _Agent, cause: str, new: AgentState, reason: str | None) -> None:
        """The ringing agent went away: stop the ringing, give the call back its place."""
        call = agent.call
        assert call is not None
        agent.call = None
        self._out.commands.append(CancelOffer(call.id, agent.profile.id))
        self._set_state(agent, new, reason)
        self._requeue(call, agent, cause)

    def _requeue(self, call: _Call, agent: _Agent, cause: str) -> None:
        q = self._queues[call.queue]
        self._out.events.append(CallRequeued(self._now, call.id, q.name, agent.profile.id, cause))
        call.step = _steps_due(q.config, self._now - call.entered)
        other = self._pick_agent(call, q)
        if other is not None:
            self._offer(call, other)
        else:
            self._insert(call, q)

    def _complete(self, call: _Call) -> None:
        agent = call.agent
        assert agent is not None
        q = self._queues[call.queue]
        talk = self._now - call.answered_at
        self._forget(call)
        agent.call = None
        q.stats.record_completion(talk, q.config.wrap_up_s)
        self._out.events.append(CallCompleted(self._now, call.id, q.name, agent.profile.id, talk))
        if q.config.wrap_up_s > 0:
            self._set_state(agent, AgentState.WRAP_UP, None)
            agent.wrap_until = self._now + q.config.wrap_up_s
            self._push(agent.wrap_until, "wrap", agent.profile.id, 0)
        else:
            self._release(agent)

    def _callback_leg_gone(self, call: _Call, q: _Queue) -> None:
        """A hang-up on a call whose caller accepted a callback."""
        agent = call.agent
        if call.state == "waiting":
            return  # the caller hung up after accepting: the callback keeps the place
        assert agent is not None
        agent.call = None
        if not call.calling_back:
            # Accepted while an agent's phone was already ringing for the live caller:
            # stop that offer; the callback keeps the call's place.
            self._out.commands.append(CancelOffer(call.id, agent.profile.id))
            self._release(agent)
            self._requeue(call, agent, "caller_left")
            return
        self._forget(call)
        q.stats.callbacks_failed += 1
        self._out.events.append(CallbackFailed(self._now, call.id, q.name, agent.profile.id))
        self._release(agent)

    def _overflow(self, call: _Call, q: _Queue, cause: Literal["max_wait", "max_length"]) -> None:
        flow = q.config.overflow
        assert flow is not None
        wait = self._now - call.entered
        self._out.commands.append(OverflowCall(call.id, q.name, flow.action, flow.target))
        if flow.action == "callback":
            call.overflow_offered = True
            self._out.events.append(
                CallOverflowed(self._now, call.id, q.name, "callback", None, wait, cause)
            )
            return
        if call.state == "waiting" and call.id in self._calls:
            self._unqueue(call, q)
        q.stats.overflowed += 1
        self._out.events.append(
            CallOverflowed(self._now, call.id, q.name, flow.action, flow.target, wait, cause)
        )
        if flow.action == "queue" and flow.target is not None:
            target = self._queues[flow.target]
            call.queue, call.entered, call.overflow_offered = target.name, self._now, False
            target.stats.offered += 1
            self._enqueue(call, target)
        else:
            self._calls.pop(call.id, None)
            call.epoch += 1

    # --- internals: routing ----------------------------------------------------------------

    def _pick_agent(self, call: _Call, q: _Queue) -> _Agent | None:
        """The ready agent for this call: best level (or not), then longest idle, then id —
        the first in the queue's routing order who may take the call."""
        requirement = q.requirements[call.step]
        reserve = q.reserves[call.step]
        for _, _, aid in q.ready_order:
            agent = q.ready[aid]
            if _fits(agent.profile, requirement) is None:
                continue
            if reserve and aid not in q.ready_experts and self._spare(agent) < reserve:
                continue
            return agent
        return None

    def _pick_call(self, agent: _Agent) -> _Call | None:
        """The waiting call this agent should take: highest effective priority first.

        Effective priority = priority + ageing x wait, plus `match_bonus` in the queues
        whose unrelaxed requirements the agent meets. Within one queue the bonus is the
        same for every call, so each queue's line is scanned in its own order only up to
        the first call the agent may serve.
        """
        best: _Call | None = None
        best_key: tuple[float, float, int] | None = None
        bonus = self.config.match_bonus
        spare = self._spare(agent) if self._reserves else 0
        for name in agent.profile.queues:
            q = self._queues[name]
            expert = _fits(agent.profile, q.requirements[0]) is not None
            shift = bonus if expert else 0.0
            for key, call_id in q.waiting:
                adjusted = (key[0] - shift, key[1], key[2])
                if best_key is not None and adjusted >= best_key:
                    break
                call = self._calls[call_id]
                if _fits(agent.profile, q.requirements[call.step]) is not None and (
                    expert or spare >= q.reserves[call.step]
                ):
                    best, best_key = call, adjusted
                    break
        if best is not None:
            self._unqueue(best, self._queues[best.queue])
        return best

    # --- internals: timers -------------------------------------------------------------

    def _push(self, at: float, kind: _TimerKind, ident: str, epoch: int) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (at, self._timer_seq, kind, ident, epoch))

    def _advance(self, now: float) -> None:
        now = max(now, self._now)  # time never runs backwards inside the ACD
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, _, kind, ident, epoch = heapq.heappop(timers)
            self._now = max(at, self._now)
            self._fire(kind, ident, epoch)
        self._now = now

    def _fire(self, kind: _TimerKind, ident: str, epoch: int) -> None:
        if kind == "wrap":
            agent = self._agents.get(ident)
            if (
                agent is not None
                and agent.state == AgentState.WRAP_UP
                and agent.wrap_until <= self._now
            ):
                self._release(agent)
            return
        call = self._calls.get(ident)
        if call is None or call.epoch != epoch:
            return
        q = self._queues[call.queue]
        if kind == "ring":
            agent = call.agent
            assert agent is not None
            self._out.commands.append(CancelOffer(call.id, agent.profile.id))
            self._ring_failed(call, agent, "ring_timeout", MISSED)
        elif kind == "relax":
            # The timer is for step `call.step`: count it even if float rounding makes
            # now - entered a hair short of its after_s.
            call.step = max(call.step + 1, _steps_due(q.config, self._now - call.entered))
            if call.step < len(q.config.relaxation):
                nxt = q.config.relaxation[call.step].after_s
                self._push(call.entered + nxt, "relax", call.id, call.epoch)
            agent = self._pick_agent(call, q)
            if agent is not None:
                self._unqueue(call, q)
                self._offer(call, agent)
        elif kind == "max_wait":
            if not call.overflow_offered and call.callback_number is None:
                self._overflow(call, q, "max_wait")
        elif kind == "announce":
            position = self._position(call, q)
            self._out.commands.append(Announce(call.id, position, self._expected_wait(q, position)))
            every = q.config.announce_every_s
            assert every is not None
            self._push(self._now + every, "announce", call.id, call.epoch)

    def _expected_wait(self, q: _Queue, position: int) -> float | None:
        """position x expected handling time / agents working the queue (None: nobody)."""
        working = sum(1 for a in q.members.values() if a.state != AgentState.NOT_READY)
        if working == 0:
            return None
        return position * q.stats.handle_estimate_s / working


def _requirements(q: QueueConfig) -> list[Requirement]:
    """What a call must find in an agent after 0, 1, 2... relaxation steps."""
    out: list[Requirement] = [dict(q.skills)]
    for step in q.relaxation:
        if step.any_agent:
            out.append(None)
        else:
            assert step.min_level is not None
            out.append({skill: min(level, step.min_level) for skill, level in q.skills.items()})
    return out


def _agent_view(a: _Agent) -> AgentView:
    return AgentView(
        a.profile.id,
        a.state,
        a.reason,
        a.since,
        a.call.id if a.call else None,
        a.pending[0].value if a.pending else None,
        a.reachable,
    )


def _call_view(c: _Call) -> CallView:
    return CallView(
        c.id,
        c.queue,
        c.state,
        c.agent.profile.id if c.agent else None,
        c.entered,
        c.arrived,
        c.callback_number,
        c.held_since is not None,
    )


def _steps_due(q: QueueConfig, waited_s: float) -> int:
    return sum(1 for step in q.relaxation if step.after_s <= waited_s)


def _fits(profile: AgentProfile, requirement: Requirement) -> int | None:
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


def _min_level(profile: AgentProfile, skills: dict[str, int]) -> int:
    return min((profile.skills.get(s, 0) for s in skills), default=10)
