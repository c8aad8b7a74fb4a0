"""Where agents and calls meet: the state an engine step works on (clock, records, timers,
decisions so far) and the moves both sides make (offers, requeues, state changes).
"""

from __future__ import annotations

import math

from cti.queues.errors import AcdError
from cti.queues.events import (
    AgentStateChanged,
    CallbackFailed,
    CallCompleted,
    CallOffered,
    CallRequeued,
    CancelOffer,
    ConnectToAgent,
    Decisions,
    PlaceCallback,
)
from cti.queues.explain import Explanations, Why, fixed_why, relaxation_why
from cti.queues.models import UNREACHABLE, AcdConfig, AgentState
from cti.queues.modes import NO_GUARD, Modes
from cti.queues.routing import Routing, fits, min_level, steps_due
from cti.queues.state import Agent, Call, Queue
from cti.queues.timers import Timers

# The PBX reports a ring-no-answer at the ring timeout; if it says nothing for this
# much longer, the ACD withdraws the offer itself so an agent can never stay reserved.
RING_GRACE_S = 5.0
# How long `[cti-callback]` lets the citizen's phone ring (its Dial timeout, 30 s), and
# the trunk's set-up before it rings.
CITIZEN_RING_S = 35.0


class Dispatcher:
    """The engine's shared state and the moves that pair a free agent with a call.

    `now` is the time of the step being run; `out` collects its decisions until `flush`.
    """

    def __init__(self, config: AcdConfig, now: float) -> None:
        self.config = config
        self.now = now
        self.out = Decisions()
        self.timers = Timers()
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Call] = {}
        self.routing = Routing(config, self.calls)
        self.modes = Modes(config, self.routing, self.calls)
        self.explanations = Explanations()
        for profile in config.agents:
            self.agents[profile.id] = Agent(profile, since=now)

    def flush(self) -> Decisions:
        """The decisions of the step, handed over once."""
        out, self.out = self.out, Decisions()
        return out

    # --- lookups -----------------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise AcdError("unknown_agent", f"no agent {agent_id!r}")
        return agent

    def queue(self, name: str) -> Queue:
        q = self.routing.queues.get(name)
        if q is None:
            raise AcdError("unknown_queue", f"no queue {name!r}")
        return q

    def call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise AcdError("unknown_call", f"no call {call_id!r} in the ACD")
        return call

    # --- routing modes -------------------------------------------------------------------

    def pick_agent(self, call: Call, q: Queue) -> tuple[Agent, Why | None] | None:
        return self.modes.pick_agent(call, q, self.now)

    def settle(self) -> None:
        self.modes.settle(self.now, self.offer)

    # --- agents --------------------------------------------------------------------------

    def set_state(self, agent: Agent, new: AgentState, reason: str | None) -> None:
        old, old_reason = agent.state, agent.reason
        if old == new and old_reason == reason:
            return
        spent = self.now - agent.since
        agent.stats.add_time(old, spent)
        agent.state, agent.reason, agent.since = new, reason, self.now
        if new == AgentState.READY:
            agent.idle_since = self.now
        if new == AgentState.LOGGED_OUT:
            self.routing.unindex(agent)
            agent.pending = None
        else:
            self.routing.index(agent)
        self.out.events.append(
            AgentStateChanged(self.now, agent.profile.id, old, new, reason, spent)
        )

    def agent_available(self, agent: Agent) -> None:
        """The agent is free: ready, then offered the best call it may serve."""
        self.set_state(agent, AgentState.READY, None)
        routing = self.routing
        call = routing.pick_call(agent)
        if call is not None:
            self.offer(call, agent)
        elif routing.uses_reserves and agent.profile.queues:
            # One more ready expert at home may let ready peers help other queues.
            home = routing.queues[agent.profile.queues[0]]
            for peer in list(home.ready.values()):
                if peer is not agent and peer.state == AgentState.READY:
                    other = routing.pick_call(peer)
                    if other is not None:
                        self.offer(other, peer)

    def release(self, agent: Agent) -> None:
        """The agent's call is over (wrap-up done, or the offer ended without an answer
        for a reason not the agent's): apply a pending change, else ready if reachable."""
        pending, agent.pending = agent.pending, None
        if pending is not None:
            self.set_state(agent, pending[0], pending[1])
        elif not agent.reachable:
            self.set_state(agent, AgentState.NOT_READY, UNREACHABLE)
        else:
            self.agent_available(agent)

    # --- offers --------------------------------------------------------------------------

    def offer(self, call: Call, agent: Agent, why: Why | None = None) -> None:
        """Reserve the agent, then tell the PBX to ring it (or to place the callback);
        `why` explains the choice (None: the relaxation mode's, built here)."""
        q = self.routing.queues[call.queue]
        now = self.now
        if why is None:
            helper = fits(agent.profile, q.requirements[0]) is None
            spare = self.routing.spare(agent) if helper else None
            why = relaxation_why(q, call, agent, now, spare)
        self.explanations.add(call.id, now, why)
        call.state, call.agent, call.offered_at = "offered", agent, now
        call.epoch += 1
        agent.call = call
        if not call.outbound:
            agent.stats.offered += 1
        self.set_state(agent, AgentState.RESERVED, None)
        cfg = q.config
        who = agent.profile
        level = min_level(who, cfg.skills)
        waited = now - call.entered
        self.out.events.append(CallOffered(now, call.id, q.name, who.id, waited, level, why))
        number = call.callback_number
        call.calling_back = number is not None
        ring_s = who.ring_timeout_s or cfg.ring_timeout_s
        guard_s = ring_s + RING_GRACE_S
        if number is not None:
            self.out.commands.append(PlaceCallback(call.id, who.id, who.endpoint, number, ring_s))
            guard_s += CITIZEN_RING_S  # the agent answers, then the citizen's phone rings
        else:
            self.out.commands.append(ConnectToAgent(call.id, who.id, who.endpoint, ring_s))
        self.timers.push(now + guard_s, "ring", call.id, call.epoch)

    def adopt_offer(self, call: Call, agent: Agent) -> None:
        """A ring already under way (found after a restart): reserve the agent and guard
        the ring; the PBX was told to ring before, so no command goes out."""
        q = self.routing.queues[call.queue]
        call.state, call.agent, call.offered_at = "offered", agent, self.now
        call.epoch += 1
        agent.call = call
        self.set_state(agent, AgentState.RESERVED, None)
        level = min_level(agent.profile, q.config.skills)
        waited = self.now - call.entered
        why = fixed_why("adopted", call, agent, self.now)
        self.explanations.add(call.id, self.now, why)
        self.out.events.append(
            CallOffered(self.now, call.id, q.name, agent.profile.id, waited, level, why)
        )
        ring_s = agent.profile.ring_timeout_s or q.config.ring_timeout_s
        guard_s = ring_s + RING_GRACE_S + (CITIZEN_RING_S if call.callback_number else 0.0)
        self.timers.push(self.now + guard_s, "ring", call.id, call.epoch)

    def ring_failed(self, call: Call, agent: Agent, cause: str, reason: str) -> None:
        agent.call = None
        if call.outbound:  # the agent's own call: not a missed offer, and over
            self.call_out_failed(call, agent)
            self.release(agent)
            return
        agent.stats.missed += 1
        self.set_state(agent, AgentState.NOT_READY, reason)
        self.requeue(call, agent, cause)

    def call_out_failed(self, call: Call, agent: Agent) -> None:
        """An agent's outbound call that never connected (its phone or the citizen did
        not answer) is over; the agent's state is the caller's to set."""
        self.forget(call)
        q = self.routing.queues[call.queue]
        self.out.events.append(CallbackFailed(self.now, call.id, q.name, agent.profile.id))

    def withdraw(self, agent: Agent, cause: str, new: AgentState, reason: str | None) -> None:
        """The ringing agent went away: stop the ringing, give the call back its place."""
        call = agent.call
        assert call is not None
        agent.call = None
        self.out.commands.append(CancelOffer(call.id, agent.profile.id))
        self.set_state(agent, new, reason)
        if call.outbound:
            self.call_out_failed(call, agent)
        else:
            self.requeue(call, agent, cause)

    def requeue(self, call: Call, agent: Agent, cause: str) -> None:
        """An offer ended unanswered: another agent, else back in line at its place."""
        q = self.routing.queues[call.queue]
        self.out.events.append(CallRequeued(self.now, call.id, q.name, agent.profile.id, cause))
        call.step = steps_due(q.config, self.now - call.entered)
        other = self.pick_agent(call, q)
        if other is not None:
            self.offer(call, *other)
        else:
            self.insert(call, q)

    # --- waiting ---------------------------------------------------------------------------

    def insert(self, call: Call, q: Queue) -> None:
        """The call waits in the queue's line; its timers are set."""
        call.state, call.agent = "waiting", None
        call.epoch += 1
        self.routing.add_waiting(call, q)
        self.schedule_waiting(call, q)

    def schedule_waiting(self, call: Call, q: Queue) -> None:
        cfg = q.config
        waited = self.now - call.entered
        guard_s = self.modes.guard_s(q)
        if guard_s != NO_GUARD:  # a reservation group: the guard instead of relaxation
            if guard_s is not None:
                self.timers.push(call.entered + guard_s, "guard", call.id, call.epoch)
        elif call.step < len(cfg.relaxation):
            self.timers.push(
                call.entered + cfg.relaxation[call.step].after_s, "relax", call.id, call.epoch
            )
        # A callback has no caller on the line to overflow: it waits for its turn.
        if (
            cfg.max_wait_s is not None
            and not call.overflow_offered
            and call.callback_number is None
        ):
            self.timers.push(call.entered + cfg.max_wait_s, "max_wait", call.id, call.epoch)
        every = cfg.announce_every_s
        if every is not None and call.callback_number is None:
            self.timers.push(
                call.entered + every * (math.floor(waited / every) + 1),
                "announce",
                call.id,
                call.epoch,
            )

    # --- the end of a call ------------------------------------------------------------------

    def complete(self, call: Call) -> None:
        """An answered call is over: the agent goes to wrap-up (or is free at once)."""
        agent = call.agent
        assert agent is not None
        q = self.routing.queues[call.queue]
        talk = self.now - call.answered_at
        self.forget(call)
        agent.call = None
        if not call.outbound:
            q.stats.record_completion(talk, q.config.wrap_up_s)
        self.out.events.append(CallCompleted(self.now, call.id, q.name, agent.profile.id, talk))
        own = agent.profile.wrap_up_s
        wrap_s = q.config.wrap_up_s if own is None else own
        if wrap_s > 0:
            self.set_state(agent, AgentState.WRAP_UP, None)
            agent.wrap_until = self.now + wrap_s
            self.timers.push(agent.wrap_until, "wrap", agent.profile.id, 0)
        else:
            self.release(agent)

    def forget(self, call: Call) -> None:
        call.epoch += 1
        del self.calls[call.id]
