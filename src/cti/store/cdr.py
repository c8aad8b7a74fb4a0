"""Call records from what Asterisk said: the call tracker's events (legs, answers, holds,
hang-up requests, app_queue's queue and agent events, recordings, `CTI_*` variables)
and our ACD's (queued, offered, answered, abandoned, overflowed), folded into one
`InteractionRecord` per interaction whoever routed the call.

When an interaction ends, one `interaction` record (with its legs) goes out at once (a
crash right after loses nothing); a fact that arrives later (AgentComplete after the
caller's Hangup, the ACD's verdict after the tracker's, the agent's wrap-up, a
callback's answer) goes out as an `interaction_update` of just the figures it changed.
While it is in progress, what is known of it that never changes once known (arrival,
caller, queue, when it was queued, offered and answered, by whom) goes out as an
`interaction_open` record whenever that grows: a CTI killed mid-call leaves it in the
store, and the next CTI turns it into an interaction if the call ended meanwhile.
Also: one `agent_state` record per agent state change and one `recording` record per
MixMonitor file, whoever started it. Pure: records go to `emit` (the outbox's `put`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cti.ami import events as ce
from cti.queues import events as qe
from cti.store.interaction import InteractionRecord
from cti.store.outbox import Record
from cti.store.phone import try_normalise
from cti.store.records import OPEN_COLUMNS

# Ended interactions that may still get a late fact (seconds later; a callback's answer
# may come hours later): a few hours of a hotline's calls, bounded.
REMEMBER_ENDED = 2_000
_SPY: dict[str, Any] = {}  # `_open`'s mark for a spy call (dropped, never written)


def no_agents(channel: str) -> str | None:
    return None


class CdrBuilder:
    """`agent_of(channel or interface)` names the agent whose phone it is (from the ACD's
    profiles), so legs are attributed the same way whoever rang them."""

    def __init__(
        self,
        emit: Callable[[Record], None],
        clock: Callable[[], float] = time.time,
        agent_of: Callable[[str], str | None] = no_agents,
    ) -> None:
        self._emit = emit
        self._clock = clock
        self.agent_of = agent_of
        self._live: dict[str, InteractionRecord] = {}
        # Ended interactions that may still get a fact -> the figures last written.
        self._ended: OrderedDict[str, tuple[InteractionRecord, dict[str, Any]]] = OrderedDict()
        self._last_call: dict[str, str] = {}  # agent -> interaction of its last answer
        self._recordings: dict[str, dict[str, Any]] = {}  # uniqueid -> running recording
        self._open: dict[str, dict[str, Any]] = {}  # live interaction -> facts last written
        # What an earlier CTI wrote of the calls then in progress, until the first resync.
        self._earlier: dict[str, dict[str, Any]] = {}
        # An agent's own call (click-to-call, a task's call): the ACD's id of it (the
        # agent leg's CTI_CALL_ID) -> its interaction, for the wrap-up that follows it.
        self._placed: OrderedDict[str, str] = OrderedDict()

    def earlier(self, rows: list[dict[str, Any]]) -> None:
        """The `open_interactions` rows an earlier CTI left (read before the AMI link is
        up): a call of those this process joins mid-way, whether at the resync or from
        an event that comes before it, starts from what was known, not from nothing."""
        self._earlier = {row["id"]: row for row in rows}

    def resynced(self) -> None:
        """After the first resync: the earlier calls not joined by now have ended while
        no CTI watched (the store turns them into interactions: interactions_vanished)."""
        self._earlier.clear()

    def _find(self, interaction: str) -> InteractionRecord | None:
        it = self._live.get(interaction)
        if it is None and interaction in self._ended:
            it = self._ended[interaction][0]
        return it

    def _changed(self, it: InteractionRecord) -> None:
        """After a fact: for a call in progress, what is known of it if that grew; for an
        ended interaction, the figures it changed."""
        if it.id in self._live:
            self._opened(it)
            return
        if it.id not in self._ended:
            return
        _, written = self._ended[it.id]
        now = it.summary()
        fields = {k: v for k, v in now.items() if written.get(k) != v}
        if fields:
            self._ended[it.id] = (it, now)
            self._update(it.id, fields)

    def _opened(self, it: InteractionRecord) -> None:
        if it.variables.get("CTI_SPY"):
            # A supervisor's spy call is no citizen's: not kept as a call in progress.
            if self._open.get(it.id) is not _SPY:
                self._open[it.id] = _SPY
                self._emit(Record("interaction_dropped", it.id, {}))
            return
        summary = it.summary()
        facts = {c: summary[c] for c in OPEN_COLUMNS}
        if self._open.get(it.id) != facts:
            self._open[it.id] = facts
            self._emit(Record("interaction_open", it.id, facts))

    def _agent(self, channel_or_member: str) -> str | None:
        name = channel_or_member.rsplit("-", 1)[0] if "-" in channel_or_member else ""
        return self.agent_of(channel_or_member) or (self.agent_of(name) if name else None)

    # --- tracker events ----------------------------------------------------------------

    def on_call_event(self, e: ce.CallEvent) -> None:
        if isinstance(e, ce.InteractionStarted):
            if e.interaction_id in self._ended:
                # The same call again: joined in pieces (a CTI that logged in as one leg
                # ended and another went on). Its record grows on; it is written again
                # whole when it ends, not started anew from less.
                again, _ = self._ended.pop(e.interaction_id)
                again.add_leg(e.uniqueid, e.channel, e.at, self._agent(e.channel))
                again.ended_at = again.ended_why = None
                self._live[e.interaction_id] = again
                return
            number = try_normalise(e.caller_num) or e.caller_num
            new = InteractionRecord(e.interaction_id, e.at, number)
            new.add_leg(e.uniqueid, e.channel, e.at, self._agent(e.channel))
            known = self._earlier.pop(e.interaction_id, None)
            if known is not None:
                new.known_before(known)
            self._live[e.interaction_id] = new
            self._opened(new)
            return
        if isinstance(e, ce.RecordingStarted | ce.RecordingStopped):
            self._recording(e)
            return
        it = self._find(e.interaction_id)
        if it is None:
            return
        if isinstance(e, ce.ChannelJoined):
            it.add_leg(e.uniqueid, e.channel, e.at, self._agent(e.channel))
        elif isinstance(e, ce.ChannelAnswered):
            it.leg_answered(e.uniqueid, e.at)
        elif isinstance(e, ce.InteractionHeld):
            it.hold_started(e.uniqueid, e.at)
        elif isinstance(e, ce.InteractionResumed):
            it.hold_stopped(e.uniqueid, e.at)
        elif isinstance(e, ce.CtiVariableSet):
            it.variables[e.name] = e.value
            if e.name == "CTI_CALL_ID" and e.value:
                it.direction = "outbound"  # an agent leg placed for a callback
                self._placed[e.value] = it.id
                if len(self._placed) > REMEMBER_ENDED:
                    self._placed.popitem(last=False)
            elif e.name == "CTI_QUEUED_AT":
                it.queued_by_pbx(e.value)
            elif e.name == "CTI_WAITING" and e.value == "1":
                # [cti-hold]: the caller is in our ACD's line now, offered at once or not.
                it.entered_queue(it.variables.get("CTI_QUEUE", ""), e.at)
        elif isinstance(e, ce.HangupRequested):
            it.hangup_requested(e.uniqueid, e.soft, e.cause, e.shutdown)
        elif isinstance(e, ce.ChannelEnded):
            it.leg_ended(e.uniqueid, e.at, e.cause)
        elif isinstance(e, ce.QueueJoined):
            it.entered_queue(e.queue, e.at)
        elif isinstance(e, ce.AgentRinging):
            agent = self._member(e.member, e.interface)
            if e.agent_uniqueid:
                it.add_leg(e.agent_uniqueid, e.agent_channel, e.at, agent)
                it.mark_agent_leg(e.agent_uniqueid, agent)
            it.offered(e.queue, agent, e.at)
        elif isinstance(e, ce.AgentAnswered):
            agent = self._member(e.member, e.agent_channel)
            it.answered(e.queue, agent, e.at, e.agent_uniqueid or None)
            self._last_call[agent] = it.id
        elif isinstance(e, ce.QueueAbandoned):
            it.left_queue(e.at, "abandoned")
        elif isinstance(e, ce.QueueLeft):
            it.left_line(e.at)
        elif isinstance(e, ce.AgentCompleted):
            it.queue_says_hung_up_by = e.hung_up_by
        elif isinstance(e, ce.InteractionEnded) and it.id in self._live:
            self._finish(it, e)
            return
        self._changed(it)

    def _member(self, member: str, interface: str) -> str:
        """app_queue's member as our agent id (by its phone), else its member name."""
        return self._agent(interface) or self.agent_of(member) or member

    def _finish(self, it: InteractionRecord, e: ce.InteractionEnded) -> None:
        del self._live[it.id]
        if it.variables.get("CTI_SPY"):
            # A supervisor listening in (ChanSpy): audited, not a citizen's contact.
            if self._open.pop(it.id, None) is not _SPY:
                self._emit(Record("interaction_dropped", it.id, {}))
            return
        self._open.pop(it.id, None)
        it.ended(e.at, e.reason)
        summary = it.summary()
        self._ended[it.id] = (it, summary)
        if len(self._ended) > REMEMBER_ENDED:
            self._ended.popitem(last=False)
        self._emit(Record("interaction", it.id, {**summary, "legs": it.legs_summary()}))

    def _recording(self, e: ce.RecordingStarted | ce.RecordingStopped) -> None:
        if isinstance(e, ce.RecordingStarted):
            if e.file:
                self._recordings[e.uniqueid] = {"file": e.file, "started_at": e.at}
            return
        running = self._recordings.pop(e.uniqueid, None)
        started_at = running["started_at"] if running else e.at
        self._emit(
            Record(
                "recording",
                f"{e.interaction_id}-{e.uniqueid}",
                {
                    "interaction_id": e.interaction_id,
                    "leg_id": e.uniqueid,
                    "path": running["file"] if running else e.file,
                    "started_at": started_at,
                    "ended_at": e.at,
                },
            )
        )

    # --- ACD events --------------------------------------------------------------------

    def on_acd_event(self, e: qe.Event) -> None:
        now = self._clock()  # ACD times are on the ACD's clock; records use wall time
        if isinstance(e, qe.AgentStateChanged):
            self._agent_state(e, now)
            return
        if isinstance(e, qe.CallbackAccepted) and e.scheduled_at is not None:
            # A time picked in the IVR: a scheduled-callback task (merged per number).
            task = {"interaction_id": e.call, "number": e.number, "queue": e.queue}
            self._emit(Record("ivr_callback", e.call, {**task, "at": e.scheduled_at}))
        elif isinstance(e, qe.CallbackAccepted):
            due = {"interaction_id": e.call, "number": e.number, "queue": e.queue, "due_at": now}
            self._emit(Record("callback", e.call, due))
        it = self._find(e.call)
        if isinstance(e, qe.CallAnswered):
            # Her own call is named by the ACD's id; its wrap-up belongs to its record.
            own = self._placed.get(e.call) if it is None else None
            self._last_call[e.agent] = own or e.call
            if it is not None and it.id not in self._live and it.answered_at is None:
                self._callback_answered(e, now)
                return
        if it is None:
            return
        if isinstance(e, qe.CallQueued):
            it.entered_queue(e.queue, now)
        elif isinstance(e, qe.CallOffered):
            it.offered(e.queue, e.agent, now)
        elif isinstance(e, qe.CallAnswered):
            it.answered(e.queue, e.agent, now)
        elif isinstance(e, qe.CallAbandoned):
            it.left_queue(now, "abandoned")
        elif isinstance(e, qe.CallOverflowed):
            it.left_queue(now, "callback" if e.action == "callback" else "overflowed")
        elif isinstance(e, qe.CallbackFailed):
            it.left_queue(now, "failed")
            failed = {"interaction_id": e.call, "number": "", "due_at": now, "status": "failed"}
            self._emit(Record("callback", e.call, failed))
        self._changed(it)

    def _callback_answered(self, e: qe.CallAnswered, now: float) -> None:
        """A callback answered after the citizen's first call ended: it answers that one."""
        fields = {"agent": e.agent, "answered_at": now, "wait_s": round(e.wait_s, 3)}
        self._update(e.call, fields)
        done = {"interaction_id": e.call, "number": "", "due_at": now, "status": "done"}
        self._emit(Record("callback", e.call, done))

    def _agent_state(self, e: qe.AgentStateChanged, now: float) -> None:
        self._emit(
            Record(
                "agent_state",
                f"{e.agent}:{now:.6f}:{e.new}",
                {
                    "agent": e.agent,
                    "state": str(e.new),
                    "reason": e.reason,
                    "at": now,
                    "previous_s": e.previous_s,
                },
            )
        )
        call = self._last_call.get(e.agent)
        if str(e.old) == "wrap_up" and call is not None:
            self._update(call, {"wrap_up_s": round(e.previous_s, 3)})

    def _update(self, call: str, fields: dict[str, Any]) -> None:
        if call in self._ended:
            key = f"{call}:{','.join(sorted(fields))}:{self._clock():.6f}"
            self._emit(Record("interaction_update", key, {"id": call, "fields": fields}))
