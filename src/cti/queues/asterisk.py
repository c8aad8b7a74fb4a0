"""Asterisk's own queues (app_queue: the `cti-fallback` queue that answers citizens while
the CTI is unreachable, or any `Queue()` a site keeps), followed from AMI so that the
wallboard and `/metrics` stay true while our ACD is not the one routing.

Pure: the call tracker's queue events (joined, left, abandoned, agent answered and
completed) and app_queue's `QueueMember*` events in, `QueueView`s and member views out.
The figures use `QueueStats`, the same definitions as our ACD's (docs/records.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.ami import events as ce
from cti.ami import models as m
from cti.queues.stats import QueueStats
from cti.queues.views import QueueView

# app_queue's member Status: Asterisk's device states (AST_DEVICE_*).
DEVICE_STATES = {
    0: "unknown",
    1: "not_in_use",
    2: "in_use",
    3: "busy",
    4: "invalid",
    5: "unavailable",
    6: "ringing",
    7: "ring_in_use",
    8: "on_hold",
}
MEMBER_EVENTS: tuple[type[m.QueueMemberEvent], ...] = (
    m.QueueMemberAdded,
    m.QueueMemberRemoved,
    m.QueueMemberPause,
    m.QueueMemberStatus,
)
MAX_QUEUES = 200  # queue names come from Asterisk's configuration; bounded all the same
MAX_MEMBERS = 2000


@dataclass(slots=True)
class Member:
    queue: str
    name: str
    interface: str
    device: str = "unknown"
    paused: bool = False
    paused_reason: str = ""
    in_call: bool = False
    calls_taken: int = 0


@dataclass(slots=True)
class AppQueue:
    name: str
    waiting: dict[str, float] = field(default_factory=dict)  # interaction -> joined at
    # Left the line (QueueCallerLeave, which precedes AgentConnect): answered if an
    # AgentConnect follows, overflowed if the call goes on without one.
    left: dict[str, float] = field(default_factory=dict)
    stats: QueueStats = field(default_factory=QueueStats)
    members: dict[str, Member] = field(default_factory=dict)  # interface -> member


class AsteriskQueues:
    """Live figures of app_queue's queues; `service_level_s` is the SL threshold."""

    def __init__(self, service_level_s: float = 20.0) -> None:
        self.service_level_s = service_level_s
        self.queues: dict[str, AppQueue] = {}

    def _queue(self, name: str) -> AppQueue | None:
        q = self.queues.get(name)
        if q is None and len(self.queues) < MAX_QUEUES:
            q = self.queues[name] = AppQueue(name)
        return q

    def on_call_event(self, e: ce.CallEvent) -> None:
        if isinstance(e, ce.QueueJoined):
            self._settle(e.interaction_id)
            q = self._queue(e.queue)
            if q is not None:
                q.stats.offered += 1
                q.waiting[e.interaction_id] = e.at
        elif isinstance(e, ce.QueueLeft):
            q = self.queues.get(e.queue)
            joined = q.waiting.pop(e.interaction_id, None) if q else None
            if q is not None and joined is not None:
                q.left[e.interaction_id] = joined
        elif isinstance(e, ce.AgentAnswered):
            q = self.queues.get(e.queue)
            joined = q.left.pop(e.interaction_id, None) if q else None
            if q is not None and joined is None:
                joined = q.waiting.pop(e.interaction_id, None)
            if q is not None and joined is not None:
                q.stats.record_answer(max(0.0, e.at - joined), self.service_level_s)
        elif isinstance(e, ce.QueueAbandoned):
            q = self.queues.get(e.queue)
            if q is not None and q.waiting.pop(e.interaction_id, None) is not None:
                q.stats.abandoned += 1
        elif isinstance(e, ce.AgentCompleted):
            q = self.queues.get(e.queue)
            if q is not None:
                q.stats.record_completion(float(e.talk_s), 0.0)
        elif isinstance(e, ce.InteractionEnded):
            self._settle(e.interaction_id)
            for q in self.queues.values():  # a caller gone without a queue event
                if q.waiting.pop(e.interaction_id, None) is not None:
                    q.stats.abandoned += 1

    def _settle(self, interaction: str) -> None:
        """A caller that left a line with no agent: overflowed (timeout, exit key)."""
        for q in self.queues.values():
            if q.left.pop(interaction, None) is not None:
                q.stats.overflowed += 1

    def on_member(self, e: m.QueueMemberEvent) -> None:
        q = self._queue(e.queue)
        if q is None:
            return
        if isinstance(e, m.QueueMemberRemoved):
            q.members.pop(e.interface, None)
            return
        member = q.members.get(e.interface)
        if member is None:
            if sum(len(x.members) for x in self.queues.values()) >= MAX_MEMBERS:
                return
            member = q.members[e.interface] = Member(e.queue, e.member_name, e.interface)
        member.name = e.member_name or member.name
        member.device = DEVICE_STATES.get(e.status, "unknown")
        member.paused, member.paused_reason = bool(e.paused), e.paused_reason
        member.in_call, member.calls_taken = bool(e.in_call), e.calls_taken

    def resync(self, members: list[m.QueueMember], entries: list[m.QueueEntry], now: float) -> None:
        """After a (re)connect, from QueueStatus: who is a member now, who waits now (the
        counters go on: they are since this process started)."""
        for q in self.queues.values():
            q.members.clear()
            q.waiting.clear()
            q.left.clear()
        for x in members:
            into = self._queue(x.queue)
            if into is not None and len(into.members) < MAX_MEMBERS:
                into.members[x.location] = Member(
                    x.queue,
                    x.name,
                    x.location,
                    DEVICE_STATES.get(x.status, "unknown"),
                    bool(x.paused),
                    x.paused_reason,
                    bool(x.in_call),
                    x.calls_taken,
                )
        for entry in entries:
            line = self._queue(entry.queue)
            if line is not None:
                line.waiting[entry.uniqueid] = now - entry.wait

    def view(self, name: str, now: float) -> QueueView:
        q = self.queues[name]
        s = q.stats
        longest = max((now - t for t in q.waiting.values()), default=0.0)
        logged_in = [x for x in q.members.values() if x.device not in ("unavailable", "invalid")]
        ready = [
            x for x in logged_in if not x.paused and not x.in_call and x.device == "not_in_use"
        ]
        return QueueView(
            name=name,
            waiting=len(q.waiting),
            ringing=sum(1 for x in q.members.values() if x.device in ("ringing", "ring_in_use")),
            longest_wait_s=round(max(0.0, longest), 1),
            agents_logged_in=len(logged_in),
            agents_ready=len(ready),
            offered=s.offered,
            answered=s.answered,
            abandoned=s.abandoned,
            overflowed=s.overflowed,
            service_level=s.service_level,
            abandon_rate=s.abandon_rate,
            asa_s=s.asa_s,
            aht_s=s.aht_s,
            expected_wait_s=None,
        )
