"""One interaction's record, folded from what Asterisk said, whoever routed the call.

The facts come in as method calls (a leg started, answered, ended; a hang-up was asked
for; the call entered a queue, was offered, answered, abandoned; a hold began) from the
call tracker's events and from the queue events of either router — our ACD or
Asterisk's own app_queue. `summary()` derives every stored figure from those facts with
one definition (see docs/records.md), so a fact that arrives late only changes the
figures it touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cti.ami.events import EndReason
from cti.store.phone import try_normalise

# outcome: what happened to the citizen's request; end_reason: why the contact ended.
PBX_ENDS = {"pbx_restart", "pbx_lost", "ended_while_disconnected"}


@dataclass
class Leg:
    id: str  # Asterisk's Uniqueid
    channel: str
    role: str  # caller | agent | other
    started_at: float
    agent: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    cause: int | None = None


@dataclass
class InteractionRecord:
    id: str
    arrived_at: float
    caller_number: str
    direction: str = "inbound"
    legs: dict[str, Leg] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    agent: str | None = None
    answering_leg: str | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    last_offer_at: float | None = None
    answered_at: float | None = None  # the router said an agent took it
    left_queue_at: float | None = None  # left a line unanswered (abandon, overflow)
    in_queue: bool = False
    queue_outcome: str | None = None  # abandoned | overflowed | callback | failed
    held: set[str] = field(default_factory=set)  # legs on hold now
    held_since: float | None = None
    hold_s: float = 0.0
    hangup_leg: str | None = None  # the first leg whose own side hung up
    hangup_cause: int | None = None
    queue_says_hung_up_by: str | None = None  # app_queue's AgentComplete Reason
    shutdown: bool = False  # a leg was hung up by Asterisk shutting down
    ended_at: float | None = None
    ended_why: EndReason | None = None

    def known_before(self, facts: dict[str, Any]) -> None:
        """What an earlier CTI knew of this call while it was in progress (its
        `open_interactions` row: arrival, queue, offer, answer, agent). This process
        joined the call mid-way, after a restart or a takeover; what it sees itself
        still comes on top (a router's first answer is kept either way)."""
        if facts.get("arrived_at") is not None:
            self.arrived_at = min(self.arrived_at, facts["arrived_at"])
        self.queue = self.queue or facts.get("queue")
        for name in ("queued_at", "offered_at"):
            if getattr(self, name) is None and facts.get(name) is not None:
                setattr(self, name, facts[name])
        if self.answered_at is None and facts.get("answered_at") is not None:
            self.answered_at, self.agent = facts["answered_at"], facts.get("agent")
        if facts.get("direction") == "outbound":
            # An agent's own call: the citizen is the number she called, whatever caller
            # id her leg shows (the hotline's, set by [cti-callback]).
            self.direction = "outbound"
            if facts.get("caller_number"):
                self.variables.setdefault("CTI_CALLBACK_NUMBER", facts["caller_number"])
        for name, variable in (("topic", "CTI_TOPIC"), ("called_number", "CTI_CALLED")):
            if facts.get(name):
                self.variables.setdefault(variable, facts[name])

    # --- legs ----------------------------------------------------------------------------

    def add_leg(self, uniqueid: str, channel: str, at: float, agent: str | None) -> Leg:
        leg = self.legs.get(uniqueid)
        if leg is None:
            if agent is not None:
                role = "agent"
            elif channel.startswith("Local/") or self.caller_leg() is not None:
                role = "other"
            else:
                role = "caller"
            leg = self.legs[uniqueid] = Leg(uniqueid, channel, role, at, agent)
        return leg

    def caller_leg(self) -> Leg | None:
        return next((leg for leg in self.legs.values() if leg.role == "caller"), None)

    def mark_agent_leg(self, uniqueid: str, agent: str) -> None:
        """app_queue named the member whose phone this leg is."""
        leg = self.legs.get(uniqueid)
        if leg is not None:
            leg.role, leg.agent = "agent", agent

    def leg_answered(self, uniqueid: str, at: float) -> None:
        leg = self.legs.get(uniqueid)
        if leg is not None and leg.answered_at is None:
            leg.answered_at = at

    def leg_ended(self, uniqueid: str, at: float, cause: int) -> None:
        leg = self.legs.get(uniqueid)
        if leg is not None and leg.ended_at is None:
            leg.ended_at, leg.cause = at, cause
        self.hold_stopped(uniqueid, at)

    def hangup_requested(self, uniqueid: str, soft: bool, cause: int, shutdown: bool) -> None:
        if shutdown:
            self.shutdown = True
        if not soft and self.hangup_leg is None and uniqueid in self.legs:
            self.hangup_leg, self.hangup_cause = uniqueid, cause

    # --- queues (our ACD or app_queue) -------------------------------------------------

    def entered_queue(self, queue: str, at: float) -> None:
        self.queue, self.in_queue = queue or self.queue, True
        if self.queued_at is None:
            self.queued_at = at

    def queued_by_pbx(self, value: str) -> None:
        """The dialplan's CTI_QUEUED_AT (a Unix time set once, on entering the first
        line): what a call adopted after a restart knows of its queue entry."""
        try:
            at = float(value)
        except ValueError:
            return
        if self.arrived_at - 1 <= at and (self.queued_at is None or at < self.queued_at):
            self.queued_at = at

    def offered(self, queue: str, agent: str, at: float) -> None:
        self.queue, self.in_queue = queue or self.queue, True  # ringing: still not talking
        self.last_offer_at = at
        if self.offered_at is None:
            self.offered_at = at

    def answered(self, queue: str, agent: str, at: float, leg: str | None = None) -> None:
        self.queue, self.in_queue = queue or self.queue, False
        self.queue_outcome = None
        if self.answered_at is None:  # the first agent to answer is the call's agent
            self.answered_at, self.agent = at, agent
        if leg is None:  # our ACD: the agent's leg is the newest one of that agent
            legs = [x for x in self.legs.values() if x.agent == agent]
            leg = legs[-1].id if legs else None
        if leg is not None and self.answering_leg is None:
            self.answering_leg = leg

    def left_queue(self, at: float, outcome: str) -> None:
        """Out of the line unanswered: abandoned, overflowed, callback, failed."""
        if self.answered_at is None:
            # The router's verdict may come just after the caller's Hangup ended the record.
            left = at if self.ended_at is None else min(at, self.ended_at)
            self.queue_outcome, self.left_queue_at = outcome, left
        self.in_queue = False

    def left_line(self, at: float) -> None:
        """app_queue's QueueCallerLeave: it comes before AgentConnect when an agent takes
        the call, and alone when the caller left the queue some other way (a timeout,
        an exit key): then the call overflowed, unless an answer follows."""
        self.in_queue = False
        if self.answered_at is None and self.queue_outcome is None:
            self.left_queue_at = at

    # --- holds: music on hold counts only once an agent has the call ----------------------

    def hold_started(self, uniqueid: str, at: float) -> None:
        if self.answered_at is None or self.in_queue:
            return  # waiting in line, not a hold
        if not self.held:
            self.held_since = at
        self.held.add(uniqueid)

    def hold_stopped(self, uniqueid: str, at: float) -> None:
        if uniqueid not in self.held:
            return
        self.held.discard(uniqueid)
        if not self.held and self.held_since is not None:
            self.hold_s += max(0.0, at - self.held_since)
            self.held_since = None

    # --- the end -------------------------------------------------------------------------

    def ended(self, at: float, why: EndReason) -> None:
        for uniqueid in list(self.held):
            self.hold_stopped(uniqueid, at)
        self.ended_at, self.ended_why = at, why

    def summary(self) -> dict[str, Any]:
        """Every stored figure, derived from the facts (docs/records.md defines them)."""
        end = self.ended_at
        answer_leg = self.legs.get(self.answering_leg or "")
        answered_at = self.answered_at
        if answered_at is None and self.direction == "inbound":
            # No router said so (the call was routed while we were away): an agent's
            # phone that answered in this call took it.
            answer_leg = next(
                (x for x in self.legs.values() if x.role == "agent" and x.answered_at), None
            )
        if answer_leg is not None and answer_leg.answered_at is not None:
            answered_at = answer_leg.answered_at  # the phone's own answer, as Asterisk saw it
        citizen, outbound = self.caller_number, self.direction == "outbound"
        if outbound:
            # An agent's own call (click-to-call, a callback): the agent's phone answers
            # first, then the number is dialled; the call is answered when the citizen is.
            called = self.caller_leg()
            answer_leg = called
            answered_at = called.answered_at if called is not None else None
            dialled = self.variables.get("CTI_CALLBACK_NUMBER", "")
            citizen = try_normalise(dialled) or dialled or citizen
        outcome = self._outcome(answered_at)
        wait = None
        if self.queued_at is not None:
            until = answered_at if answered_at is not None else (self.left_queue_at or end)
            wait = None if until is None else round(max(0.0, until - self.queued_at), 3)
        ring = None
        if answer_leg is not None and answered_at is not None:
            ring = round(max(0.0, answered_at - answer_leg.started_at), 3)
        elif answered_at is not None and self.last_offer_at is not None:
            ring = round(max(0.0, answered_at - self.last_offer_at), 3)
        return {
            "direction": self.direction,
            "caller_number": citizen,
            "called_number": citizen if outbound else self.variables.get("CTI_CALLED", ""),
            "ivr_path": [p for p in self.variables.get("CTI_IVR_PATH", "").split(",") if p],
            "queue": self.queue or self.variables.get("CTI_QUEUE") or None,
            "topic": self.variables.get("CTI_TOPIC") or None,
            "agent": self.agent or self._agent_of(answer_leg),
            "arrived_at": self.arrived_at,
            "queued_at": self.queued_at,
            "offered_at": self.offered_at,
            "answered_at": answered_at,
            "ended_at": end,
            "wait_s": wait,
            "ring_s": ring,
            "talk_s": self._talk(answered_at),
            "hold_s": round(self.hold_s, 3),
            "outcome": outcome,
            "end_reason": self._end_reason(outcome),
            "hangup_side": self._hangup_side(),
            "hangup_cause": self.hangup_cause,
        }

    def legs_summary(self) -> list[dict[str, Any]]:
        end = self.ended_at
        return [
            {
                "id": leg.id,
                "channel": leg.channel,
                "role": leg.role,
                "agent": leg.agent,
                "started_at": leg.started_at,
                "answered_at": leg.answered_at,
                "ended_at": leg.ended_at or end,
                "cause": leg.cause,
            }
            for leg in self.legs.values()
        ]

    def _outcome(self, answered_at: float | None) -> str:
        if answered_at is not None:
            return "answered"
        if self.ended_why in PBX_ENDS or self.shutdown:
            return "failed" if self.queued_at is not None else "ivr_only"
        if self.queue_outcome is not None:
            return self.queue_outcome
        if self.left_queue_at is not None:
            return "overflowed"
        if self.queued_at is not None or self.offered_at is not None:
            return "abandoned"
        if self.direction == "outbound":
            return "failed"  # an agent's own call the citizen never answered
        return "ivr_only"

    def _end_reason(self, outcome: str) -> str | None:
        if self.ended_at is None:
            return None
        if self.ended_why in PBX_ENDS:
            return self.ended_why
        if self.shutdown:
            return "pbx_restart"
        return "completed" if outcome == "answered" else outcome

    def _hangup_side(self) -> str:
        leg = self.legs.get(self.hangup_leg or "")
        if leg is not None:
            return {"caller": "caller", "agent": "agent"}.get(leg.role, "system")
        if self.queue_says_hung_up_by in ("caller", "agent"):
            return self.queue_says_hung_up_by
        return "system"

    def _agent_of(self, answer_leg: Leg | None) -> str | None:
        """The agent of the answering leg; on an agent's own call, the agent's leg."""
        if self.direction == "outbound":
            return next((x.agent for x in self.legs.values() if x.role == "agent"), None)
        return answer_leg.agent if answer_leg else None

    def _talk(self, answered_at: float | None) -> float | None:
        """Time agents were connected (each answered agent leg, answer to end), less hold."""
        if answered_at is None:
            return None
        total = 0.0
        for leg in self.legs.values():
            if leg.role != "agent" or leg.answered_at is None:
                continue
            until = leg.ended_at or self.ended_at
            if until is not None:
                total += max(0.0, until - leg.answered_at)
        if total == 0.0 and self.ended_at is not None:
            total = max(0.0, self.ended_at - answered_at)  # no agent leg seen (outbound)
        return round(max(0.0, total - self.hold_s), 3)
