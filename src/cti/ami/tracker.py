"""The call tracker: folds typed AMI events into channels and interactions.

Pure core: `apply(event, now)` and `resync(...)` change state and return the domain
events they cause; no I/O, no clock reads. Channels are keyed by Uniqueid (which
embeds Asterisk's boot time, so ids stay unique across a PBX restart; channel names
do not), interactions by Linkedid.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from cti.ami import events as ev
from cti.ami import models as m
from cti.ami.app_queue import AppQueueEvents
from cti.ami.lifecycle import PbxLifecycle
from cti.ami.state import Channel, Interaction

UP = 6  # AST_STATE_UP
NULL = "(null)"  # what Status answers for a variable that is not set
# Read at resync: when a channel Asterisk still has started and answered.
START_VARIABLE, ANSWER_VARIABLE = "CDR(start,u)", "CDR(answer,u)"
# Hung-up Uniqueids remembered to ignore late events about them: at least MAX_CHANNELS,
# so that a channel dropped for room does not come back as a new one.
ENDED_MEMORY = 20_000
# Live channels kept at most (a hotline has hundreds; a peer that never sends Hangup
# must not grow the tracker for ever): past it the oldest is dropped as if it had ended.
MAX_CHANNELS = 20_000


_VARSET_PREFIXES = ("CTI_", "_CTI_", "__CTI_", "MIXMONITOR_FILENAME")


def cdr_time(variables: dict[str, str], name: str, earliest: float, now: float) -> float | None:
    """A time Asterisk kept for a channel we adopt (`CDR(start,u)`, `CDR(answer,u)`: Unix
    times), if given and plausible. Without the answer time an adopted channel counts
    as answered at its start: the earliest it can have been, never the resync time."""
    try:
        at = float(variables.get(name, ""))
    except ValueError:
        return None
    return at if earliest <= at <= now else None


def wants_varset(variable: str) -> bool:
    """Cheap pre-filter: VarSet is half the AMI traffic; the tracker reads very few."""
    return variable.startswith(_VARSET_PREFIXES)


class CallTracker:
    """Live channels and interactions, rebuilt from the event stream."""

    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        self.interactions: dict[str, Interaction] = {}
        self.bridges: dict[str, set[str]] = {}
        self.epoch = 0
        self._ended: OrderedDict[str, None] = OrderedDict()  # recent hangups, bounded
        self._seq = 0
        self._out: list[ev.CallEvent] = []
        self._handlers: dict[type[m.AmiEvent], Callable[[Any, float], None]] = {
            m.Newchannel: self._on_newchannel,
            m.Newstate: self._on_newstate,
            m.Newexten: self._on_newexten,
            m.NewCallerid: self._on_callerid,
            m.NewConnectedLine: self._on_connected_line,
            m.Hangup: self._on_hangup,
            m.VarSet: self._on_varset,
            m.DTMFEnd: self._on_dtmf,
            m.MusicOnHoldStart: self._on_hold,
            m.Hold: self._on_hold,
            m.MusicOnHoldStop: self._on_resume,
            m.Unhold: self._on_resume,
            m.MixMonitorStart: self._on_mixmonitor_start,
            m.MixMonitorStop: self._on_mixmonitor_stop,
            m.BridgeEnter: self._on_bridge_enter,
            m.BridgeLeave: self._on_bridge_leave,
            m.BridgeDestroy: self._on_bridge_destroy,
            m.LocalBridge: self._on_local_bridge,
            m.OriginateResponse: self._on_originate_response,
        }
        app_queue = AppQueueEvents(self.interactions, self._channel, self._emit)
        self._handlers.update(app_queue.handlers())
        self.lifecycle = PbxLifecycle(self.channels, self._emit)
        self._handlers.update(self.lifecycle.handlers())

    # --- public API -------------------------------------------------------------------

    @property
    def handled_events(self) -> frozenset[str]:
        """AMI event names the tracker consumes (others need not be typed for it)."""
        return frozenset(cls.__name__ for cls in self._handlers)

    def apply(self, event: m.AmiEvent, now: float) -> list[ev.CallEvent]:
        """Fold one AMI event in; return the domain events it caused (maybe none)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return []
        self._out = []
        handler(event, now)
        return self._out

    def begin_epoch(self) -> None:
        """A new AMI session is logged in: what follows is fresh knowledge."""
        self.epoch += 1
        self.lifecycle.booted_this_session = False

    def resync(
        self,
        channels: Iterable[m.CoreShowChannel],
        statuses: Iterable[m.Status],
        now: float,
    ) -> list[ev.CallEvent]:
        """Reconcile with Asterisk's own list after a (re)connect.

        Channels Asterisk reports are adopted (new ones start interactions, flagged
        `resynced`); channels we knew from before that Asterisk no longer has ended
        while we were away: `pbx_restart` after a Shutdown event, `pbx_lost` when
        Asterisk came back with a new boot time (a crash), `ended_while_disconnected`
        otherwise. A variable Asterisk reports as `(null)` is not set.
        """
        self._out = []
        variables = {s.uniqueid: s.variables for s in statuses}
        for snap in channels:
            found = variables.get(snap.uniqueid, {})
            started = cdr_time(found, START_VARIABLE, now - snap.duration_s - 1, now)
            started = now - snap.duration_s if started is None else started
            chan = self.channels.get(snap.uniqueid)
            if chan is None:
                chan = self._add_channel(snap, started, resynced=True)
            chan.state, chan.bridge_id = snap.channel_state, snap.bridge_id
            chan.application = snap.application
            chan.caller_num, chan.caller_name = snap.caller_id_num, snap.caller_id_name
            chan.context, chan.exten, chan.priority = snap.context, snap.exten, snap.priority
            chan.epoch = self.epoch
            if snap.bridge_id:
                members = self.bridges.setdefault(snap.bridge_id, set())
                members.add(chan.uniqueid)
                inter = self.interactions.get(chan.linkedid)
                if inter is not None and len(members) > 1:
                    inter.bridged = True
            if snap.channel_state == UP:
                answer = cdr_time(found, ANSWER_VARIABLE, chan.started_at - 1, now)
                self._mark_answered(chan, chan.started_at if answer is None else answer)
            for name, value in found.items():
                if value and value != NULL and wants_varset(name):
                    self._set_var(chan, name, value, now)
        gone = self.lifecycle.gone_reason()
        for chan in [c for c in self.channels.values() if c.epoch < self.epoch]:
            self._end_channel(chan, now, 0, "", gone)
        self.lifecycle.shutting_down = False
        return self._out

    # --- helpers ------------------------------------------------------------------------

    def _emit(self, cls: type[ev.CallEvent], now: float, interaction_id: str, **kw: Any) -> None:
        self._seq += 1
        self._out.append(cls(seq=self._seq, at=now, interaction_id=interaction_id, **kw))

    def _add_channel(self, e: m.ChannelInfo, now: float, resynced: bool = False) -> Channel:
        if len(self.channels) >= MAX_CHANNELS:
            self._end_channel(next(iter(self.channels.values())), now, 0, "", "hangup")
        chan = Channel(
            uniqueid=e.uniqueid,
            linkedid=e.linkedid or e.uniqueid,
            name=e.channel,
            state=e.channel_state,
            caller_num=e.caller_id_num,
            caller_name=e.caller_id_name,
            context=e.context,
            exten=e.exten,
            priority=e.priority,
            epoch=self.epoch,
            started_at=now,
        )
        self.channels[chan.uniqueid] = chan
        key = chan.local_key
        if key is not None:
            for other in self.channels.values():
                if other is not chan and other.local_key == key:
                    chan.local_peer, other.local_peer = other.uniqueid, chan.uniqueid
        inter = self.interactions.get(chan.linkedid)
        if inter is None:
            inter = Interaction(
                id=chan.linkedid,
                started_at=now,
                caller_num=chan.caller_num,
                caller_name=chan.caller_name,
            )
            self.interactions[inter.id] = inter
            inter.channels.add(chan.uniqueid)
            self._emit(
                ev.InteractionStarted,
                now,
                inter.id,
                uniqueid=chan.uniqueid,
                channel=chan.name,
                caller_num=chan.caller_num,
                caller_name=chan.caller_name,
                resynced=resynced,
            )
        else:
            inter.channels.add(chan.uniqueid)
            self._emit(
                ev.ChannelJoined,
                now,
                inter.id,
                uniqueid=chan.uniqueid,
                channel=chan.name,
                resynced=resynced,
            )
        return chan

    def _channel(self, e: m.ChannelInfo, now: float) -> Channel | None:
        """The channel an event is about, adopting it if we never saw its Newchannel.

        None for a channel that already hung up: Asterisk 22 sends e.g. NewCallerid
        *after* Hangup (transcript 07); that must not bring the channel back.
        """
        chan = self.channels.get(e.uniqueid)
        if chan is None:
            if e.uniqueid in self._ended or not e.uniqueid:
                return None
            chan = self._add_channel(e, now)
            if chan.state == UP:
                # Joined mid-way (events before the resync's list): it was answered
                # before now, when exactly this event does not say (an upper bound).
                self._mark_answered(chan, now)
        chan.epoch = self.epoch
        return chan

    def _mark_answered(self, chan: Channel, now: float) -> None:
        if chan.answered_at is None:
            chan.answered_at = now
            self._emit(
                ev.ChannelAnswered, now, chan.linkedid, uniqueid=chan.uniqueid, channel=chan.name
            )
        inter = self.interactions.get(chan.linkedid)
        if inter is not None and inter.answered_at is None:
            inter.answered_at = now
            self._emit(
                ev.InteractionAnswered, now, inter.id, uniqueid=chan.uniqueid, channel=chan.name
            )

    def _set_var(self, chan: Channel, name: str, value: str, now: float) -> None:
        if name == "MIXMONITOR_FILENAME":
            chan.pending_recording_file = value
            return
        name = name.lstrip("_")
        inter = self.interactions.get(chan.linkedid)
        if inter is not None and inter.cti_vars.get(name) != value:
            inter.cti_vars[name] = value
            self._emit(
                ev.CtiVariableSet, now, inter.id, uniqueid=chan.uniqueid, name=name, value=value
            )

    def _end_channel(
        self, chan: Channel, now: float, cause: int, cause_txt: str, reason: ev.EndReason
    ) -> None:
        if chan.recording:
            self._emit(
                ev.RecordingStopped,
                now,
                chan.linkedid,
                uniqueid=chan.uniqueid,
                file=chan.recording,
                by="hangup",
            )
            chan.recording = ""
        if chan.bridge_id:
            self._leave_bridge(chan.bridge_id, chan.uniqueid)
        del self.channels[chan.uniqueid]
        self._ended[chan.uniqueid] = None
        if len(self._ended) > ENDED_MEMORY:
            self._ended.popitem(last=False)
        if chan.local_peer in self.channels:
            self.channels[chan.local_peer].local_peer = ""
        self._emit(
            ev.ChannelEnded,
            now,
            chan.linkedid,
            uniqueid=chan.uniqueid,
            channel=chan.name,
            cause=cause,
            cause_txt=cause_txt,
            reason=reason,
        )
        inter = self.interactions.get(chan.linkedid)
        if inter is None:
            return
        inter.channels.discard(chan.uniqueid)
        if not inter.channels:
            del self.interactions[inter.id]
            self._emit(
                ev.InteractionEnded,
                now,
                inter.id,
                reason=reason,
                duration_s=max(0.0, now - inter.started_at),
                cause=cause,
                cause_txt=cause_txt,
            )

    # --- handlers ------------------------------------------------------------------------

    def _on_newchannel(self, e: m.Newchannel, now: float) -> None:
        if e.uniqueid not in self.channels:
            self._add_channel(e, now)

    def _on_newstate(self, e: m.Newstate, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        chan.state = e.channel_state
        if e.channel_state == UP:
            self._mark_answered(chan, now)

    def _on_newexten(self, e: m.Newexten, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        chan.context, chan.exten, chan.priority = e.context, e.exten, e.priority
        chan.application = e.application

    def _on_callerid(self, e: m.NewCallerid, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        chan.caller_num, chan.caller_name = e.caller_id_num, e.caller_id_name
        inter = self.interactions.get(chan.linkedid)
        if inter is not None and chan.uniqueid == inter.id:
            inter.caller_num, inter.caller_name = chan.caller_num, chan.caller_name

    def _on_connected_line(self, e: m.NewConnectedLine, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        chan.connected_num, chan.connected_name = e.connected_line_num, e.connected_line_name

    def _on_hangup(self, e: m.Hangup, now: float) -> None:
        chan = self.channels.get(e.uniqueid)
        if chan is not None:
            self._end_channel(chan, now, e.cause, e.cause_txt, "hangup")

    def _on_varset(self, e: m.VarSet, now: float) -> None:
        chan = self._channel(e, now) if wants_varset(e.variable) else None
        if chan is not None:
            self._set_var(chan, e.variable, e.value, now)

    def _on_dtmf(self, e: m.DTMFEnd, now: float) -> None:
        if e.direction != "Received":
            return
        chan = self._channel(e, now)
        if chan is None:
            return
        inter = self.interactions.get(chan.linkedid)
        if inter is not None:
            inter.dtmf += e.digit
        self._emit(ev.DtmfReceived, now, chan.linkedid, uniqueid=chan.uniqueid, digit=e.digit)

    def _on_hold(self, e: m.MusicOnHoldStart | m.Hold, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        if not chan.on_hold:
            chan.on_hold = True
            self._emit(
                ev.InteractionHeld,
                now,
                chan.linkedid,
                uniqueid=chan.uniqueid,
                channel=chan.name,
                moh_class=e.moh_class,
            )

    def _on_resume(self, e: m.MusicOnHoldStop | m.Unhold, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        if chan.on_hold:
            chan.on_hold = False
            self._emit(
                ev.InteractionResumed, now, chan.linkedid, uniqueid=chan.uniqueid, channel=chan.name
            )

    def _on_mixmonitor_start(self, e: m.MixMonitorStart, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        chan.recording = chan.pending_recording_file
        inter = self.interactions.get(chan.linkedid)
        if inter is not None:
            inter.recordings.append(chan.recording)
        self._emit(
            ev.RecordingStarted,
            now,
            chan.linkedid,
            uniqueid=chan.uniqueid,
            channel=chan.name,
            file=chan.recording,
        )

    def _on_mixmonitor_stop(self, e: m.MixMonitorStop, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        if chan.recording or chan.pending_recording_file:
            self._emit(
                ev.RecordingStopped,
                now,
                chan.linkedid,
                uniqueid=chan.uniqueid,
                file=chan.recording or chan.pending_recording_file,
                by="stop",
            )
        chan.recording = ""

    def _on_bridge_enter(self, e: m.BridgeEnter, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        members = self.bridges.setdefault(e.bridge_uniqueid, set())
        peers = tuple(sorted(self.channels[u].name for u in members if u in self.channels))
        members.add(chan.uniqueid)
        chan.bridge_id = e.bridge_uniqueid
        inter = self.interactions.get(chan.linkedid)
        if inter is not None and peers:
            inter.bridged = True
        self._emit(
            ev.InteractionBridged,
            now,
            chan.linkedid,
            uniqueid=chan.uniqueid,
            channel=chan.name,
            bridge_id=e.bridge_uniqueid,
            peers=peers,
        )

    def _on_bridge_leave(self, e: m.BridgeLeave, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        self._leave_bridge(e.bridge_uniqueid, chan.uniqueid)
        chan.bridge_id = ""
        self._emit(
            ev.InteractionUnbridged,
            now,
            chan.linkedid,
            uniqueid=chan.uniqueid,
            channel=chan.name,
            bridge_id=e.bridge_uniqueid,
        )

    def _leave_bridge(self, bridge: str, uniqueid: str) -> None:
        """A member left; an empty bridge is forgotten (its BridgeDestroy may never come:
        the link dropped, or the channel was the last one and hung up)."""
        members = self.bridges.get(bridge)
        if members is not None:
            members.discard(uniqueid)
            if not members:
                del self.bridges[bridge]

    def _on_bridge_destroy(self, e: m.BridgeDestroy, now: float) -> None:
        self.bridges.pop(e.bridge_uniqueid, None)

    def _on_local_bridge(self, e: m.LocalBridge, now: float) -> None:
        one, two = self._channel(e.local_one, now), self._channel(e.local_two, now)
        if one is not None and two is not None:
            one.local_peer, two.local_peer = two.uniqueid, one.uniqueid

    def _on_originate_response(self, e: m.OriginateResponse, now: float) -> None:
        chan = self.channels.get(e.uniqueid) if e.uniqueid else None
        self._emit(
            ev.OriginateResult,
            now,
            chan.linkedid if chan else "",
            action_id=e.action_id,
            success=e.response == "Success",
            reason_code=e.reason,
            reason=m.ORIGINATE_REASONS.get(e.reason, f"reason code {e.reason}"),
            channel=e.channel,
        )
