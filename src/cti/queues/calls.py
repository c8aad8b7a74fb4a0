"""The call side of the ACD: arrivals, answers, ring failures, hang-ups, hold, transfer,
callbacks, overflow, and what the timers of a waiting or ringing call do when they fire.
"""

from __future__ import annotations

import itertools
from typing import Literal

from cti.queues.dispatch import Dispatcher
from cti.queues.errors import AcdError
from cti.queues.events import (
    Announce,
    CallAbandoned,
    CallAnswered,
    CallbackAccepted,
    CallbackFailed,
    CallHeld,
    CallOverflowed,
    CallQueued,
    CallResumed,
    CallTransferred,
    CancelOffer,
    OfferFailure,
    OverflowCall,
)
from cti.queues.explain import fixed_why
from cti.queues.models import MISSED, UNREACHABLE, AgentState
from cti.queues.routing import fits, steps_due
from cti.queues.state import Agent, Call, Queue
from cti.queues.timers import TimerKind


class CallDesk:
    """Call requests and call timers; time and decisions are the dispatcher's."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._d = dispatcher
        self._seq = 0  # arrival order: the last tie-break in a line

    # --- requests ----------------------------------------------------------------------

    def arrived(self, call_id: str, queue: str, priority: int) -> None:
        d = self._d
        if call_id in d.calls:
            raise AcdError("duplicate_call", f"call {call_id} is already in the ACD")
        q = d.queue(queue)
        self._seq += 1
        call = Call(call_id, queue, q.config.priority + priority, d.now, d.now, self._seq)
        d.calls[call_id] = call
        q.stats.offered += 1
        self._enqueue(call, q)

    def call_out(self, call_id: str, agent_id: str, number: str, task: bool) -> None:
        """The agent calls a citizen: its phone rings first, then the number is dialled
        (the callback's way). The agent must be free: ready, or not ready (a break it
        keeps after the call). The call belongs to the agent's first queue for its
        ring and wrap-up times, but counts in none of the queue's inbound figures. A
        `task` call (not her own click-to-call) keeps the outbound policy: inbound first,
        and no more task calls at once than the lines lent to them."""
        d = self._d
        if call_id in d.calls:
            raise AcdError("duplicate_call", f"call {call_id} is already in the ACD")
        if not number or len(number) > 32:
            raise AcdError("bad_number", f"number must be 1-32 characters, got {number!r}")
        agent = d.agent(agent_id)
        if agent.state == AgentState.LOGGED_OUT:
            raise AcdError("agent_logged_out", f"agent {agent_id} is logged out")
        if agent.state not in (AgentState.READY, AgentState.NOT_READY) or agent.call:
            raise AcdError("agent_busy", f"agent {agent_id} is {agent.state}, not free to call")
        if not agent.reachable:
            raise AcdError("agent_unreachable", f"agent {agent_id}: the phone is not reachable")
        if not agent.profile.queues:
            raise AcdError("no_queue", f"agent {agent_id} serves no queue")
        if task:
            self._outbound_allowed(agent, d.now)
        if agent.state == AgentState.NOT_READY:
            agent.pending = (AgentState.NOT_READY, agent.reason)  # back on the break after
        self._seq += 1
        call = Call(call_id, agent.profile.queues[0], 0, d.now, d.now, self._seq)
        call.outbound, call.task, call.callback_number = True, task, number
        d.calls[call_id] = call
        d.offer(call, agent, fixed_why("outbound", call, agent, d.now))

    def adopt_call_out(self, call_id: str, agent_id: str, number: str, talking: bool) -> None:
        """An agent's own call Asterisk still has that this ACD never saw (the CTI
        restarted): her phone (and the citizen's) ringing, or (`talking`) connected."""
        d = self._d
        if call_id in d.calls:
            return
        agent = d.agent(agent_id)
        if agent.call is not None:
            raise AcdError("agent_busy", f"agent {agent_id} has call {agent.call.id} already")
        if not agent.profile.queues:
            raise AcdError("no_queue", f"agent {agent_id} serves no queue")
        self._seq += 1
        call = Call(call_id, agent.profile.queues[0], 0, d.now, d.now, self._seq)
        call.outbound, call.callback_number, call.calling_back = True, number, True
        d.calls[call_id] = call
        if talking:
            call.state, call.agent, call.answered_at = "connected", agent, d.now
            call.epoch += 1
            agent.call = call
            d.set_state(agent, AgentState.ON_CALL, None)
        else:
            d.adopt_offer(call, agent)

    def adopt(
        self,
        call_id: str,
        queue: str,
        priority: int,
        waited_s: float,
        agent_id: str | None,
        talking: bool,
    ) -> None:
        """A call Asterisk still has that this ACD never saw (the CTI restarted): at its
        place in line (`waited_s` kept), ringing `agent_id`'s phone, or (`talking`) in
        conversation with that agent."""
        d = self._d
        if call_id in d.calls:
            return
        q = d.queue(queue)
        self._seq += 1
        entered = d.now - max(0.0, waited_s)
        call = Call(call_id, queue, q.config.priority + priority, entered, entered, self._seq)
        d.calls[call_id] = call
        q.stats.offered += 1
        if agent_id is None:
            self._enqueue(call, q)
            return
        agent = d.agent(agent_id)
        if talking:
            call.state, call.agent, call.answered_at = "connected", agent, d.now
            call.epoch += 1
            agent.call = call
            d.set_state(agent, AgentState.ON_CALL, None)
            d.out.events.append(
                CallAnswered(d.now, call.id, q.name, agent_id, max(0.0, waited_s), True)
            )
        else:
            d.adopt_offer(call, agent)

    def answered(self, call_id: str) -> None:
        d = self._d
        call = self._offered(call_id)
        agent = call.agent
        assert agent is not None
        q = d.routing.queues[call.queue]
        call.state = "connected"
        call.epoch += 1
        call.answered_at = d.now
        wait = d.now - call.entered
        if not call.outbound:
            q.stats.record_answer(wait, q.config.service_level_s)
            agent.stats.answered += 1
        d.set_state(agent, AgentState.ON_CALL, None)
        matched = fits(agent.profile, q.requirements[0]) is not None
        d.out.events.append(CallAnswered(d.now, call.id, q.name, agent.profile.id, wait, matched))

    def offer_failed(self, call_id: str, cause: OfferFailure) -> None:
        call = self._offered(call_id)
        agent = call.agent
        assert agent is not None
        reason = UNREACHABLE if cause == "unreachable" else MISSED
        self._d.ring_failed(call, agent, cause, reason)

    def ended(self, call_id: str) -> None:
        self._d.complete(self._connected(call_id))

    def hold(self, call_id: str) -> None:
        d = self._d
        call = self._connected(call_id)
        if call.held_since is not None:
            raise AcdError("already_held", f"call {call_id} is on hold already")
        call.held_since = d.now
        agent = call.agent
        assert agent is not None
        d.out.events.append(CallHeld(d.now, call.id, call.queue, agent.profile.id))

    def resume(self, call_id: str) -> None:
        d = self._d
        call = self._connected(call_id)
        if call.held_since is None:
            raise AcdError("not_held", f"call {call_id} is not on hold")
        held, call.held_since = d.now - call.held_since, None
        agent = call.agent
        assert agent is not None
        d.out.events.append(CallResumed(d.now, call.id, call.queue, agent.profile.id, held))

    def transfer_to_agent(self, call_id: str, agent_id: str) -> None:
        d = self._d
        call = self._connected(call_id)
        target = d.agent(agent_id)
        first = call.agent
        assert first is not None
        if target is first:
            raise AcdError("same_agent", f"agent {agent_id} already has call {call_id}")
        if target.state != AgentState.READY or not target.reachable:
            raise AcdError("agent_not_ready", f"agent {agent_id} is {target.state}, not ready")
        d.complete(call)
        self._seq += 1
        handed = Call(call.id, call.queue, call.priority, call.arrived, d.now, self._seq)
        d.calls[call.id] = handed
        d.routing.queues[call.queue].stats.offered += 1
        d.out.events.append(CallTransferred(d.now, call.id, call.queue, first.profile.id, agent_id))
        d.offer(handed, target, fixed_why("transfer", handed, target, d.now))

    def caller_hung_up(self, call_id: str) -> None:
        d = self._d
        call = d.call(call_id)
        q = d.routing.queues[call.queue]
        if call.state == "connected":
            d.complete(call)
        elif call.callback_number is not None:
            self._callback_leg_gone(call, q)
        else:
            agent = call.agent
            if call.state == "waiting":
                d.routing.remove_waiting(call, q)
            d.forget(call)
            q.stats.abandoned += 1
            who = agent.profile.id if agent else None
            d.out.events.append(CallAbandoned(d.now, call.id, q.name, d.now - call.entered, who))
            if agent is not None:
                agent.call = None
                d.release(agent)

    def callback_accepted(self, call_id: str, number: str, scheduled_at: float | None) -> None:
        d = self._d
        call = d.call(call_id)
        if call.state == "connected":
            raise AcdError("call_connected", f"call {call_id} is already answered")
        if not number or len(number) > 32:
            raise AcdError("bad_number", f"callback number must be 1-32 characters, got {number!r}")
        if scheduled_at is None:
            call.callback_number = number
        else:
            # A time picked in the IVR: the store's scheduled-callback task calls back
            # then; the call leaves the line now (an agent ringing for it is freed).
            q = d.routing.queues[call.queue]
            agent = call.agent
            if call.state == "waiting":
                d.routing.remove_waiting(call, q)
            d.forget(call)
            q.stats.overflowed += 1  # out of the line unanswered, to a callback
            if agent is not None:
                d.out.commands.append(CancelOffer(call.id, agent.profile.id))
                agent.call = None
                d.release(agent)
        d.out.events.append(CallbackAccepted(d.now, call.id, call.queue, number, scheduled_at))

    # --- timers --------------------------------------------------------------------------

    def timer_due(self, kind: TimerKind, call_id: str, epoch: int) -> None:
        """A call's timer fired; one set before the call's last change does nothing."""
        d = self._d
        call = d.calls.get(call_id)
        if call is None or call.epoch != epoch:
            return
        q = d.routing.queues[call.queue]
        if kind == "ring":
            agent = call.agent
            assert agent is not None
            d.out.commands.append(CancelOffer(call.id, agent.profile.id))
            d.ring_failed(call, agent, "ring_timeout", MISSED)
        elif kind == "relax":
            # The timer is for step `call.step`: count it even if float rounding makes
            # now - entered a hair short of its after_s.
            call.step = max(call.step + 1, steps_due(q.config, d.now - call.entered))
            if call.step < len(q.config.relaxation):
                nxt = q.config.relaxation[call.step].after_s
                d.timers.push(call.entered + nxt, "relax", call.id, call.epoch)
            agent = d.routing.pick_agent(call, q)
            if agent is not None:
                d.routing.remove_waiting(call, q)
                d.offer(call, agent)
        elif kind == "guard":
            pass  # the reservation group's rules see the wait: the step's settling acts
        elif kind == "max_wait":
            if not call.overflow_offered and call.callback_number is None:
                self._overflow(call, q, "max_wait")
        elif kind == "announce":
            position = d.routing.position(call, q)
            d.out.commands.append(Announce(call.id, position, d.routing.expected_wait(q, position)))
            every = q.config.announce_every_s
            assert every is not None
            d.timers.push(d.now + every, "announce", call.id, call.epoch)

    # --- internals -------------------------------------------------------------------------

    def outbound_refusal(self, agent_id: str, now: float) -> AcdError | None:
        """Why a task call by this agent would be refused now (None: it would not)."""
        agent = self._d.agents.get(agent_id)
        if agent is None:
            return AcdError("unknown_agent", f"no agent {agent_id!r}")
        try:
            self._outbound_allowed(agent, now)
        except AcdError as exc:
            return exc
        return None

    def _outbound_allowed(self, agent: Agent, now: float) -> None:
        """The outbound policy for task calls: a free line, enough colleagues of her
        queues left ready, and no caller of her queues waiting beyond the limit."""
        d = self._d
        policy = d.config.outbound
        lines = sum(1 for c in d.calls.values() if c.task)
        if lines >= policy.max_lines:
            raise AcdError("lines_busy", f"{lines} task calls already use the lines lent to them")
        mine = set(agent.profile.queues)
        colleagues = (
            other
            for other in d.agents.values()
            if other is not agent
            and other.state == AgentState.READY
            and mine.intersection(other.profile.queues)
        )
        # Counted up to the reserve only: with 1,000 agents most checks end after a few.
        ready = sum(1 for _ in itertools.islice(colleagues, policy.keep_ready))
        if ready < policy.keep_ready:
            raise AcdError(
                "inbound_reserve",
                f"{ready} other agents of her queues are ready; {policy.keep_ready}"
                " must stay ready for inbound callers",
            )
        for name in agent.profile.queues:
            q = d.routing.queues.get(name)
            if q is None:
                continue
            longest = max((now - d.calls[cid].entered for _, cid in q.waiting), default=0.0)
            if longest > policy.inbound_wait_limit_s:
                raise AcdError(
                    "inbound_waiting",
                    f"a caller of {name} has waited {longest:.0f} s (over"
                    f" {policy.inbound_wait_limit_s:.0f} s): inbound calls come first",
                )

    def _connected(self, call_id: str) -> Call:
        call = self._d.call(call_id)
        if call.state != "connected":
            raise AcdError("call_not_connected", f"call {call_id} is {call.state}, not connected")
        return call

    def _offered(self, call_id: str) -> Call:
        call = self._d.call(call_id)
        if call.state != "offered":
            raise AcdError("call_not_offered", f"call {call_id} is {call.state}, not offered")
        return call

    def _enqueue(self, call: Call, q: Queue) -> None:
        """A new call in `q`: to an agent at once, else in line (or overflow if full)."""
        d = self._d
        call.step = steps_due(q.config, d.now - call.entered)  # 0 but for adopted calls
        choice = d.pick_agent(call, q)
        if choice is not None:
            d.offer(call, *choice)
            return
        limit = q.config.max_length
        if limit is not None and len(q.waiting) >= limit and q.config.overflow:
            if q.config.overflow.action != "callback":
                self._overflow(call, q, "max_length")
                return
            d.insert(call, q)
            self._queued_event(call, q)
            self._overflow(call, q, "max_length")
            return
        d.insert(call, q)
        self._queued_event(call, q)

    def _queued_event(self, call: Call, q: Queue) -> None:
        d = self._d
        position = d.routing.position(call, q)
        ewt = d.routing.expected_wait(q, position)
        d.out.events.append(CallQueued(d.now, call.id, q.name, position, ewt))

    def _callback_leg_gone(self, call: Call, q: Queue) -> None:
        """A hang-up on a call whose caller accepted a callback."""
        d = self._d
        agent = call.agent
        if call.state == "waiting":
            return  # the caller hung up after accepting: the callback keeps the place
        assert agent is not None
        agent.call = None
        if not call.calling_back:
            # Accepted while an agent's phone was already ringing for the live caller:
            # stop that offer; the callback keeps the call's place.
            d.out.commands.append(CancelOffer(call.id, agent.profile.id))
            d.release(agent)
            d.requeue(call, agent, "caller_left")
            return
        d.forget(call)
        if not call.outbound:
            q.stats.callbacks_failed += 1
        d.out.events.append(CallbackFailed(d.now, call.id, q.name, agent.profile.id))
        d.release(agent)

    def _overflow(self, call: Call, q: Queue, cause: Literal["max_wait", "max_length"]) -> None:
        d = self._d
        flow = q.config.overflow
        assert flow is not None
        wait = d.now - call.entered
        d.out.commands.append(OverflowCall(call.id, q.name, flow.action, flow.target))
        if flow.action == "callback":
            call.overflow_offered = True
            d.out.events.append(
                CallOverflowed(d.now, call.id, q.name, "callback", None, wait, cause)
            )
            return
        if call.state == "waiting" and call.id in d.calls:
            d.routing.remove_waiting(call, q)
        q.stats.overflowed += 1
        d.out.events.append(
            CallOverflowed(d.now, call.id, q.name, flow.action, flow.target, wait, cause)
        )
        if flow.action == "queue" and flow.target is not None:
            target = d.routing.queues[flow.target]
            call.queue, call.entered, call.overflow_offered = target.name, d.now, False
            target.stats.offered += 1
            self._enqueue(call, target)
        else:
            d.calls.pop(call.id, None)
            call.epoch += 1
