"""Where agents and calls meet: the state an engine step works on (clock, records, timers,
decisions so far) and the moves both sides make (offers, requeues, state changes).
"""

from __future__ import annotations

import math

from cti.queues.errors import AcdError
from cti.queues.events import (
    AgentStateChanged,
    CallCompleted,
    CallOffered,
    CallRequeued,
    CancelOffer,
    ConnectToAgent,
    Decisions,
    PlaceCallback,
)
from cti.queues.models import UNREACHABLE, AcdConfig, AgentState
from cti.queues.routing import Routing, min_level, steps_due
from cti.queues.state import Agent, Call, Queue
from cti.queues.timers import Timers

# The PBX reports a ring-no-answer at the ring timeout; if it says nothing for this
# much longer, the ACD withdraws the offer itself so an agent can never stay reserved.
RING_GRACE_S = 5.0


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

    def offer(self, call: Call, agent: Agent) -> None:
        """Reserve the agent, then tell the PBX to ring it (or to place the callback)."""
        q = self.routing.queues[call.queue]
        now = self.now
        call.state, call.agent, call.offered_at = "offered", agent, now
        call.epoch += 1
        agent.call = call
        agent.stats.offered += 1
        self.set_state(agent, AgentState.RESERVED, None)
        cfg = q.config
        who = agent.profile
        level = min_level(who, cfg.skills)
        self.out.events.append(CallOffered(now, call.id, q.name, who.id, now - call.entered, level))
        number = call.callback_number
        call.calling_back = number is not None
        if number is not None:
            self.out.commands.append(
                PlaceCallback(call.id, who.id, who.endpoint, number, cfg.ring_timeout_s)
            )
        else:
            self.out.commands.append(
                ConnectToAgent(call.id, who.id, who.endpoint, cfg.ring_timeout_s)
            )
        self.timers.push(now + cfg.ring_timeout_s + RING_GRACE_S, "ring", call.id, call.epoch)

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
        self.out.events.append(
            CallOffered(self.now, call.id, q.name, agent.profile.id, waited, level)
        )
        self.timers.push(
            self.now + q.config.ring_timeout_s + RING_GRACE_S, "ring", call.id, call.epoch
        )

    def ring_failed(self, call: Call, agent: Agent, cause: str, reason: str) -> None:
        agent.stats.missed += 1
        agent.call = None
        self.set_state(agent, AgentState.NOT_READY, reason)
        self.requeue(call, agent, cause)

    def withdraw(self, agent: Agent, cause: str, new: AgentState, reason: str | None) -> None:
        """The ringing agent went away: stop the ringing, give the call back its place."""
        call = agent.call
        assert call is not None
        agent.call = None
        self.out.commands.append(CancelOffer(call.id, agent.profile.id))
        self.set_state(agent, new, reason)
        self.requeue(call, agent, cause)

    def requeue(self, call: Call, agent: Agent, cause: str) -> None:
        """An offer ended unanswered: another agent, else back in line at its place."""
        q = self.routing.queues[call.queue]
        self.out.events.append(CallRequeued(self.now, call.id, q.name, agent.profile.id, cause))
        call.step = steps_due(q.config, self.now - call.entered)
        other = self.routing.pick_agent(call, q)
        if other is not None:
            self.offer(call, other)
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
        if call.step < len(cfg.relaxation):
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
        q.stats.record_completion(talk, q.config.wrap_up_s)
        self.out.events.append(CallCompleted(self.now, call.id, q.name, agent.profile.id, talk))
        if q.config.wrap_up_s > 0:
            self.set_state(agent, AgentState.WRAP_UP, None)
            agent.wrap_until = self.now + q.config.wrap_up_s
            self.timers.push(agent.wrap_until, "wrap", agent.profile.id, 0)
        else:
            self.release(agent)

    def forget(self, call: Call) -> None:
        call.epoch += 1
        del self.calls[call.id]
