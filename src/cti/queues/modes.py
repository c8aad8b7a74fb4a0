"""Which routing mode serves a queue — relaxation (routing.py) or, for the queues of a
reservation group, availability-based reservation (reservation.py) — and the choices
made by mode, so the dispatcher asks once and the rest of the engine never branches."""

from __future__ import annotations

from collections.abc import Mapping

from cti.queues.explain import Why, relaxation_why
from cti.queues.models import AcdConfig
from cti.queues.reservation import Offer, Reservation
from cti.queues.routing import Routing
from cti.queues.state import Agent, Call, Queue

NO_GUARD = -1.0  # guard_s of a queue outside any group (it relaxes instead)


class Modes:
    """The routing modes of one configuration."""

    def __init__(self, config: AcdConfig, routing: Routing, calls: Mapping[str, Call]) -> None:
        self.routing = routing
        self.reservation = Reservation(config, routing.queues, calls) if config.groups else None

    def reserved(self, queue: str) -> bool:
        return self.reservation is not None and queue in self.reservation.group_of

    def pick_agent(self, call: Call, q: Queue, now: float) -> tuple[Agent, Why | None] | None:
        """The agent for a call not in line (new, or back from an offer); a reservation
        call is routed here only if it would head its line."""
        if self.reservation is not None and q.name in self.reservation.group_of:
            return self.reservation.pick_new(call, q, now)
        agent = self.routing.pick_agent(call, q)
        return None if agent is None else (agent, None)

    def settle(self, now: float, offer: Offer) -> None:
        """Reservation groups: pair every ready agent a rule allows with a line's head."""
        if self.reservation is not None:
            self.reservation.settle(now, offer)

    def guard_s(self, q: Queue) -> float | None:
        """The reservation guard of the queue (None: none), NO_GUARD outside a group."""
        res = self.reservation
        if res is None or q.name not in res.group_of:
            return NO_GUARD
        return res.groups[res.group_of[q.name]].guard_s

    def waiting_why(self, call: Call, now: float) -> Why:
        """Why this waiting call has no agent yet."""
        if self.reservation is not None and call.queue in self.reservation.group_of:
            return self.reservation.waiting_why(call, now)
        return relaxation_why(self.routing.queues[call.queue], call, None, now)

    def may_serve(self, agent: Agent, call: Call, now: float) -> bool:
        """Would this agent, if ready, be allowed to take this call now?"""
        if self.reservation is not None and call.queue in self.reservation.group_of:
            return self.reservation.may_serve(agent, call, now)
        return self.routing.may_serve(agent, call)
