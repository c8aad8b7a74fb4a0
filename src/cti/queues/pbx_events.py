"""AMI events in: what the PBX reports about the ACD's calls and the agents' phones
(arrival, answer, dial failure, callback, hang-up, reachability) as engine steps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import structlog

from cti.ami import models as m
from cti.queues.dialplan import CALLBACK
from cti.queues.engine import Acd
from cti.queues.errors import AcdError
from cti.queues.events import (
    Command,
    Decisions,
    HangUpLeg,
    OfferFailure,
    OverflowCall,
    ReturnToLine,
)
from cti.queues.legs import Leg, Legs

UP = 6  # ChannelState of an answered channel
log = structlog.get_logger(__name__)

_DIAL_FAILURES: dict[str, OfferFailure] = {
    "NOANSWER": "no_answer",
    "BUSY": "busy",
    "CONGESTION": "unreachable",
    "CHANUNAVAIL": "unreachable",
}


def _unix_time(value: str) -> float | None:
    """CTI_CALLBACK_AT: the time the citizen picked (Unix seconds); "" or junk: none."""
    try:
        at = float(value)
    except ValueError:
        return None
    return at if 0 < at < 1e11 else None


class Subscribable(Protocol):
    def subscribe(self, cls: Any, callback: Any) -> None: ...


class PbxEventHandler:
    """Subscribes to the AMI events the ACD needs and applies the steps they mean."""

    def __init__(
        self,
        acd: Acd,
        legs: Legs,
        now: Callable[[], float],
        apply: Callable[[Decisions], Decisions],
        attempt: Callable[[Callable[[], Decisions]], None],
        put: Callable[[Command], None],
    ) -> None:
        self.acd = acd
        self._legs = legs
        self._now = now
        self._apply = apply  # publish the events, queue the commands of a step
        self._try = attempt  # the same, logging a step the engine refuses
        self._put = put  # queue a command of our own

    def attach(self, feed: Subscribable) -> None:
        feed.subscribe(m.VarSet, self._on_varset)
        feed.subscribe(m.DialEnd, self._on_dial_end)
        feed.subscribe(m.Hangup, self._on_hangup)
        feed.subscribe(m.ContactStatus, self._on_contact)

    def _on_varset(self, e: m.VarSet) -> None:
        name, value = e.variable, e.value
        seen = self._legs.variables.setdefault(e.uniqueid, {})
        seen[name] = value
        call = self._legs.call_of.get(e.uniqueid)
        if name == "CTI_WAITING" and value == "1" and call is None:
            self._arrived(e, seen)
        elif name == "CTI_CALL_ID" and value:
            self._legs.call_of[e.uniqueid] = value  # the agent leg of a callback
            self._legs.placed[value] = Leg(e.channel, e.uniqueid)
        elif call is None:
            return
        elif name == "CTI_DIAL_RESULT" and value in _DIAL_FAILURES:
            if e.context == CALLBACK:  # the citizen did not take the callback
                self._try(lambda: self.acd.caller_hung_up(call, self._now()))
            else:
                self._try(lambda: self.acd.offer_failed(call, _DIAL_FAILURES[value], self._now()))
        elif name == "CTI_CALLBACK" and value:
            at = _unix_time(seen.get("CTI_CALLBACK_AT", ""))  # the IVR sets it just before
            self._try(lambda: self.acd.callback_accepted(call, value, self._now(), at))

    def _arrived(self, e: m.VarSet, seen: dict[str, str]) -> None:
        call = e.linkedid or e.uniqueid
        queue = seen.get("CTI_QUEUE", "")
        try:
            priority = int(seen.get("CTI_PRIORITY", "0") or 0)
        except ValueError:
            priority = 0
        try:
            decisions = self.acd.call_arrived(call, queue, self._now(), priority)
        except AcdError as exc:
            # A call the ACD cannot take must still be answered: the plain Asterisk queue.
            log.error(
                "acd.call_refused", call=call, queue=queue, code=exc.code, message=exc.message
            )
            self._put(OverflowCall(call, queue, "fallback", None))
            self._legs.callers[call] = Leg(e.channel, e.uniqueid)
            self._legs.call_of[e.uniqueid] = call  # so that its Hangup forgets it
            return
        self._legs.callers[call] = Leg(e.channel, e.uniqueid)
        self._legs.call_of[e.uniqueid] = call
        self._apply(decisions)

    def _on_contact(self, e: m.ContactStatus) -> None:
        """An agent's phone became (un)reachable: unreachable agents get no calls."""
        status = e.contact_status
        if status not in ("Reachable", "Unreachable", "Removed", "NonQualified", "Created"):
            return
        reachable = status in ("Reachable", "NonQualified", "Created")
        endpoint = f"PJSIP/{e.endpoint_name}"
        for agent in self.acd.profiles():
            if agent.endpoint == endpoint:
                self._try(partial(self.acd.set_reachable, agent.id, reachable, self._now()))

    def _on_dial_end(self, e: m.DialEnd) -> None:
        call = self._legs.call_of.get(e.uniqueid)
        if call is not None and e.dial_status == "ANSWER":
            if call in self._legs.callers and e.dest.uniqueid:
                self._legs.add_agent_leg(call, Leg(e.dest.channel, e.dest.uniqueid))
            self._try(lambda: self.acd.offer_answered(call, self._now()))

    def _on_hangup(self, e: m.Hangup) -> None:
        legs = self._legs
        legs.variables.pop(e.uniqueid, None)
        self._agent_leg_gone(e.uniqueid)
        call = legs.call_of.pop(e.uniqueid, None)
        if call is None:
            return
        leg = legs.callers.get(call)
        is_caller = leg is not None and leg.uniqueid == e.uniqueid
        if is_caller:
            del legs.callers[call]
            agent_leg = legs.pop_agent_leg(call)
            view = self.acd.call_view(call)
            if agent_leg is not None and view is not None and view.held:
                self._put(HangUpLeg(call, agent_leg.channel))
        else:
            legs.calling_back.discard(call)  # the callback's agent leg is gone
            placed = legs.placed.get(call)
            if placed is not None and placed.uniqueid == e.uniqueid:
                del legs.placed[call]
        view = self.acd.call_view(call)
        if view is None:
            legs.calling_back.discard(call)
            return
        if is_caller and call in legs.calling_back:
            # The citizen's first line, dropped after accepting the callback, reported
            # after the callback was placed: the callback leg is what counts now.
            return
        if view.state == "connected":
            self._try(lambda: self.acd.call_ended(call, self._now()))
        elif is_caller:
            # Abandoned; or, after accepting a callback, the ACD keeps the place.
            self._try(lambda: self.acd.caller_hung_up(call, self._now()))
        elif view.state == "offered" and view.callback_number is not None and e.channel_state == UP:
            # The agent's leg placed for a callback or her own call was answered, then
            # ended before the citizen answered (she hung up while it rang): the
            # citizen was not reached. (A leg never answered: OriginateResponse decides.)
            self._try(lambda: self.acd.caller_hung_up(call, self._now()))

    def _agent_leg_gone(self, uniqueid: str) -> None:
        call = self._legs.agent_leg_of.get(uniqueid)  # every Hangup asks: a lookup, not a scan
        if call is None:
            return
        self._legs.pop_agent_leg(call)
        view = self.acd.call_view(call)
        if view is None or not view.held or call not in self._legs.callers:
            return  # not on hold: the dialplan ends the caller's side (Dial returns)
        # The agent's phone went away while the citizen was on hold: back in line.
        self._try(lambda: self.acd.call_ended(call, self._now()))
        leg = self._legs.forget_caller(call)
        self._put(ReturnToLine(call, view.queue, leg.channel))
