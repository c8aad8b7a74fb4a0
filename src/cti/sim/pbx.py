"""A simulated Asterisk: agent phones and citizens calling through the deployment's
dialplan (`cti.sim.dialplan`), emitting AMI events with the names, fields and order real
Asterisk 22 uses (transcripts 06 and 09). `SimPbx` assembles the channel model
(`cti.sim.channels`), the dialplan and the fallback queue, and takes the AMI actions.

Recordings: `MixMonitor` writes a real WAV file (8 kHz, 16-bit mono like Asterisk's
`wav`) as long as the recorded stretch of simulated time, into `recordings_dir`.

Not simulated yet (issue 3): CEL/Cdr events.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from cti.sim.agi_client import SimAgiClient
from cti.sim.channels import ENDED_KEPT, Switch
from cti.sim.dialplan import CALLBACK, HOLD, Dialplan
from cti.sim.fallback_queue import FallbackQueue
from cti.sim.models import Channel, Citizen, Endpoint, Fields, PbxError
from cti.sim.restart import Boot, hang_up_everything, vanish
from cti.sim.survey_calls import SURVEY_CALL, SurveyCalls

# Who the hotline says is calling when it calls a citizen, as the deployment's [globals].
HOTLINE_GLOBALS = {"CTI_HOTLINE_NUMBER": "080012345", "CTI_HOTLINE_NAME": "Hotline"}


class SimPbx:
    """The simulated PBX. `emit(name, fields)` receives every AMI event it raises."""

    def __init__(
        self,
        emit: Callable[[str, Fields], None],
        endpoints: dict[str, Endpoint] | None = None,
        time_scale: float = 1.0,
        recordings_dir: Path | None = None,
        keep_ended: int = ENDED_KEPT,
    ) -> None:
        self.endpoints = endpoints or {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.switch = Switch(emit, time_scale, recordings_dir, keep_ended)
        self.queue = FallbackQueue(self.switch, self.endpoints, self.hangup)
        self.dialplan = Dialplan(
            self.switch, self.queue, self.endpoints, self.hangup, self._spawn, self.put_down
        )
        self.channels = self.switch.channels
        self.ended = self.switch.ended
        self.boot_sequence = Boot(
            self.switch, self.endpoints, lambda name: self.set_reachable(name, True)
        )
        # deploy/asterisk/extensions.conf's [globals] the CTI reads (AMI Getvar).
        self.globals: dict[str, str] = dict(HOTLINE_GLOBALS)
        self.rng = random.Random(0)  # the simulator's choices where Asterisk's vary
        self.callback_answers = self.dialplan.callback_answers  # number -> picks up
        self.survey_calls = SurveyCalls(self.switch, self.dialplan, self._spawn, self.hangup)

    @property
    def boot(self) -> int:
        """When this Asterisk process started (epoch seconds)."""
        return self.switch.boot

    def restart(self) -> None:
        """`core restart now`: every call ends (events as Asterisk's; see sim/restart.py)."""
        hang_up_everything(self.switch, self.queue)

    def crash(self) -> None:
        """SIGKILL: the calls are gone, nobody is told."""
        vanish(self.switch, self.queue)

    def qualify(self, name: str) -> None:
        """AMI `PJSIPQualify`: a registered phone answers the OPTIONS a moment later."""
        if name not in self.endpoints:
            raise PbxError(f"Unable to retrieve endpoint {name}")
        self.boot_sequence.qualify_later(name, 0.01)

    @property
    def time_scale(self) -> float:
        """0.1: every delay ten times shorter."""
        return self.switch.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.switch.time_scale = value

    @property
    def recording_rate(self) -> int:
        """Samples/s of the WAV files MixMonitor writes."""
        return self.switch.recording_rate

    @recording_rate.setter
    def recording_rate(self, value: int) -> None:
        self.switch.recording_rate = value

    @property
    def agi(self) -> SimAgiClient | None:
        """Set: the IVR runs over FastAGI."""
        return self.dialplan.agi

    def use_fastagi(self, host: str, port: int, *others: tuple[str, int]) -> None:
        """Run the deployment's AGI() steps against the CTI's FastAGI server (and, with
        several CTIs, the others' in turn, as CTI_AGI_OTHER does)."""
        self.dialplan.agi = SimAgiClient(self, host, port, others)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        self.boot_sequence.cancel()
        self.switch.close()
        for task in list(self._tasks):
            task.cancel()

    # --- phones and citizens -------------------------------------------------------------

    def inbound_call(self, citizen: Citizen, did: str | None = None) -> Channel:
        """A citizen dials the hotline (`did`, else the citizen's number to dial):
        answered, through the IVR, on hold for the ACD."""
        return self.dialplan.inbound_call(citizen, did or citizen.dialled)

    def notify(self, channel: str | None, endpoint: str | None, variables: dict[str, str]) -> None:
        """PJSIPNotify: a phone given `Event: talk` answers its ringing call (how desktops
        answer for the agent on phones that support it)."""
        if channel is not None:
            ch = self.channel(channel)
        else:
            found = [
                c
                for c in self.channels.values()
                if c.endpoint is not None and c.endpoint.name == endpoint
            ]
            if endpoint not in self.endpoints:
                raise PbxError(f"Unable to retrieve endpoint {endpoint}")
            if not found:
                return  # a NOTIFY to an idle phone does nothing
            ch = found[0]
        caller = ch.peer
        if variables.get("Event", "").lower() != "talk" or ch.state != 5:
            return
        if caller is None:
            if ch.on_talk is not None:  # an originated call to this phone
                ch.on_talk()
            return
        if caller.queued_at is not None and caller in self.queue:
            self.queue.answer(caller, ch, asyncio.get_running_loop().time())
        else:
            self.dialplan.agent_answers(caller, ch)

    def set_reachable(self, name: str, reachable: bool) -> None:
        """An agent's phone registers again or stops answering qualify (transcripts 08,
        09): PeerStatus, DeviceStateChange, ContactStatus."""
        endpoint = self.endpoints[name]
        endpoint.reachable = reachable
        status = "Reachable" if reachable else "Unreachable"
        event = self.switch.event
        event(
            "PeerStatus",
            [("ChannelType", "PJSIP"), ("Peer", f"PJSIP/{name}"), ("PeerStatus", status)],
            "system,all",
        )
        event(
            "DeviceStateChange",
            [("Device", f"PJSIP/{name}"), ("State", "NOT_INUSE" if reachable else "UNAVAILABLE")],
        )
        event(
            "ContactStatus",
            [
                ("URI", f"sip:{name}@127.0.0.1:5080"),
                ("ContactStatus", status),
                ("AOR", name),
                ("EndpointName", name),
                ("RoundtripUsec", "507" if reachable else "0"),
            ],
            "system,all",
        )

    def answer_channel(self, ch: Channel) -> None:
        self.switch.newstate(ch, 6)

    def dtmf_received(self, ch: Channel, digit: str) -> None:
        self.play_dtmf(ch.name, digit, 120, receive=True)

    # --- AMI actions -----------------------------------------------------------------------

    def channel(self, name: str) -> Channel:
        return self.switch.channel(name)

    def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        extra: tuple[str, str] | None = None,
    ) -> None:
        """AMI Redirect; `extra` = (ExtraChannel, ExtraContext) moves a second channel
        at once: redirecting both parties of a bridge keeps both up (hold)."""
        self.dialplan.redirect(channel, context, exten, priority, extra)

    def setvar(self, channel: str | None, name: str, value: str) -> None:
        if channel is None:
            self.globals[name] = value
            return
        self.switch.setvar(self.channel(channel), name, value)

    def getvar(self, channel: str | None, name: str) -> str:
        if channel is None:
            return self.globals.get(name, "")
        return self.channel(channel).variables.get(name, "")

    def hangup(self, channel: str, cause: int = 16) -> None:
        """Hang a channel up (AMI Hangup, or a party putting the phone down)."""
        sw = self.switch
        ch = self.channel(channel)
        peer = ch.peer
        if ch.bridge is not None and peer is not None:
            self._teardown_bridge(first=ch, second=peer, cause=cause)
            return
        if ch in self.queue:
            self.queue.abandon(ch, cause)
            return
        if peer is not None and ch.dial_status == "" and peer.dial_status == "":
            if ch.endpoint is None:  # the caller gave up while the agent's phone rang
                sw.end_dial(ch, "CANCEL", hang_up_callee=True)
                sw.finish(ch, cause)
            else:  # the agent rejected the ringing call
                sw.end_dial(peer, "BUSY", hang_up_callee=True, cause=17)
                self.dialplan.dial_result(peer, "BUSY")
            return
        sw.moh_stop(ch)
        half = ch.local_half
        if half is not None and not half.hung_up:
            # A Local pair ends together (transcript 07): the other half is asked to
            # hang up, this one goes, then the other follows.
            ch.local_half = half.local_half = None
            sw.event("HangupRequest", [*half.fields(), ("Cause", str(cause))])
            sw.finish(ch, cause)
            self.hangup(half.name, cause)
            return
        sw.finish(ch, cause)

    def put_down(self, channel: str) -> None:
        """The citizen's phone hangs up (a BYE). Out of a conversation and of any Dial
        (in the IVR, in music on hold) Asterisk 22 says: `HangupRequest` (no cause),
        `MusicOnHoldStop`, `SoftHangupRequest` cause 16, `Hangup` cause 0."""
        ch = self.channel(channel)
        if ch.bridge is not None or ch.peer is not None or ch in self.queue or ch.local_half:
            self.hangup(channel, 16)
            return
        sw = self.switch
        sw.event("HangupRequest", ch.fields())
        sw.moh_stop(ch)
        sw.event("SoftHangupRequest", [*ch.fields(), ("Cause", "16")])
        sw.finish(ch, 0)

    def _teardown_bridge(self, first: Channel, second: Channel, cause: int) -> None:
        """First hangs up in a two-party bridge (order as in transcript 09)."""
        sw = self.switch
        bridge = first.bridge
        assert bridge is not None
        sw.event("HangupRequest", [*first.fields(), ("Cause", str(cause))])
        self.queue.complete(first, second)  # answered through the fallback queue
        sw.close_bridge(bridge, first, second)
        first.peer = second.peer = None
        sw.event("SoftHangupRequest", [*first.fields(), ("Cause", str(cause))])
        # Which leg's Hangup comes first varies on Asterisk 22 (docs/pbx.md, 4); only
        # HangupRequest says whose side it was.
        pair = [first, second]
        self.rng.shuffle(pair)
        sw.finish(pair[0], cause)
        sw.finish(pair[1], cause)

    def originate_local(
        self,
        target: str,
        caller: tuple[str, str],
        ids: tuple[str | None, str | None] = (None, None),
        application: tuple[str, str] | None = None,
    ) -> Channel:
        """Originate `Local/<exten>@<context>`: a ;1/;2 pair in the order transcript 07
        shows. ;2 runs the dialplan (our hold context: a caller waiting for the ACD);
        ;1 runs `application` (MusicOnHold or Wait). Returns ;1."""
        one, two = self.switch.local_pair(target, caller, ids)
        if two.context == HOLD:
            two.citizen = Citizen(caller[0], "")
            self.dialplan.to_hold(two)
        del application  # ;1 starts it once the OriginateResponse is out: run_application
        return one

    def run_application(self, ch: Channel, app: str, data: str) -> None:
        """What the ;1 half of an originated Local channel runs (MusicOnHold, Wait)."""
        ch.app, ch.app_data = app, data
        if app.lower() == "musiconhold":
            self.switch.moh_start(ch)

    def originate(
        self,
        endpoint_channel: str,
        context: str,
        exten: str,
        variables: dict[str, str],
        done: Callable[[Channel, int], None],
        caller_id: str = "",
        channel_id: str | None = None,
    ) -> None:
        """Originate to an agent phone; on answer it runs `context` (`cti-callback`
        dials the citizen in CTI_CALLBACK_NUMBER back). `done(channel, reason)` gets
        the OriginateResponse reason (4 answered, 3 no answer, 1 unreachable, 5 busy)."""
        if context == SURVEY_CALL:  # a survey campaign calls a citizen through the trunk
            self.survey_calls.originate(endpoint_channel, variables, done, caller_id, channel_id)
            return
        sw = self.switch
        tech, _, name = endpoint_channel.partition("/")
        endpoint = self.endpoints.get(name)
        ch = sw.new_channel(f"PJSIP/{name}", name, name, context, exten, uniqueid=channel_id)
        ch.endpoint = endpoint
        for key, value in variables.items():
            sw.setvar(ch, key, value)
        if tech != "PJSIP" or endpoint is None or not endpoint.reachable or endpoint.busy:
            reason = 5 if endpoint is not None and endpoint.busy else 1
            sw.finish(ch, 17 if reason == 5 else 0)
            done(ch, reason)
            return
        sw.newstate(ch, 5)
        ring_s = float(variables.get("CTI_RING_TIMEOUT", "15") or 15)

        def no_answer() -> None:
            if ch.state == 5:
                sw.finish(ch, 19)
                done(ch, 3)

        def answer() -> None:
            if ch.state != 5 or ch.hung_up:
                return
            sw.newstate(ch, 6)
            done(ch, 4)
            if context == CALLBACK:
                self.dialplan.dial_citizen_back(ch)

        if endpoint.answer_after_s is not None and endpoint.answer_after_s < ring_s:
            sw.later(ch, endpoint.answer_after_s, answer)
        else:
            ch.on_talk = answer  # a person's phone: answered from the desktop, if at all
            sw.later(ch, ring_s, no_answer)

    def bridge(self, name1: str, name2: str) -> str:
        """AMI `Bridge`: pull two channels out of the dialplan into a new basic bridge."""
        return self.switch.bridge(name1, name2)

    def bridges(self) -> dict[str, list[Channel]]:
        return self.switch.bridges()

    def play_dtmf(self, channel: str, digit: str, duration_ms: int, receive: bool) -> None:
        """`PlayDTMF`: one DTMFEnd (Direction Received with Receive)."""
        self.switch.play_dtmf(channel, digit, duration_ms, receive)

    # --- MixMonitor --------------------------------------------------------------------------

    def recording_path(self, file: str) -> Path:
        """Where a MixMonitor `File` lands: inside `recordings_dir`, never elsewhere."""
        return self.switch.recording_path(file)

    def new_mixmonitor_id(self) -> str:
        return self.switch.new_mixmonitor_id()

    def mixmonitor(self, channel: str, file: str, options: str, mixmon_id: str) -> None:
        """Start recording `channel` (MIXMONITOR_FILENAME, the `i(VAR)` id, MixMonitorStart)."""
        self.switch.mixmonitor(channel, file, options, mixmon_id)

    def mixmonitor_mute(self, channel: str, direction: str, state: bool) -> None:
        self.switch.mixmonitor_mute(channel, direction, state)

    def stop_mixmonitor(self, channel: str) -> Path:
        return self.switch.stop_mixmonitor(channel)
