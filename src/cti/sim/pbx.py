"""A simulated Asterisk: channels, bridges, music on hold, agent phones and citizens,
running the deployment's dialplan contexts and emitting AMI events with the names,
fields and order real Asterisk 22 uses (transcripts 06 and 09).

Contexts it runs (the same names as `deploy/asterisk/extensions.conf` will carry):
- `cti-inbound`  a citizen's call arrives, is answered; the IVR (FastAGI, not simulated
                 yet) leaves `CTI_QUEUE` / `CTI_PRIORITY` set, then `cti-hold`;
- `cti-hold`     `Set(CTI_WAITING=1)`, `MusicOnHold(default)`: the ACD sees a waiting call;
- `cti-connect`  `Dial(${CTI_AGENT_ENDPOINT},${CTI_RING_TIMEOUT})`, then
                 `Set(CTI_DIAL_RESULT=${DIALSTATUS})`; back to `cti-hold` unless answered;
- `cti-callback-offer`  the caller is offered a callback: `Set(CTI_CALLBACK=<number>)`
                 when accepted (then hangs up), `Set(CTI_CALLBACK=)` and back to hold if not;
- `cti-callback` an Originate to the agent lands here and dials the citizen back;
- `cti-voicemail`, `cti-fallback`  overflow targets (voicemail, plain Queue()).

Recordings: `MixMonitor` writes a real WAV file (8 kHz, 16-bit mono like Asterisk's
`wav`) as long as the recorded stretch of simulated time, into `recordings_dir`.

Not simulated yet (issue 3): FastAGI IVR sessions, CEL/Cdr events.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import struct
import tempfile
import time
import uuid
import wave
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cti.sim.agi_client import SimAgiClient

HOLD = "cti-hold"
CONNECT = "cti-connect"
INBOUND = "cti-inbound"
CALLBACK_OFFER = "cti-callback-offer"
CALLBACK = "cti-callback"
VOICEMAIL = "cti-voicemail"
FALLBACK = "cti-fallback"
HELD = "cti-held"  # a caller the agent put on hold
AGENT_HELD = "cti-agent-held"  # the agent's phone meanwhile
TRANSFER_OUT = "cti-transfer-out"
FALLBACK_QUEUE = "cti-fallback"  # queues.conf: rrmemory, timeout 15, retry 2
FALLBACK_RING_S = 15.0
FALLBACK_RETRY_S = 2.0

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
_CAUSES = {16: "Normal Clearing", 17: "User busy", 19: "No user responding", 0: "Unknown"}

Fields = list[tuple[str, str]]


@dataclass
class Endpoint:
    """An agent's phone: answers after a delay, never (None), or is unreachable."""

    name: str
    answer_after_s: float | None = 1.0
    reachable: bool = True
    busy: bool = False


@dataclass
class Citizen:
    """A caller's behaviour: which queue the IVR puts them in, patience, talk time."""

    number: str
    queue: str
    priority: int = 0
    patience_s: float | None = None  # hangs up after waiting this long (None: never)
    talk_s: float = 5.0  # hangs up this long after being connected
    accept_callback: bool = False
    answers_callback: bool = True
    keys: list[str] = field(default_factory=list)  # what they key in the IVR, in order


@dataclass
class Recording:
    id: str
    path: Path
    started: float  # loop time
    muted_s: float = 0.0
    muted_since: float | None = None


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    caller_num: str
    caller_name: str
    context: str
    exten: str
    state: int = 0
    priority: int = 1
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    app: str = ""
    app_data: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    bridge: str | None = None
    peer: Channel | None = None  # dialled / dialling channel
    moh: bool = False
    citizen: Citizen | None = None
    endpoint: Endpoint | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    dial_status: str = ""
    hung_up: bool = False
    recording: Recording | None = None
    local_half: Channel | None = None  # the other half of a Local channel pair
    queued_at: float | None = None  # loop time it joined the fallback queue
    queue_member: tuple[str, float, float] | None = None  # (endpoint, hold s, answered at)

    def fields(self, prefix: str = "") -> Fields:
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", _STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.caller_num),
            (f"{prefix}CallerIDName", self.caller_name),
            (f"{prefix}ConnectedLineNum", self.connected_num),
            (f"{prefix}ConnectedLineName", self.connected_name),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def cancel_timers(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()


class PbxError(Exception):
    """An AMI action the simulated PBX refuses; the message is Asterisk's."""


class SimPbx:
    """The simulated PBX. `emit(name, fields)` receives every AMI event it raises."""

    def __init__(
        self,
        emit: Callable[[str, Fields], None],
        endpoints: dict[str, Endpoint] | None = None,
        time_scale: float = 1.0,
        recordings_dir: Path | None = None,
    ) -> None:
        self._emit = emit
        self._recordings_dir = recordings_dir
        self.recording_rate = 8000  # samples/s of the WAV files MixMonitor writes
        self.endpoints = endpoints or {}
        self.time_scale = time_scale  # 0.1: every delay ten times shorter
        self.channels: dict[str, Channel] = {}
        self.globals: dict[str, str] = {}
        self.boot = int(time.time())
        self._ids = itertools.count(1)
        self._chan_seq = itertools.count(0)
        self.ended: list[Channel] = []
        self.callback_answers: dict[str, bool] = {}  # number -> picks up a callback
        self.agi: SimAgiClient | None = None  # set: the IVR runs over FastAGI
        self._fallback_line: list[Channel] = []
        self._fallback_next = -1
        self._tasks: set[asyncio.Task[None]] = set()

    def use_fastagi(self, host: str, port: int) -> None:
        """Run the deployment's AGI() steps against the CTI's FastAGI server."""
        from cti.sim.agi_client import SimAgiClient

        self.agi = SimAgiClient(self, host, port)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        if variables.get("Event", "").lower() != "talk" or caller is None or ch.state != 5:
            return
        if caller.queued_at is not None and caller in self._fallback_line:
            self._fallback_answer(caller, ch, asyncio.get_running_loop().time())
        else:
            self._agent_answers(caller, ch)

    def set_reachable(self, name: str, reachable: bool) -> None:
        """An agent's phone registers again or stops answering qualify (transcripts 08,
        09): PeerStatus, DeviceStateChange, ContactStatus."""
        endpoint = self.endpoints[name]
        endpoint.reachable = reachable
        status = "Reachable" if reachable else "Unreachable"
        self._event(
            "PeerStatus",
            [("ChannelType", "PJSIP"), ("Peer", f"PJSIP/{name}"), ("PeerStatus", status)],
            "system,all",
        )
        self._event(
            "DeviceStateChange",
            [("Device", f"PJSIP/{name}"), ("State", "NOT_INUSE" if reachable else "UNAVAILABLE")],
        )
        self._event(
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
        self._newstate(ch, 6)

    def dtmf_received(self, ch: Channel, digit: str) -> None:
        self.play_dtmf(ch.name, digit, 120, receive=True)

    # --- helpers -------------------------------------------------------------------

    def _later(self, ch: Channel, delay_s: float, fn: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        ch.timers.append(loop.call_later(delay_s * self.time_scale, self._guard(ch, fn)))

    @staticmethod
    def _guard(ch: Channel, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if not ch.hung_up:
                fn()

        return run

    def _event(self, name: str, fields: Fields, privilege: str = "call,all") -> None:
        self._emit(name, [("Privilege", privilege), *fields])

    def _new_channel(
        self,
        tech_name: str,
        caller_num: str,
        caller_name: str,
        context: str,
        exten: str,
        linkedid: str | None = None,
        state: int = 0,
    ) -> Channel:
        uid = f"{self.boot}.{next(self._ids)}"
        name = f"{tech_name}-{next(self._chan_seq):08x}"
        ch = Channel(name, uid, linkedid or uid, caller_num, caller_name, context, exten, state)
        self.channels[name] = ch
        self._event("Newchannel", ch.fields())
        return ch

    def _newexten(
        self, ch: Channel, context: str, exten: str, priority: int, app: str, data: str
    ) -> None:
        ch.context, ch.exten, ch.priority, ch.app, ch.app_data = context, exten, priority, app, data
        self._event(
            "Newexten",
            [*ch.fields(), ("Extension", exten), ("Application", app), ("AppData", data)],
            "dialplan,all",
        )

    def _setvar(self, ch: Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self._event("VarSet", [*ch.fields(), ("Variable", name), ("Value", value)], "dialplan,all")

    def _set_app(
        self, ch: Channel, context: str, exten: str, priority: int, name: str, value: str
    ) -> None:
        self._newexten(ch, context, exten, priority, "Set", f"{name}={value}")
        self._setvar(ch, name, value)

    def _newstate(self, ch: Channel, state: int) -> None:
        ch.state = state
        self._event("Newstate", ch.fields())

    def _moh_start(self, ch: Channel) -> None:
        ch.moh = True
        self._event("MusicOnHoldStart", [*ch.fields(), ("Class", "default")])

    def _moh_stop(self, ch: Channel) -> None:
        if ch.moh:
            ch.moh = False
            self._event("MusicOnHoldStop", ch.fields())

    # --- citizens --------------------------------------------------------------------

    def inbound_call(self, citizen: Citizen, did: str = "1555") -> Channel:
        """A citizen dials the hotline: answered, through the IVR, on hold for the ACD."""
        ch = self._new_channel("PJSIP/trunk", citizen.number, citizen.number, INBOUND, did, state=4)
        ch.citizen = citizen
        self._newexten(ch, INBOUND, did, 1, "NoOp", f"Hotline call from {citizen.number}")
        self._newexten(ch, INBOUND, did, 2, "Answer", "")
        self._newstate(ch, 6)
        if self.agi is not None:
            agi = self.agi
            self._newexten(ch, INBOUND, did, 3, "AGI", f"agi://{agi.host}:{agi.port}/inbound")
            self._spawn(self._after_ivr(ch, did))
            return ch
        # What the IVR leaves behind when it hands the call to the ACD.
        self._set_app(ch, INBOUND, did, 3, "CTI_QUEUE", citizen.queue)
        self._set_app(ch, INBOUND, did, 4, "CTI_PRIORITY", str(citizen.priority))
        self._wait_in_line(ch)
        return ch

    def _wait_in_line(self, ch: Channel) -> None:
        self._to_hold(ch)
        if ch.citizen is not None and ch.citizen.patience_s is not None:
            self._later(ch, ch.citizen.patience_s, lambda: self._impatient(ch))

    async def _agi(self, ch: Channel, script: str) -> str | None:
        """Run AGI(); AGISTATUS, or None when the caller hung up meanwhile."""
        assert self.agi is not None
        status = await self.agi.run(ch, script)
        if ch.hung_up:
            return None
        self._setvar(ch, "AGISTATUS", status)
        return status

    async def _after_ivr(self, ch: Channel, did: str) -> None:
        """The dialplan after AGI(): on to hold, voicemail, hang-up, or the fallback
        queue when the FastAGI server failed (AGISTATUS=FAILURE)."""
        status = await self._agi(ch, "inbound")
        if status is None:
            return
        after = ch.variables.get("CTI_NEXT", "")
        if status != "SUCCESS" or after not in ("queue", "voicemail", "hangup"):
            self.redirect(ch.name, FALLBACK, "s")
        elif after == "queue":
            self._newexten(ch, INBOUND, did, 4, "Goto", f"{HOLD},s,1")
            self._wait_in_line(ch)
        elif after == "voicemail":
            self.redirect(ch.name, VOICEMAIL, "s")
        else:
            self._newexten(ch, INBOUND, did, 4, "Hangup", "")
            self.hangup(ch.name, 16)

    def _impatient(self, ch: Channel) -> None:
        if ch.bridge is None and ch.context != CALLBACK_OFFER:
            self.hangup(ch.name, 16)

    def _to_hold(self, ch: Channel) -> None:
        self._set_app(ch, HOLD, "s", 1, "CTI_WAITING", "1")
        self._newexten(ch, HOLD, "s", 2, "MusicOnHold", "default")
        self._moh_start(ch)

    # --- AMI actions ---------------------------------------------------------------------

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
        ch = self.channel(channel)
        other = self.channel(extra[0]) if extra is not None else None
        self._moh_stop(ch)
        if ch.peer is not None and ch.bridge is None:
            self._end_dial(ch, "CANCEL", hang_up_callee=True)
        if ch.bridge is not None:
            self._leave_bridge(ch, keep_peer=other is not None and other is ch.peer)
        self._enter(ch, context, exten, priority)
        if other is not None and extra is not None:
            if other.bridge is not None:
                self._leave_bridge(other)
            self._enter(other, extra[1], "s", 1)

    def _enter(self, ch: Channel, context: str, exten: str, priority: int) -> None:
        """A redirected channel starts `context` (the deployment's dialplan)."""
        if context == CONNECT:
            self._dial_agent(ch)
        elif context == HOLD:
            self._to_hold(ch)
        elif context == CALLBACK_OFFER:
            self._callback_offer(ch)
        elif context == FALLBACK:
            self._newexten(ch, context, exten, priority, "Queue", "cti-fallback,t,,,300")
            self._fallback_join(ch)
        elif context == VOICEMAIL:
            self._newexten(ch, context, exten, priority, "VoiceMail", "hotline@default,u")
            self._later(ch, 2.0, lambda: self.hangup(ch.name, 16))
        elif context == HELD:
            self._newexten(ch, context, exten, priority, "MusicOnHold", "default")
            self._moh_start(ch)
        elif context == AGENT_HELD:
            self._newexten(ch, context, exten, priority, "Wait", "3600")
        elif context == TRANSFER_OUT:
            self._dial_out(ch)
        else:
            self._newexten(ch, context, exten, priority, "NoOp", "")

    def setvar(self, channel: str | None, name: str, value: str) -> None:
        if channel is None:
            self.globals[name] = value
            return
        self._setvar(self.channel(channel), name, value)

    def getvar(self, channel: str | None, name: str) -> str:
        if channel is None:
            return self.globals.get(name, "")
        return self.channel(channel).variables.get(name, "")

    def hangup(self, channel: str, cause: int = 16) -> None:
        """Hang a channel up (AMI Hangup, or a party putting the phone down)."""
        ch = self.channel(channel)
        peer = ch.peer
        if ch.bridge is not None and peer is not None:
            self._teardown_bridge(first=ch, second=peer, cause=cause)
            return
        if ch in self._fallback_line:
            self._fallback_abandon(ch, cause)
            return
        if peer is not None and ch.dial_status == "" and peer.dial_status == "":
            if ch.endpoint is None:  # the caller gave up while the agent's phone rang
                self._end_dial(ch, "CANCEL", hang_up_callee=True)
                self._finish(ch, cause)
            else:  # the agent rejected the ringing call
                self._end_dial(peer, "BUSY", hang_up_callee=True, cause=17)
                self._dial_result(peer, "BUSY")
            return
        self._moh_stop(ch)
        half = ch.local_half
        if half is not None and not half.hung_up:
            # A Local pair ends together (transcript 07): the other half is asked to
            # hang up, this one goes, then the other follows.
            ch.local_half = half.local_half = None
            self._event("HangupRequest", [*half.fields(), ("Cause", str(cause))])
            self._finish(ch, cause)
            self.hangup(half.name, cause)
            return
        self._finish(ch, cause)

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
            self._event("Newchannel", ch.fields())
            ch.caller_num, ch.caller_name = caller
        self._event("DialBegin", [*one.fields("Dest"), ("DialString", target)])
        two.priority = 2
        self._newstate(two, 6)
        self._newstate(one, 6)
        self._event("DialEnd", [*one.fields("Dest"), ("DialStatus", "ANSWER")])
        if context == HOLD:
            two.citizen = Citizen(caller[0], "")
            self._to_hold(two)
        del application  # ;1 starts it once the OriginateResponse is out: run_application
        return one

    def run_application(self, ch: Channel, app: str, data: str) -> None:
        """What the ;1 half of an originated Local channel runs (MusicOnHold, Wait)."""
        ch.app, ch.app_data = app, data
        if app.lower() == "musiconhold":
            self._moh_start(ch)

    def originate(
        self,
        endpoint_channel: str,
        context: str,
        exten: str,
        variables: dict[str, str],
        done: Callable[[Channel, int], None],
    ) -> None:
        """Originate to an agent phone; on answer it runs `context` (`cti-callback`
        dials the citizen in CTI_CALLBACK_NUMBER back). `done(channel, reason)` gets
        the OriginateResponse reason (4 answered, 3 no answer, 1 unreachable, 5 busy)."""
        tech, _, name = endpoint_channel.partition("/")
        endpoint = self.endpoints.get(name)
        ch = self._new_channel(f"PJSIP/{name}", name, name, context, exten)
        ch.endpoint = endpoint
        for key, value in variables.items():
            self._setvar(ch, key, value)
        if tech != "PJSIP" or endpoint is None or not endpoint.reachable or endpoint.busy:
            reason = 5 if endpoint is not None and endpoint.busy else 1
            self._finish(ch, 17 if reason == 5 else 0)
            done(ch, reason)
            return
        self._newstate(ch, 5)
        ring_s = float(variables.get("CTI_RING_TIMEOUT", "15") or 15)

        def no_answer() -> None:
            self._finish(ch, 19)
            done(ch, 3)

        def answer() -> None:
            self._newstate(ch, 6)
            done(ch, 4)
            if context == CALLBACK:
                self._dial_citizen_back(ch)

        if endpoint.answer_after_s is not None and endpoint.answer_after_s < ring_s:
            self._later(ch, endpoint.answer_after_s, answer)
        else:
            self._later(ch, ring_s, no_answer)

    def _dial_citizen_back(self, agent: Channel) -> None:
        number = agent.variables.get("CTI_CALLBACK_NUMBER", "")
        self._newexten(agent, CALLBACK, "s", 1, "Dial", f"PJSIP/{number}@trunk,30")
        citizen = self._new_channel(
            "PJSIP/trunk", number, "<unknown>", "from-trunk", number, agent.linkedid
        )
        agent.peer, citizen.peer = citizen, agent
        agent.dial_status = citizen.dial_status = ""
        self._event(
            "DialBegin",
            [*agent.fields(), *citizen.fields("Dest"), ("DialString", f"{number}@trunk")],
        )
        self._newstate(citizen, 5)
        if self.callback_answers.get(number, True):
            citizen.citizen = Citizen(number, "", talk_s=3.0)
            self._later(citizen, 1.0, lambda: self._agent_answers(agent, citizen))
        else:

            def unanswered() -> None:
                self._end_dial(agent, "NOANSWER", hang_up_callee=True, cause=19)
                self._set_app(agent, CALLBACK, "s", 2, "CTI_DIAL_RESULT", "NOANSWER")
                self._finish(agent, 16)

            self._later(agent, 5.0, unanswered)

    # --- agents ----------------------------------------------------------------------------

    def _dial_agent(self, caller: Channel) -> None:
        target = caller.variables.get("CTI_AGENT_ENDPOINT", "")
        timeout = caller.variables.get("CTI_RING_TIMEOUT", "15")
        self._newexten(caller, CONNECT, "s", 1, "Dial", f"{target},{timeout}")
        _, _, name = target.partition("/")
        endpoint = self.endpoints.get(name)
        if endpoint is None or not endpoint.reachable:
            self._dial_result(caller, "CHANUNAVAIL")
            return
        if endpoint.busy:
            self._dial_result(caller, "BUSY")
            return
        agent = self._new_channel(
            f"PJSIP/{name}", name, "<unknown>", "agents", "s", caller.linkedid
        )
        agent.endpoint = endpoint
        caller.peer, agent.peer = agent, caller
        caller.dial_status = agent.dial_status = ""
        self._event("DialBegin", [*caller.fields(), *agent.fields("Dest"), ("DialString", target)])
        agent.connected_num, agent.connected_name = caller.caller_num, caller.caller_name
        self._newstate(agent, 5)
        self._event(
            "DialState", [*caller.fields(), *agent.fields("Dest"), ("DialStatus", "RINGING")]
        )
        if endpoint.answer_after_s is not None:
            self._later(agent, endpoint.answer_after_s, lambda: self._agent_answers(caller, agent))
        self._later(caller, float(timeout or 15), lambda: self._ring_timeout(caller, agent))

    def _ring_timeout(self, caller: Channel, agent: Channel) -> None:
        if caller.peer is agent and caller.bridge is None:
            self._end_dial(caller, "NOANSWER", hang_up_callee=True, cause=19)
            self._dial_result(caller, "NOANSWER")

    def _agent_answers(self, caller: Channel, agent: Channel) -> None:
        if caller.peer is not agent or caller.hung_up:
            return
        self._newstate(agent, 6)
        caller.dial_status = agent.dial_status = "ANSWER"
        self._event("DialEnd", [*caller.fields(), *agent.fields("Dest"), ("DialStatus", "ANSWER")])
        caller.connected_num, caller.connected_name = agent.caller_num, agent.caller_name
        self._open_bridge(agent, caller)
        talker = caller if caller.citizen is not None else agent
        if talker.citizen is not None:
            name = talker.name
            self._later(talker, talker.citizen.talk_s, lambda: self.hangup(name, 16))

    def _end_dial(
        self, caller: Channel, status: str, hang_up_callee: bool, cause: int = 16
    ) -> None:
        callee = caller.peer
        if callee is None:
            return
        caller.dial_status = callee.dial_status = status
        self._event("DialEnd", [*caller.fields(), *callee.fields("Dest"), ("DialStatus", status)])
        caller.peer = callee.peer = None
        if hang_up_callee:
            self._finish(callee, cause)

    def _dial_result(self, caller: Channel, status: str) -> None:
        """Dial returned without a conversation: report it and go back to hold."""
        self._set_app(caller, CONNECT, "s", 2, "CTI_DIAL_RESULT", status)
        self._newexten(caller, CONNECT, "s", 3, "Goto", f"{HOLD},s,1")
        self._to_hold(caller)

    def _dial_out(self, caller: Channel) -> None:
        """`[cti-transfer-out]`: Dial the outside number through the trunk; it answers
        after a second (the citizen's own timer still ends the conversation)."""
        number = caller.variables.get("CTI_TRANSFER_NUMBER", "")
        target = f"PJSIP/{number}@trunk"
        self._newexten(caller, TRANSFER_OUT, "s", 1, "Dial", f"{target},60")
        outside = self._new_channel(
            "PJSIP/trunk", number, "<unknown>", "from-trunk", "s", caller.linkedid
        )
        caller.peer, outside.peer = outside, caller
        caller.dial_status = outside.dial_status = ""
        self._event(
            "DialBegin", [*caller.fields(), *outside.fields("Dest"), ("DialString", target)]
        )
        self._newstate(outside, 5)

        def answer() -> None:
            if caller.peer is not outside or caller.hung_up:
                return
            self._newstate(outside, 6)
            caller.dial_status = outside.dial_status = "ANSWER"
            self._event(
                "DialEnd", [*caller.fields(), *outside.fields("Dest"), ("DialStatus", "ANSWER")]
            )
            self._open_bridge(outside, caller)

        self._later(caller, 1.0, answer)

    def _callback_offer(self, ch: Channel) -> None:
        citizen = ch.citizen
        if self.agi is not None:
            agi = self.agi
            self._newexten(
                ch, CALLBACK_OFFER, "s", 1, "AGI", f"agi://{agi.host}:{agi.port}/callback-offer"
            )
            if citizen is not None:  # the offer's keys: 1 = call me back on this number
                citizen.keys[:0] = ["1" if citizen.accept_callback else "3"]
            self._spawn(self._after_offer(ch))
            return
        self._newexten(ch, CALLBACK_OFFER, "s", 1, "AGI", "agi://127.0.0.1:4573/callback-offer")
        if citizen is not None and citizen.accept_callback:
            self._set_app(ch, CALLBACK_OFFER, "s", 2, "CTI_CALLBACK", citizen.number)
            self._later(ch, 0.5, lambda: self.hangup(ch.name, 16))
        else:
            self._set_app(ch, CALLBACK_OFFER, "s", 2, "CTI_CALLBACK", "")
            self._to_hold(ch)

    async def _after_offer(self, ch: Channel) -> None:
        if await self._agi(ch, "callback-offer") is None:
            return
        if ch.variables.get("CTI_CALLBACK"):
            self._later(ch, 0.5, lambda: self.hangup(ch.name, 16))
        else:
            self._to_hold(ch)

    # --- the fallback queue (app_queue as transcripts 05 and 09 show it) ---------------------

    def _queue_fields(self, position: int, count: int) -> Fields:
        return [("Queue", FALLBACK_QUEUE), ("Position", str(position)), ("Count", str(count))]

    def _fallback_join(self, ch: Channel) -> None:
        ch.queued_at = asyncio.get_running_loop().time()
        self._fallback_line.append(ch)
        n = len(self._fallback_line)
        self._event("QueueCallerJoin", [*ch.fields(), *self._queue_fields(n, n)], "agent,all")
        self._moh_start(ch)
        self._later(ch, 0.0, lambda: self._fallback_ring(ch))

    def _fallback_leave(self, ch: Channel) -> None:
        position = self._fallback_line.index(ch) + 1
        self._fallback_line.remove(ch)
        count = len(self._fallback_line)
        self._event(
            "QueueCallerLeave", [*ch.fields(), *self._queue_fields(position, count)], "agent,all"
        )

    def _member(self, endpoint: Endpoint) -> Fields:
        return [
            ("Queue", FALLBACK_QUEUE),
            ("Interface", f"PJSIP/{endpoint.name}"),
            ("MemberName", endpoint.name),
        ]

    def _fallback_ring(self, caller: Channel) -> None:
        """Ring the next member (round robin with memory); none free: try again later."""
        names = [n for n, e in self.endpoints.items() if e.reachable and not e.busy]
        busy = {c.endpoint.name for c in self.channels.values() if c.endpoint is not None}
        free = [n for n in names if n not in busy]
        if not free:
            self._later(caller, FALLBACK_RETRY_S, lambda: self._fallback_ring(caller))
            return
        self._fallback_next = (self._fallback_next + 1) % len(free)
        endpoint = self.endpoints[free[self._fallback_next]]
        agent = self._new_channel(
            f"PJSIP/{endpoint.name}", endpoint.name, "<unknown>", "agents", "s", caller.linkedid
        )
        agent.endpoint = endpoint
        caller.peer, agent.peer = agent, caller
        caller.dial_status = agent.dial_status = ""
        member = self._member(endpoint)
        self._event("AgentCalled", [*caller.fields(), *agent.fields("Dest"), *member], "agent,all")
        target = f"PJSIP/{endpoint.name}"
        self._event("DialBegin", [*caller.fields(), *agent.fields("Dest"), ("DialString", target)])
        self._newstate(agent, 5)
        self._event(
            "DialState", [*caller.fields(), *agent.fields("Dest"), ("DialStatus", "RINGING")]
        )
        rang = asyncio.get_running_loop().time()
        if endpoint.answer_after_s is not None and endpoint.answer_after_s < FALLBACK_RING_S:
            self._later(
                agent, endpoint.answer_after_s, lambda: self._fallback_answer(caller, agent, rang)
            )
        else:

            def no_answer() -> None:
                self._end_dial(caller, "NOANSWER", hang_up_callee=True, cause=19)
                ring_ms = str(round(FALLBACK_RING_S * 1000))
                self._event(
                    "AgentRingNoAnswer",
                    [*caller.fields(), *agent.fields("Dest"), *member, ("RingTime", ring_ms)],
                    "agent,all",
                )
                self._later(caller, FALLBACK_RETRY_S, lambda: self._fallback_ring(caller))

            self._later(caller, FALLBACK_RING_S, no_answer)

    def _fallback_answer(self, caller: Channel, agent: Channel, rang: float) -> None:
        if caller.peer is not agent or caller.hung_up:
            return
        now = asyncio.get_running_loop().time()
        self._newstate(agent, 6)
        caller.dial_status = agent.dial_status = "ANSWER"
        self._event("DialEnd", [*caller.fields(), *agent.fields("Dest"), ("DialStatus", "ANSWER")])
        self._moh_stop(caller)
        self._fallback_leave(caller)
        assert agent.endpoint is not None
        assert caller.queued_at is not None
        hold = (now - caller.queued_at) / self.time_scale
        ring = (now - rang) / self.time_scale
        self._event(
            "AgentConnect",
            [
                *caller.fields(),
                *agent.fields("Dest"),
                *self._member(agent.endpoint),
                ("HoldTime", str(round(hold))),
                ("RingTime", str(round(ring))),
            ],
            "agent,all",
        )
        caller.queue_member = (agent.endpoint.name, hold, now)
        caller.connected_num, caller.connected_name = agent.caller_num, agent.caller_name
        self._open_bridge(agent, caller)
        if caller.citizen is not None:
            name = caller.name
            self._later(caller, caller.citizen.talk_s, lambda: self.hangup(name, 16))

    def _fallback_abandon(self, ch: Channel, cause: int) -> None:
        """A caller gives up in the fallback queue (transcript 05's order)."""
        if ch.peer is not None:
            self._end_dial(ch, "CANCEL", hang_up_callee=True)
        self._moh_stop(ch)
        position = self._fallback_line.index(ch) + 1
        assert ch.queued_at is not None
        held = (asyncio.get_running_loop().time() - ch.queued_at) / self.time_scale
        self._event(
            "QueueCallerAbandon",
            [
                *ch.fields(),
                ("Queue", FALLBACK_QUEUE),
                ("Position", str(position)),
                ("OriginalPosition", str(position)),
                ("HoldTime", str(round(held))),
            ],
            "agent,all",
        )
        self._fallback_leave(ch)
        self._event("SoftHangupRequest", [*ch.fields(), ("Cause", str(cause))])
        self._finish(ch, cause)

    def _leave_bridge(self, ch: Channel, keep_peer: bool = False) -> None:
        """A caller redirected out of a call (a transfer): both leave the bridge, and the
        agent's leg, whose Dial is over, hangs up (transcript 07's order) unless it is
        redirected too (`keep_peer`: hold)."""
        other = ch.peer
        bridge = ch.bridge
        assert bridge is not None
        base = bridge_fields(bridge)
        for n, leaving in ((1, ch), (0, other)):
            if leaving is None:
                continue
            self._event(
                "BridgeLeave",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *leaving.fields(),
                ],
            )
            leaving.bridge = None
        self._event(
            "BridgeDestroy", [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        )
        ch.peer = None
        ch.queue_member = None
        if other is not None:
            other.peer = None
            if not keep_peer:
                self._finish(other, 16)

    def _teardown_bridge(self, first: Channel, second: Channel, cause: int) -> None:
        """First hangs up in a two-party bridge (order as in transcript 09)."""
        bridge = first.bridge
        assert bridge is not None
        self._event("HangupRequest", [*first.fields(), ("Cause", str(cause))])
        caller = first if first.queue_member is not None else second
        if caller.queue_member is not None:  # answered through the fallback queue
            agent = second if caller is first else first
            name, hold, answered = caller.queue_member
            talk = (asyncio.get_running_loop().time() - answered) / self.time_scale
            self._event(
                "AgentComplete",
                [
                    *caller.fields(),
                    *agent.fields("Dest"),
                    *self._member(self.endpoints[name]),
                    ("HoldTime", str(round(hold))),
                    ("TalkTime", str(round(talk))),
                    ("Reason", "caller" if first is caller else "agent"),
                ],
                "agent,all",
            )
            caller.queue_member = None
        base = bridge_fields(bridge)
        for n, ch in ((1, first), (0, second)):
            self._event(
                "BridgeLeave",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *ch.fields(),
                ],
            )
            ch.bridge = None
        self._event(
            "BridgeDestroy", [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        )
        first.peer = second.peer = None
        self._event("SoftHangupRequest", [*first.fields(), ("Cause", str(cause))])
        callee, caller = (first, second) if first.endpoint is not None else (second, first)
        self._finish(callee, cause)
        self._finish(caller, cause)

    def _finish(self, ch: Channel, cause: int) -> None:
        if ch.hung_up:
            return
        ch.hung_up = True
        ch.cancel_timers()
        if ch.recording is not None:
            # MixMonitor ends with its channel; Asterisk reports no MixMonitorStop then.
            self._stop_recording(ch, report=False)
        self._event(
            "Hangup",
            [*ch.fields(), ("Cause", str(cause)), ("Cause-txt", _CAUSES.get(cause, "Unknown"))],
        )
        self.channels.pop(ch.name, None)
        self.ended.append(ch)

    # --- recordings, DTMF ----------------------------------------------------------------

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
        self._setvar(ch, "MIXMONITOR_FILENAME", str(path))
        if "i(" in options:
            var = options.split("i(", 1)[1].split(")", 1)[0]
            self._setvar(ch, var, mixmon_id)
        self._event("MixMonitorStart", ch.fields())

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
        self._event(
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
            self._event("MixMonitorStop", ch.fields())
        return rec.path

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
            self._moh_stop(ch)
            if ch.peer is not None and ch.bridge is None:
                self._end_dial(ch, "CANCEL", hang_up_callee=True)
        bridge = self._open_bridge(first, second)
        first.peer, second.peer = second, first
        return bridge

    def _open_bridge(self, *chans: Channel) -> str:
        """A new basic bridge with these channels, in this order (transcripts 07, 09)."""
        bridge = str(uuid.uuid4())
        base = bridge_fields(bridge)
        self._event(
            "BridgeCreate", [*base, ("BridgeNumChannels", "0"), ("BridgeVideoSourceMode", "none")]
        )
        for n, ch in enumerate(chans, start=1):
            ch.bridge = bridge
            self._event(
                "BridgeEnter",
                [
                    *base,
                    ("BridgeNumChannels", str(n)),
                    ("BridgeVideoSourceMode", "none"),
                    *ch.fields(),
                ],
            )
        return bridge

    def bridges(self) -> dict[str, list[Channel]]:
        out: dict[str, list[Channel]] = {}
        for ch in self.channels.values():
            if ch.bridge is not None:
                out.setdefault(ch.bridge, []).append(ch)
        return out

    def play_dtmf(self, channel: str, digit: str, duration_ms: int, receive: bool) -> None:
        """`PlayDTMF`: as transcript 04, one DTMFEnd (Direction Received with Receive)."""
        ch = self.channel(channel)
        if len(digit) != 1 or digit not in "0123456789*#ABCDabcd":
            raise PbxError(f"Invalid DTMF digit {digit!r}")
        self._event(
            "DTMFEnd",
            [
                *ch.fields(),
                ("Digit", digit),
                ("DurationMs", str(duration_ms)),
                ("Direction", "Received" if receive else "Sent"),
            ],
            "dtmf,all",
        )

    def channel(self, name: str) -> Channel:
        ch = self.channels.get(name)
        if ch is None:
            raise PbxError("No such channel")
        return ch

    def close(self) -> None:
        for ch in list(self.channels.values()):
            ch.cancel_timers()
        for task in list(self._tasks):
            task.cancel()


def bridge_fields(bridge: str) -> Fields:
    return [
        ("BridgeUniqueid", bridge),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
    ]


@functools.cache
def _tone(rate: int) -> bytes:
    """One second of a 425 Hz tone."""
    return b"".join(
        struct.pack("<h", round(3000 * math.sin(2 * math.pi * 425 * n / rate))) for n in range(rate)
    )


def write_wav(path: Path, voiced_s: float, silent_s: float = 0.0, rate: int = 8000) -> None:
    """A real WAV file: `voiced_s` of a 425 Hz tone then `silent_s` of silence (a muted
    stretch), 16-bit mono at `rate` (Asterisk's wav is 8 kHz; the demo may use less to
    keep long simulated calls small)."""
    tone = _tone(rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for seconds, second_of_audio in ((voiced_s, tone), (silent_s, bytes(2 * rate))):
            frames = round(seconds * rate)
            whole, rest = divmod(frames, rate)
            for _ in range(whole):
                out.writeframesraw(second_of_audio)
            out.writeframesraw(second_of_audio[: 2 * rest])
