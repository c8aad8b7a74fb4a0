"""The AMI feed: raw messages -> typed events -> call tracker -> published domain events.

This is the single place where AMI dicts become typed models. Events nobody consumes
are counted but not typed, and VarSet (about half of a busy PBX's traffic) is
filtered on its variable name before any model is built. Counts are kept by name only
for the events the CTI knows (the typed ones); every other name counts as `other`, so
a peer inventing names cannot grow the map or /metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import structlog

from cti.ami import models as m
from cti.ami.codec import EVENT_MODELS, parse_event
from cti.ami.events import CallEvent
from cti.ami.tracker import ANSWER_VARIABLE, START_VARIABLE, CallTracker, wants_varset
from cti.ami.wire import RawMessage

log = structlog.get_logger("cti.ami")

# Channel variables read back from Asterisk after a reconnect.
RESYNC_VARIABLES = (
    "CTI_WAITING",
    "CTI_QUEUE",
    "CTI_QUEUED_AT",
    "CTI_TOPIC",
    "CTI_LANG",
    "CTI_PRIORITY",
    "CTI_INTERACTION",
    "CTI_ROUTED",
    "CTI_SPY",  # a supervisor's spy call: not a citizen's (not stored)
    "CTI_CALL_ID",  # an agent's leg placed by the ACD (a callback, her own call)
    "CTI_CALLBACK_NUMBER",
    START_VARIABLE,
    ANSWER_VARIABLE,
)
OTHER = "other"  # the count of every event name the CTI does not know


E = TypeVar("E", bound=m.AmiEvent)


class ActionSender(Protocol):
    """What sends AMI actions (the AmiClient; list values become repeated headers)."""

    async def send_action(self, fields: dict[str, Any], *, timeout: float | None = None) -> Any: ...


class AmiFeed:
    """Feeds the tracker (and other subscribers) from one AMI client."""

    def __init__(
        self,
        tracker: CallTracker,
        publish: Callable[[CallEvent], None],
        clock: Callable[[], float],
    ) -> None:
        self.tracker = tracker
        self._publish = publish
        self._clock = clock
        self._subscribers: dict[str, list[Callable[[Any], None]]] = {}
        self._wanted = set(tracker.handled_events)
        self.counts: Counter[str] = Counter()
        self.invalid = 0
        self.skipped = 0  # events nobody consumes: counted, never typed

    def subscribe(self, cls: type[E], callback: Callable[[E], None]) -> None:
        """Receive every typed event of one class (after the tracker has seen it)."""
        self._subscribers.setdefault(cls.__name__, []).append(callback)
        self._wanted.add(cls.__name__)

    def on_raw(self, raw: RawMessage) -> None:
        headers = raw.headers
        name = headers["Event"]
        self.counts[name if name in EVENT_MODELS else OTHER] += 1
        if name not in self._wanted or (
            name == "VarSet" and not wants_varset(headers.get("Variable", ""))
        ):
            self.skipped += 1
            return
        event = parse_event(raw)
        if isinstance(event, m.GenericEvent):
            self.invalid += 1
            log.warning("ami.invalid_event", ami_event=name, error=event.error)
            return
        if isinstance(event, m.Shutdown):
            log.warning("ami.asterisk_shutdown", restart=event.restart)
        linkedid = getattr(event, "linkedid", "")
        for out in self.tracker.apply(event, self._clock()):
            self._publish(out)
        for callback in self._subscribers.get(name, ()):
            try:
                callback(event)
            except Exception:
                log.exception("ami.subscriber_failed", ami_event=name, interaction=linkedid)

    def begin_session(self) -> None:
        """A new AMI connection: events from here on are fresh knowledge."""
        self.tracker.begin_epoch()

    async def resync(self, ami: ActionSender) -> None:
        """After every login: rebuild what Asterisk has now, end what vanished."""
        listing = await ami.send_action({"Action": "CoreShowChannels"})
        status = await ami.send_action(
            {"Action": "Status", "Variables": ",".join(RESYNC_VARIABLES)}
        )
        channels = [
            e for e in (parse_event(_raw(msg)) for msg in listing[1:])
            if isinstance(e, m.CoreShowChannel)
        ]  # fmt: skip
        statuses = [
            e for e in (parse_event(_raw(msg)) for msg in status[1:])
            if isinstance(e, m.Status)
        ]  # fmt: skip
        published = self.tracker.resync(channels, statuses, self._clock())
        for out in published:
            self._publish(out)
        log.info("ami.resynced", channels=len(channels), changes=len(published))


def parse_endpoints(listing: Any) -> dict[str, bool]:
    """A PJSIPShowEndpoints answer: endpoint name -> reachable (a phone that never
    registered, or stopped answering qualify, is `Unavailable`)."""
    out = {}
    for msg in listing[1:]:
        e = parse_event(_raw(msg))
        if isinstance(e, m.EndpointList):
            out[e.object_name] = e.device_state not in ("Unavailable", "Invalid", "")
    return out


def parse_queue_status(listing: Any) -> tuple[list[m.QueueMember], list[m.QueueEntry]]:
    """A QueueStatus answer's members and waiting callers, typed."""
    events = [parse_event(_raw(msg)) for msg in listing[1:]]
    members = [e for e in events if isinstance(e, m.QueueMember)]
    entries = [e for e in events if isinstance(e, m.QueueEntry)]
    return members, entries


def _raw(msg: Any) -> RawMessage:
    """panoramisk Message (values may be lists for repeated headers) -> RawMessage."""
    headers: dict[str, str] = {}
    repeated: dict[str, list[str]] = {}
    for key, value in msg.items():
        if isinstance(value, list):
            headers[key] = value[0]
            repeated[key] = list(value)
        else:
            headers[key] = value
    return RawMessage(headers, repeated or None)
