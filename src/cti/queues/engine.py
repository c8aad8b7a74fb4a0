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

The parts: `Acd` (this module) is the public face and runs the clock; agents.py and
calls.py take the requests of each side; dispatch.py holds the shared state and the
moves where an agent and a call meet; routing.py the choices; timers.py the timers;
reservation.py the reservation groups' rules (run after every request and timer) and
explain.py the explanation of every offer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec

from cti.queues.agents import AgentDesk
from cti.queues.calls import CallDesk
from cti.queues.dispatch import Dispatcher
from cti.queues.events import Decisions, OfferFailure
from cti.queues.models import AcdConfig, AgentProfile, AgentState
from cti.queues.stats import AgentStats, QueueStats
from cti.queues.views import AgentView, CallView, QueueView, agent_view, call_view, queue_view

P = ParamSpec("P")


class Acd:
    """The automatic call distributor for one contact center."""

    def __init__(self, config: AcdConfig, now: float = 0.0) -> None:
        self.config = config
        self._d = Dispatcher(config, now)
        self._agents = AgentDesk(self._d)
        self._calls = CallDesk(self._d)
        self._phones: dict[str, str] | None = None  # endpoint -> agent, made when asked

    def agent_of(self, endpoint: str) -> str | None:
        """The agent whose phone `endpoint` (`PJSIP/a1`) is, or None: asked for most AMI
        events, so looked up, not searched among 1,000 agents."""
        if self._phones is None:
            self._phones = {}
            for a in self._d.agents.values():  # two on one phone: the first, as before
                self._phones.setdefault(a.profile.endpoint, a.profile.id)
        return self._phones.get(endpoint)

    # --- agents --------------------------------------------------------------------

    def upsert_agent(self, profile: AgentProfile, now: float) -> Decisions:
        """Add an agent or change its endpoint, skills or queues (applies at once)."""
        self._phones = None
        return self._step(now, self._agents.upsert, profile)

    def remove_agent(self, agent_id: str, now: float) -> Decisions:
        """Take an agent out of the center; only a logged-out agent can be removed."""
        self._phones = None
        return self._step(now, self._agents.remove, agent_id)

    def login(self, agent_id: str, now: float, ready: bool = False) -> Decisions:
        """Log in, not ready (reason `login`) unless `ready`; unreachable: not ready."""
        return self._step(now, self._agents.login, agent_id, ready)

    def set_ready(self, agent_id: str, now: float) -> Decisions:
        """Ready now; from wrap-up this finishes it. On a call: cancels a pending change."""
        return self._step(now, self._agents.set_ready, agent_id)

    def set_not_ready(self, agent_id: str, reason: str, now: float) -> Decisions:
        """Not ready with a reason; on a call or in wrap-up it applies when the wrap-up
        ends (instead of ready); ringing declines the call."""
        return self._step(now, self._agents.set_not_ready, agent_id, reason)

    def cancel_pending(self, agent_id: str, now: float) -> Decisions:
        """Forget a not-ready or logout asked for during the call or wrap-up."""
        return self._step(now, self._agents.cancel_pending, agent_id)

    def finish_wrap_up(self, agent_id: str, now: float) -> Decisions:
        """End the agent's wrap-up: what it asked for meanwhile (not ready, logout),
        else ready. `set_ready` instead means ready now, whatever was asked."""
        return self._step(now, self._agents.finish_wrap_up, agent_id)

    def logout(self, agent_id: str, now: float) -> Decisions:
        """Log out; on a call it applies after wrap-up; ringing gives the call back."""
        return self._step(now, self._agents.logout, agent_id)

    def extend_wrap_up(self, agent_id: str, seconds: float, now: float) -> Decisions:
        """More time in wrap-up (0 < seconds <= 3600) for an agent in wrap-up."""
        return self._step(now, self._agents.extend_wrap_up, agent_id, seconds)

    def set_reachable(self, agent_id: str, reachable: bool, now: float) -> Decisions:
        """The agent's endpoint became (un)reachable: unreachable agents are not routed."""
        return self._step(now, self._agents.set_reachable, agent_id, reachable)

    # --- calls ---------------------------------------------------------------------

    def call_arrived(self, call_id: str, queue: str, now: float, priority: int = 0) -> Decisions:
        """A caller is on hold for `queue` (priority adds to the queue's base priority)."""
        return self._step(now, self._calls.arrived, call_id, queue, priority)

    def call_out(
        self, call_id: str, agent_id: str, number: str, now: float, task: bool = False
    ) -> Decisions:
        """The agent (ready or not ready) calls `number`: its phone rings, then the
        citizen's; the call counts in no queue's inbound figures. A `task` call keeps
        the outbound policy (`AcdConfig.outbound`: inbound first, lines)."""
        return self._step(now, self._calls.call_out, call_id, agent_id, number, task)

    def outbound_refusal(self, agent_id: str, now: float) -> str | None:
        """The code a task call by this agent would be refused with now, or None: the
        outbound policy asked without placing anything (previews ask it first)."""
        refusal = self._calls.outbound_refusal(agent_id, now)
        return None if refusal is None else refusal.code

    def adopt_call_out(
        self, call_id: str, agent_id: str, number: str, now: float, talking: bool
    ) -> Decisions:
        """An agent's own call the PBX has that this ACD does not know (after a CTI
        restart): ringing, or talking with the citizen."""
        return self._step(now, self._calls.adopt_call_out, call_id, agent_id, number, talking)

    def adopt_call(
        self,
        call_id: str,
        queue: str,
        now: float,
        *,
        priority: int = 0,
        waited_s: float = 0.0,
        agent_id: str | None = None,
        talking: bool = False,
    ) -> Decisions:
        """A call the PBX has that this ACD does not know (after a CTI restart): back in
        line at its place, or ringing / talking to `agent_id` as the PBX says."""
        return self._step(
            now, self._calls.adopt, call_id, queue, priority, waited_s, agent_id, talking
        )

    def offer_answered(self, call_id: str, now: float) -> Decisions:
        """The offered agent answered: the conversation starts."""
        return self._step(now, self._calls.answered, call_id)

    def offer_failed(self, call_id: str, cause: OfferFailure, now: float) -> Decisions:
        """The PBX could not connect the offered agent: the call keeps its place."""
        return self._step(now, self._calls.offer_failed, call_id, cause)

    def call_ended(self, call_id: str, now: float) -> Decisions:
        """An answered call was hung up (either side): the agent goes to wrap-up."""
        return self._step(now, self._calls.ended, call_id)

    def hold(self, call_id: str, now: float) -> Decisions:
        """The agent puts the citizen on hold; the agent stays on the call."""
        return self._step(now, self._calls.hold, call_id)

    def resume(self, call_id: str, now: float) -> Decisions:
        """The citizen on hold is back in the conversation."""
        return self._step(now, self._calls.resume, call_id)

    def transfer_to_agent(self, call_id: str, agent_id: str, now: float) -> Decisions:
        """Hand an answered call straight to a ready agent: the first agent goes to
        wrap-up, the second is offered the call. Like a transfer to a queue, it is a new
        arrival in the call's queue (offered again, its place taken now): if the agent
        does not answer, it waits in that line like any other call."""
        return self._step(now, self._calls.transfer_to_agent, call_id, agent_id)

    def caller_hung_up(self, call_id: str, now: float) -> Decisions:
        """The citizen's channel is gone. Waiting or ringing: abandoned; talking: ended."""
        return self._step(now, self._calls.caller_hung_up, call_id)

    def callback_accepted(
        self, call_id: str, number: str, now: float, scheduled_at: float | None = None
    ) -> Decisions:
        """The caller took the callback offer: the call keeps its place, the line may drop.
        With a time picked in the IVR (`scheduled_at`, Unix seconds) the call leaves the
        line instead: the store turns the event into a scheduled-callback task."""
        return self._step(now, self._calls.callback_accepted, call_id, number, scheduled_at)

    def tick(self, now: float) -> Decisions:
        """Run the timers due up to `now`."""
        self._advance(now)
        return self._d.flush()

    def next_deadline(self) -> float | None:
        """When `tick` must be called next (None: no timer pending)."""
        return self._d.timers.next_deadline()

    # --- views ---------------------------------------------------------------------

    def agents(self) -> list[AgentView]:
        return [agent_view(a) for a in self._d.agents.values()]

    def agent_view(self, agent_id: str) -> AgentView | None:
        agent = self._d.agents.get(agent_id)
        return None if agent is None else agent_view(agent)

    def profiles(self) -> list[AgentProfile]:
        """Every agent's current profile (with the changes made since the configuration)."""
        return [a.profile for a in self._d.agents.values()]

    def calls(self) -> list[CallView]:
        return [call_view(c) for c in self._d.calls.values()]

    def call_view(self, call_id: str) -> CallView | None:
        call = self._d.calls.get(call_id)
        return None if call is None else call_view(call)

    def queue_view(self, name: str, now: float) -> QueueView:
        return queue_view(self._d.queue(name), self._d.calls, now)

    def may_serve(self, agent_id: str, call_id: str) -> bool:
        """Would this agent, if ready, be allowed to take this call now?"""
        d = self._d
        return d.modes.may_serve(d.agent(agent_id), d.call(call_id), d.now)

    def routing_explanations(self, call_id: str) -> list[dict[str, Any]]:
        """Why each agent was offered this call (its latest offers, oldest first; [] for
        a call not routed lately): the candidates, availability, reserves and rule."""
        return self._d.explanations.of(call_id)

    def waiting_explanation(self, call_id: str) -> dict[str, Any] | None:
        """Why a call still waits (as of the last step; None: not waiting)."""
        call = self._d.calls.get(call_id)
        if call is None or call.state != "waiting":
            return None
        return {"at": self._d.now, **self._d.modes.waiting_why(call, self._d.now)}

    def may_take(self, agent_id: str, call_id: str) -> bool:
        """Could this agent be handed this call now (ready, reachable, not its own)?"""
        agent, call = self._d.agents.get(agent_id), self._d.calls.get(call_id)
        return (
            agent is not None
            and call is not None
            and call.agent is not agent
            and agent.state == AgentState.READY
            and agent.reachable
        )

    def queue_stats(self, name: str) -> QueueStats:
        return self._d.queue(name).stats

    def profile(self, agent_id: str) -> AgentProfile | None:
        """The agent's current profile (it may have changed since the configuration)."""
        agent = self._d.agents.get(agent_id)
        return None if agent is None else agent.profile

    def agent_stats(self, agent_id: str) -> AgentStats:
        return self._d.agent(agent_id).stats

    # --- the clock -------------------------------------------------------------------

    def _step(
        self, now: float, request: Callable[P, None], *args: P.args, **kwargs: P.kwargs
    ) -> Decisions:
        """One engine step: the timers due by `now`, then the request, then its decisions.
        A refused request raises; what the timers decided goes out with the next step."""
        self._advance(now)
        request(*args, **kwargs)
        self._d.settle()
        return self._d.flush()

    def _advance(self, now: float) -> None:
        """Fire the timers due up to `now`, each at its own time."""
        d = self._d
        now = max(now, d.now)  # time never runs backwards inside the ACD
        while (timer := d.timers.pop_due(now)) is not None:
            at, _, kind, ident, epoch = timer
            d.now = max(at, d.now)
            if kind == "wrap":
                self._agents.wrap_up_due(ident)
            else:
                self._calls.timer_due(kind, ident, epoch)
            d.settle()
        d.now = now
