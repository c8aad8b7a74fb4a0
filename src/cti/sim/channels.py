"""Channels and bridges of the simulated PBX: creating channels and Local pairs, the
events of a dialplan step, music on hold, bridges, hang-ups, MixMonitor and DTMF."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

from cti.sim.models import Channel, Endpoint, Fields, PbxError, Recording, bridge_fields
from cti.sim.wav import write_wav

_CAUSES = {16: "Normal Clearing", 17: "User busy", 19: "No user responding", 0: "Unknown"}
AGENTS = "cti-agents"  # the agents' endpoints' context (deploy/asterisk)
ENDED_KEPT = 10_000  # channels kept after their hang-up, for tests and inspection


class Switch:
    """The channel and bridge model every dialplan context builds on; `emit(name,
    fields)` receives every AMI event, in the order and with the fields Asterisk uses."""

    def __init__(
        self,
        emit: Callable[[str, Fields], None],
        time_scale: float = 1.0,
        recordings_dir: Path | None = None,
        keep_ended: int = ENDED_KEPT,
    ) -> None:
        self._emit = emit
        self._recordings_dir = recordings_dir
        self.recording_rate = 8000  # samples/s of the WAV files MixMonitor writes
        self.time_scale = time_scale  # 0.1: every delay ten times shorter
        self.channels: dict[str, Channel] = {}
        self.boot = int(time.time())
        self._ids = itertools.count(1)
        self._chan_seq = itertools.count(0)
        # The last channels that hung up, newest last (bounded: a demo runs for days).
        self.ended: deque[Channel] = deque(maxlen=keep_ended)

    def restart_counters(self) -> None:
        """A new Asterisk process numbers channels and uniqueids from the start again."""
        self._ids = itertools.count(1)
        self._chan_seq = itertools.count(0)

    def event(self, name: str, fields: Fields, privilege: str = "call,all") -> None:
        self._emit(name, [("Privilege", privilege), *fields])

    def later(self, ch: Channel, delay_s: float, fn: Callable[[], None]) -> None:
        """Run `fn` after `delay_s` simulated seconds, unless `ch` has hung up by then."""
        loop = asyncio.get_running_loop()
        ch.timers.append(loop.call_later(delay_s * self.time_scale, self._guard(ch, fn)))

    @staticmethod
    def _guard(ch: Channel, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if not ch.hung_up:
                fn()

        return run

    def channel(self, name: str) -> Channel:
        ch = self.channels.get(name)
        if ch is None:
            raise PbxError("No such channel")
        return ch

    def close(self) -> None:
        for ch in list(self.channels.values()):
            ch.cancel_timers()

    # --- channels and dialplan steps ---------------------------------------------------

    def new_channel(
        self,
        tech_name: str,
        caller_num: str,
        caller_name: str,
        context: str,
        exten: str,
        linkedid: str | None = None,
        state: int = 0,
        uniqueid: str | None = None,  # an Originate's ChannelId
    ) -> Channel:
        uid = uniqueid or f"{self.boot}.{next(self._ids)}"
        name = f"{tech_name}-{next(self._chan_seq):08x}"
        ch = Channel(name, uid, linkedid or uid, caller_num, caller_name, context, exten, state)
        self.channels[name] = ch
        self.event("Newchannel", ch.fields())
        return ch

    def dial_phone(
        self,
        caller: Channel,
        endpoint: Endpoint,
        app: str = "AppDial",
        before: Callable[[Channel], None] | None = None,
    ) -> Channel:
        """Dial (or app_queue, `app="AppQueue"`) rings an agent's phone, with the events
        of Asterisk 22 in its order: the phone's channel in the endpoint's context
        (`cti-agents`, exten `s`, caller id the endpoint's with the `-` gone: `agent1001`),
        `Newexten` <app> `(Outgoing Line)`, its `NewConnectedLine` (the caller), then
        (`before` the dial, e.g. AgentCalled) `DialBegin`, the caller's
        `NewConnectedLine` (the agent), `Newstate` Ringing, `DialState` RINGING."""
        number = endpoint.name.replace("-", "")
        agent = self.new_channel(
            f"PJSIP/{endpoint.name}", number, endpoint.display, AGENTS, "s", caller.linkedid
        )
        agent.endpoint = endpoint
        caller.peer, agent.peer = agent, caller
        caller.dial_status = agent.dial_status = ""
        self.newexten(agent, AGENTS, "s", 1, app, "(Outgoing Line)")
        self.connected_line(agent, caller)
        if before is not None:
            before(agent)
        dial_string = f"PJSIP/{endpoint.name}"
        self.event(
            "DialBegin", [*caller.fields(), *agent.fields("Dest"), ("DialString", dial_string)]
        )
        self.connected_line(caller, agent)
        self.newstate(agent, 5)
        self.event(
            "DialState", [*caller.fields(), *agent.fields("Dest"), ("DialStatus", "RINGING")]
        )
        return agent

    def connected_line(self, ch: Channel, other: Channel) -> None:
        """`ch` learns who is at the other end: NewConnectedLine."""
        ch.connected_num, ch.connected_name = other.caller_num, other.caller_name
        self.event("NewConnectedLine", ch.fields())

    def phone_answers(self, ch: Channel) -> None:
        """Up, then the same application again with an empty exten (Asterisk 22)."""
        self.newstate(ch, 6)
        self.newexten(ch, AGENTS, "", 1, ch.app, ch.app_data)

    def local_pair(
        self, target: str, caller: tuple[str, str], ids: tuple[str | None, str | None]
    ) -> tuple[Channel, Channel]:
        """`Local/<exten>@<context>` originated and answered: its ;1 and ;2 halves, with
        the events in the order transcript 07 shows."""
        exten, _, context = target.partition("@")
        if not exten or not context:
            raise PbxError(f"Local channel {target!r} is not exten@context")
        base = f"Local/{target}-{next(self._chan_seq):08x}"
        uid1 = ids[0] or f"{self.boot}.{next(self._ids)}"
        uid2 = ids[1] or f"{self.boot}.{next(self._ids)}"
        one = Channel(f"{base};1", uid1, uid1, "<unknown>", "<unknown>", context, exten, 0)
        two = Channel(f"{base};2", uid2, uid1, "<unknown>", "<unknown>", context, exten, 4)
        one.local_half, two.local_half = two, one
        for ch in (one, two):
            self.channels[ch.name] = ch
            self.event("Newchannel", ch.fields())
            ch.caller_num, ch.caller_name = caller
        self.event("DialBegin", [*one.fields("Dest"), ("DialString", target)])
        two.priority = 2
        self.newstate(two, 6)
        self.newstate(one, 6)
        self.event("DialEnd", [*one.fields("Dest"), ("DialStatus", "ANSWER")])
        return one, two

    def newexten(
        self, ch: Channel, context: str, exten: str, priority: int, app: str, data: str
    ) -> None:
        ch.context, ch.exten, ch.priority, ch.app, ch.app_data = context, exten, priority, app, data
        self.event(
            "Newexten",
            [*ch.fields(), ("Extension", exten), ("Application", app), ("AppData", data)],
            "dialplan,all",
        )

    def setvar(self, ch: Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self.event("VarSet", [*ch.fields(), ("Variable", name), ("Value", value)], "dialplan,all")

    def set_app(
        self, ch: Channel, context: str, exten: str, priority: int, name: str, value: str
    ) -> None:
        """A `Set(name=value)` dialplan step: Newexten, then VarSet."""
        self.newexten(ch, context, exten, priority, "Set", f"{name}={value}")
        self.setvar(ch, name, value)

    def newstate(self, ch: Channel, state: int) -> None:
        ch.state = state
        self.event("Newstate", ch.fields())

    def moh_start(self, ch: Channel) -> None:
        ch.moh = True
        self.event("MusicOnHoldStart", [*ch.fields(), ("Class", "default")])

    def moh_stop(self, ch: Channel) -> None:
        if ch.moh:
            ch.moh = False
            self.event("MusicOnHoldStop", ch.fields())

    def play_dtmf(self, channel: str, digit: str, duration_ms: int, receive: bool) -> None:
        """`PlayDTMF`: as transcript 04, one DTMFEnd (Direction Received with Receive)."""
        ch = self.channel(channel)
        if len(digit) != 1 or digit not in "0123456789*#ABCDabcd":
            raise PbxError(f"Invalid DTMF digit {digit!r}")
        self.event(
            "DTMFEnd",
            [
                *ch.fields(),
                ("Digit", digit),
                ("DurationMs", str(duration_ms)),
                ("Direction", "Received" if receive else "Sent"),
            ],
            "dtmf,all",
        )

    # --- dials, bridges, hang-ups ----------------------------------------------------------

    def end_dial(self, caller: Channel, status: str, hang_up_callee: bool, cause: int = 16) -> None:
        """The caller's Dial ends with `status` (DialEnd); the callee may hang up with it."""
        callee = caller.peer
        if callee is None:
            return
        caller.dial_status = callee.dial_status = status
        self.event("DialEnd", [*caller.fields(), *callee.fields("Dest"), ("DialStatus", status)])
        caller.peer = callee.peer = None
        if hang_up_callee:
            self.finish(callee, cause)

    def open_bridge(self, *chans: Channel) -> str:
        """A new basic bridge with these channels, in this order (transcripts 07, 09)."""
        bridge = str(uuid.uuid4())
        base = bridge_fields(bridge)
        self.event(
            "BridgeCreate", [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        )
        for n, ch in enumerate(chans, start=1):
            ch.bridge = bridge
            self.event(
                "BridgeEnter",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *ch.fields(),
                ],
            )
        return bridge

    def bridge(self, name1: str, name2: str) -> str:
        """AMI `Bridge`: pull two channels out of the dialplan into a new basic bridge
        (transcript 07); a hang-up of either tears the bridge down."""
        chans = []
        for n, name in ((1, name1), (2, name2)):
            ch = self.channels.get(name)
            if ch is None:
                raise PbxError(f"Channel{n} does not exist: {name}")
            chans.append(ch)
        first, second = chans
        for ch in chans:
            self.moh_stop(ch)
            if ch.peer is not None and ch.bridge is None:
                self.end_dial(ch, "CANCEL", hang_up_callee=True)
        bridge = self.open_bridge(first, second)
        first.peer, second.peer = second, first
        return bridge

    def close_bridge(self, bridge: str, first: Channel, second: Channel | None) -> None:
        """`first`, then `second`, leave the bridge (BridgeLeave), which is destroyed."""
        base = bridge_fields(bridge)
        for n, leaving in ((1, first), (0, second)):
            if leaving is None:
                continue
            self.event(
                "BridgeLeave",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *leaving.fields(),
                ],
            )
            leaving.bridge = None
        self.event(
            "BridgeDestroy", [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        )

    def bridges(self) -> dict[str, list[Channel]]:
        out: dict[str, list[Channel]] = {}
        for ch in self.channels.values():
            if ch.bridge is not None:
                out.setdefault(ch.bridge, []).append(ch)
        return out

    def finish(self, ch: Channel, cause: int) -> None:
        """The channel is gone: its timers stop, its recording ends, Hangup."""
        if ch.hung_up:
            return
        ch.hung_up = True
        ch.cancel_timers()
        if ch.recording is not None:
            # MixMonitor ends with its channel; Asterisk reports no MixMonitorStop then.
            self._stop_recording(ch, report=False)
        self.event(
            "Hangup",
            [*ch.fields(), ("Cause", str(cause)), ("Cause-txt", _CAUSES.get(cause, "Unknown"))],
        )
        self.channels.pop(ch.name, None)
        self.ended.append(ch)

    # --- MixMonitor ------------------------------------------------------------------------

    @property
    def recordings_dir(self) -> Path:
        if self._recordings_dir is None:
            self._recordings_dir = Path(tempfile.mkdtemp(prefix="cti-sim-recordings-"))
        return self._recordings_dir

    def recording_path(self, file: str) -> Path:
        """Where a MixMonitor `File` lands: inside `recordings_dir`, never elsewhere."""
        root = self.recordings_dir.resolve()
        path = (root / file).resolve()  # an absolute `file` is taken as it is
        if not path.is_relative_to(root):
            raise PbxError(f"MixMonitor: {file} is outside the recordings directory {root}")
        return path

    def new_mixmonitor_id(self) -> str:
        return f"0x{0x7F0000000000 + next(self._ids) * 0x30:x}"

    def mixmonitor(self, channel: str, file: str, options: str, mixmon_id: str) -> None:
        """Start recording `channel` (events as transcript 06: VarSet MIXMONITOR_FILENAME,
        VarSet of the `i(VAR)` option, MixMonitorStart)."""
        ch = self.channel(channel)
        path = self.recording_path(file)
        if ch.recording is not None:
            self._stop_recording(ch)
        ch.recording = Recording(mixmon_id, path, asyncio.get_running_loop().time())
        self.setvar(ch, "MIXMONITOR_FILENAME", str(path))
        if "i(" in options:
            var = options.split("i(", 1)[1].split(")", 1)[0]
            self.setvar(ch, var, mixmon_id)
        self.event("MixMonitorStart", ch.fields())

    def mixmonitor_mute(self, channel: str, direction: str, state: bool) -> None:
        ch = self.channel(channel)
        rec = ch.recording
        if rec is None:
            raise PbxError(f"Cannot set mute flag on {channel}: no MixMonitor")
        now = asyncio.get_running_loop().time()
        if state and rec.muted_since is None:
            rec.muted_since = now
        elif not state and rec.muted_since is not None:
            rec.muted_s += now - rec.muted_since
            rec.muted_since = None
        self.event(
            "MixMonitorMute",
            [*ch.fields(), ("Direction", direction), ("State", "1" if state else "0")],
        )

    def stop_mixmonitor(self, channel: str) -> Path:
        ch = self.channel(channel)
        if ch.recording is None:
            raise PbxError(f"Could not stop MixMonitor on {channel}: none running")
        return self._stop_recording(ch)

    def _stop_recording(self, ch: Channel, report: bool = True) -> Path:
        rec = ch.recording
        assert rec is not None
        ch.recording = None
        now = asyncio.get_running_loop().time()
        if rec.muted_since is not None:
            rec.muted_s += now - rec.muted_since
        seconds = max(0.0, now - rec.started) / self.time_scale
        muted = min(seconds, rec.muted_s / self.time_scale)
        write_wav(rec.path, seconds - muted, muted, self.recording_rate)
        if report:
            self.event("MixMonitorStop", ch.fields())
        return rec.path
