"""Asterisk's view of each call from its CEL (cel_custom CSV, deploy/asterisk/cel_custom.conf),
with the definitions of docs/records.md:

- queued: the caller's first entry into a line: its first event in `[cti-hold]` (music
  on hold there; the dialplan sets `CTI_WAITING=1` just before) or in app_queue's `Queue`;
- an agent leg: a channel of an agent's phone (by the ACD's endpoints), or one app_queue
  dialled (`AppQueue`), or the one Dial in `[cti-connect]` bridged the caller with;
- answered: the first agent leg's `ANSWER`; ring: that leg's `CHAN_START` -> `ANSWER`;
- wait: queued -> answered; unanswered: -> leaving the line (the caller's first event
  elsewhere than a line or `[cti-connect]`, or its `HANGUP` in line);
- hold: music on hold on any leg (`STREAM_BEGIN` with a class -> `STREAM_END`), or a
  phone's `HOLD` -> `UNHOLD`, begun after an agent answered while the caller was not
  back in a line (`[cti-held]` is a hold, `[cti-hold]` is waiting), counted once when
  several legs are held together;
- talk: each answered agent leg from `ANSWER` to its `HANGUP`, summed, less hold;
- who hung up: `hangupsource` in the caller's `HANGUP` (its own channel: the caller; an
  agent leg: the agent; none or another: the system);
- outcome: an agent answered; never in a line: IVR only; left the line for the callback
  offer: callback, for elsewhere (voicemail): overflowed; hung up in line by nobody's
  side (no `hangupsource`: Asterisk shut down or restarted): failed; else abandoned;
- ended: `LINKEDID_END`; a call without one is not finished (Asterisk crashed, or the
  file was read while it went on): what depends on its end is not said.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cti.queues.dialplan import CONNECT, HOLD, OVERFLOW_CONTEXTS
from cti.reconcile.files import csv_rows, number
from cti.reconcile.models import Agents, Call, Leg

# The columns of deploy/asterisk/cel_custom.conf, in its order (a test checks they agree).
CEL_FIELDS = (
    "eventtype",
    "eventtime",
    "channame",
    "uniqueid",
    "linkedid",
    "context",
    "exten",
    "appname",
    "appdata",
    "peer",
    "extra",
    "cidnum",
)
QUEUE_APP = "Queue"  # app_queue: a line too
QUEUE_MEMBER_APP = "AppQueue"  # what app_queue's member legs run
CALLBACK_OFFER = OVERFLOW_CONTEXTS["callback"]


@dataclass(frozen=True, slots=True)
class CelEvent:
    line: int
    kind: str
    at: float
    channel: str
    uniqueid: str
    linkedid: str
    context: str
    app: str
    appdata: str
    peer: str
    extra: dict[str, object]


# The events whose extra is read (`hangupsource`, the music class); the others' is dropped.
_EXTRA_READ = {"HANGUP", "STREAM_BEGIN"}
_NO_EXTRA: dict[str, object] = {}


def read_cel(path: Path, option: str = "--cel") -> list[CelEvent]:
    """Every event of a CEL CSV file, in file order (Asterisk's order of events). A
    day of a busy line is a million rows: the names that repeat are kept once."""
    out = []
    for line, row in csv_rows(path, option, CEL_FIELDS):
        kind = sys.intern(row["eventtype"])
        out.append(
            CelEvent(
                line,
                kind,
                number(row["eventtime"], "eventtime", path, line),
                sys.intern(row["channame"]),
                sys.intern(row["uniqueid"]),
                sys.intern(row["linkedid"]),
                sys.intern(row["context"]),
                sys.intern(row["appname"]),
                sys.intern(row["appdata"]),
                sys.intern(row["peer"]),
                _extra(row["extra"]) if kind in _EXTRA_READ else _NO_EXTRA,
            )
        )
    return out


def _extra(text: str) -> dict[str, object]:
    if not text.startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class _Fold:
    """One Linkedid's events folded into the facts the figures come from."""

    call: Call
    agents: Agents
    legs: dict[str, Leg] = field(default_factory=dict)
    caller: Leg | None = None
    answering: Leg | None = None
    in_line: bool = False
    left_line_at: float | None = None
    went_to: str = ""  # where the caller went when it last left the line
    caller_place: tuple[str, str] = ("", "")  # the caller's last (context, app)
    held: dict[str, set[str]] = field(default_factory=dict)  # uniqueid -> {"moh", "hold"}
    held_since: float | None = None
    hold_s: float = 0.0
    hangup_source: str | None = None

    def leg(self, e: CelEvent) -> Leg:
        leg = self.legs.get(e.uniqueid)
        if leg is None:
            if self.agents.of_channel(e.channel) is not None:
                role = "agent"
            elif e.channel.startswith("Local/") or self.caller is not None:
                role = "other"
            else:
                role = "caller"
            agent = self.agents.of_channel(e.channel) if role == "agent" else None
            leg = self.legs[e.uniqueid] = Leg(e.uniqueid, e.channel, role, agent, e.at)
            if role == "caller":
                self.caller = leg
        return leg

    def mark_agent(self, leg: Leg) -> None:
        """app_queue rang it, or Dial in [cti-connect] bridged the caller with it."""
        if leg.role == "other" and not leg.channel.startswith("Local/"):
            leg.role, leg.agent = "agent", self.agents.name(leg.channel)
            if leg.answered_at is not None:
                self.agent_answered(leg)

    def agent_answered(self, leg: Leg) -> None:
        if self.answering is None:
            self.answering = leg
        self.in_line = False  # an agent has the caller now

    def apply(self, e: CelEvent) -> None:
        if e.kind == "LINKEDID_END":
            self.call.ended_at = e.at
            return
        leg = self.leg(e)
        if e.app == QUEUE_MEMBER_APP:
            self.mark_agent(leg)
        if leg is self.caller:
            self.caller_moved(e)
        if e.kind == "ANSWER" and leg.answered_at is None:
            leg.answered_at = e.at
            if leg.role == "agent":
                self.agent_answered(leg)
        elif e.kind == "BRIDGE_ENTER" and leg is self.caller and e.context == CONNECT:
            peer = next((x for x in self.legs.values() if x.channel == e.peer), None)
            if peer is not None:
                self.mark_agent(peer)  # Dial in [cti-connect] rings agents only
        elif e.kind == "STREAM_BEGIN" and "class" in e.extra:
            self.hold_on(leg, "moh", e.at)
        elif e.kind == "HOLD":
            self.hold_on(leg, "hold", e.at)
        elif e.kind == "STREAM_END":
            self.hold_off(leg, "moh", e.at)
        elif e.kind == "UNHOLD":
            self.hold_off(leg, "hold", e.at)
        elif e.kind in ("HANGUP", "CHAN_END"):
            if leg.ended_at is None:
                leg.ended_at = e.at
            self.hold_off(leg, "moh", e.at)
            self.hold_off(leg, "hold", e.at)
            if e.kind == "HANGUP" and leg is self.caller:
                self.hangup_source = str(e.extra.get("hangupsource") or "")
                if self.in_line:
                    self.left_line_at, self.in_line = e.at, False

    def caller_moved(self, e: CelEvent) -> None:
        """Into a line (our `[cti-hold]`, app_queue), or out of it elsewhere."""
        if e.kind in ("HANGUP", "CHAN_END"):
            return
        place = (e.context, e.app)
        entering = (e.context == HOLD and self.caller_place[0] != HOLD) or (
            e.app == QUEUE_APP and self.caller_place[1] != QUEUE_APP
        )
        self.caller_place = place
        if entering:
            self.in_line, self.left_line_at = True, None
            if self.call.queued_at is None:
                self.call.queued_at = e.at
                if e.app == QUEUE_APP:  # app_queue was its first line: Asterisk's queue
                    self.call.queue = e.appdata.split(",", 1)[0] or None
        elif self.in_line and e.context not in (HOLD, CONNECT) and e.app != QUEUE_APP:
            self.in_line, self.left_line_at, self.went_to = False, e.at, e.context

    def hold_on(self, leg: Leg, kind: str, at: float) -> None:
        if self.answering is None or self.in_line:
            return  # music while waiting in line (or before anyone answered): no hold
        if not any(self.held.values()):
            self.held_since = at
        self.held.setdefault(leg.uniqueid, set()).add(kind)

    def hold_off(self, leg: Leg, kind: str, at: float) -> None:
        kinds = self.held.get(leg.uniqueid)
        if not kinds or kind not in kinds:
            return
        kinds.discard(kind)
        if not any(self.held.values()) and self.held_since is not None:
            self.hold_s += max(0.0, at - self.held_since)
            self.held_since = None

    def finish(self) -> Call:
        call = self.call
        call.legs = list(self.legs.values())
        call.finished = call.ended_at is not None
        answering = self.answering
        if answering is not None and answering.answered_at is not None:
            call.agent, call.answered_at = answering.agent, answering.answered_at
            call.ring_s = round(answering.answered_at - answering.started_at, 3)
        if call.queued_at is not None:
            until = call.answered_at or self.left_line_at
            if until is None and self.caller is not None:
                until = self.caller.ended_at
            call.wait_s = None if until is None else round(max(0.0, until - call.queued_at), 3)
        if not call.finished:
            # No end: hold, talk, who hung up, and what became of a call not answered
            # (and its wait) are not known.
            call.outcome = "answered" if call.answered_at is not None else None
            call.wait_s = call.wait_s if call.answered_at is not None else None
            return call
        if self.held_since is not None and call.ended_at is not None:
            self.hold_s += max(0.0, call.ended_at - self.held_since)
        call.hold_s = round(self.hold_s, 3)
        call.outcome = self.outcome()
        if call.answered_at is not None:
            talk = sum(
                (leg.ended_at or call.ended_at or leg.answered_at) - leg.answered_at
                for leg in call.legs
                if leg.role == "agent" and leg.answered_at is not None
            )
            call.talk_s = round(max(0.0, talk - self.hold_s), 3)
        call.hangup_side = self.hangup_side()
        return call

    def outcome(self) -> str:
        if self.call.answered_at is not None:
            return "answered"
        if self.call.queued_at is None:
            return "ivr_only"
        if self.left_line_at is not None and not self.in_line and self.went_to:
            return "callback" if self.went_to == CALLBACK_OFFER else "overflowed"
        if not self.hangup_source:
            return "failed"  # nobody's side asked: Asterisk ended it (a restart)
        return "abandoned"

    def hangup_side(self) -> str:
        source = self.hangup_source or ""
        if self.caller is not None and source == self.caller.channel:
            return "caller"
        if any(x.role == "agent" and x.channel == source for x in self.legs.values()):
            return "agent"
        return "system"


def calls_from_cel(events: Iterable[CelEvent], agents: Agents) -> dict[str, Call]:
    """Each Linkedid's call as Asterisk's CEL tells it, in order of arrival."""
    folds: dict[str, _Fold] = {}
    for e in events:
        fold = folds.get(e.linkedid)
        if fold is None:
            fold = folds[e.linkedid] = _Fold(Call(e.linkedid, e.at), agents)
        fold.apply(e)
    return {linkedid: fold.finish() for linkedid, fold in folds.items()}


def linkedids(events: Iterable[CelEvent]) -> dict[str, str]:
    """Uniqueid -> Linkedid of every channel (queue_log names calls by the caller's
    Uniqueid)."""
    return {e.uniqueid: e.linkedid for e in events if e.uniqueid}
