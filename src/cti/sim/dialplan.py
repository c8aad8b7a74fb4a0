"""The deployment's dialplan contexts as the simulated PBX runs them (the same names
`deploy/asterisk/extensions.conf` carries):

- `cti-inbound`  a citizen's call arrives, is answered; the IVR (over FastAGI, or
                 skipped) leaves `CTI_QUEUE` / `CTI_PRIORITY` set, then `cti-hold`;
- `cti-hold`     `CTI_QUEUED_AT` set once (the first time in line), `Set(CTI_WAITING=1)`,
                 `MusicOnHold(default)`: the ACD sees a waiting call;
- `cti-connect`  `Dial(${CTI_AGENT_ENDPOINT},${CTI_RING_TIMEOUT},g)`, then
                 `Set(CTI_DIAL_RESULT=${DIALSTATUS})`; back to `cti-hold` unless answered;
- `cti-callback-offer`  the caller is offered a callback: `Set(CTI_CALLBACK=<number>)`
                 when accepted (then hangs up), `Set(CTI_CALLBACK=)` and back to hold if not;
- `cti-callback` an Originate to the agent lands here and dials the citizen back;
- `cti-held`, `cti-agent-held`  a caller on hold and the agent's phone meanwhile;
- `cti-transfer-out`  a caller transferred to an outside number;
- `cti-voicemail`, `cti-fallback`  overflow targets (voicemail, plain Queue()).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from cti.sim.agi_client import SimAgiClient
from cti.sim.channels import Switch
from cti.sim.fallback_queue import FallbackQueue
from cti.sim.models import Channel, Citizen, Endpoint

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


class Dialplan:
    """Runs a channel through the contexts above. `hangup(channel, cause)` ends a
    channel, `put_down(channel)` is a citizen hanging up; `spawn` runs an AGI session as
    a task its owner cancels."""

    def __init__(
        self,
        switch: Switch,
        queue: FallbackQueue,
        endpoints: dict[str, Endpoint],
        hangup: Callable[[str, int], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        put_down: Callable[[str], None],
    ) -> None:
        self._switch = switch
        self._queue = queue
        self._endpoints = endpoints
        self._hangup = hangup
        self._spawn = spawn
        self._put_down = put_down  # a citizen's own hang-up (a BYE)
        self.agi: SimAgiClient | None = None  # set: the IVR runs over FastAGI
        self.callback_answers: dict[str, bool] = {}  # number -> picks up a callback
        self.callback_talk_s = 3.0  # how long a citizen called by an agent talks

    # --- citizens ------------------------------------------------------------------------

    def inbound_call(self, citizen: Citizen, did: str = "1555") -> Channel:
        """A citizen dials the hotline: answered, through the IVR, on hold for the ACD."""
        sw = self._switch
        ch = sw.new_channel("PJSIP/trunk", citizen.number, citizen.number, INBOUND, did, state=4)
        ch.citizen = citizen
        sw.newexten(ch, INBOUND, did, 1, "NoOp", f"Hotline call from {citizen.number}")
        sw.newexten(ch, INBOUND, did, 2, "Answer", "")
        sw.newstate(ch, 6)
        if self.agi is not None:
            agi = self.agi
            sw.newexten(ch, INBOUND, did, 3, "AGI", f"agi://{agi.host}:{agi.port}/inbound")
            self._spawn(self._after_ivr(ch, did))
            return ch
        if citizen.ivr_s > 0:
            sw.later(ch, citizen.ivr_s, lambda: self._after_prompts(ch, did))
        else:
            self._after_prompts(ch, did)
        return ch

    def _after_prompts(self, ch: Channel, did: str) -> None:
        """What the IVR leaves behind when it hands the call to the ACD."""
        assert ch.citizen is not None
        sw = self._switch
        sw.set_app(ch, INBOUND, did, 3, "CTI_QUEUE", ch.citizen.queue)
        sw.set_app(ch, INBOUND, did, 4, "CTI_PRIORITY", str(ch.citizen.priority))
        self._wait_in_line(ch)

    def _wait_in_line(self, ch: Channel) -> None:
        self.to_hold(ch)
        if ch.citizen is not None and ch.citizen.patience_s is not None:
            self._switch.later(ch, ch.citizen.patience_s, lambda: self._impatient(ch))

    async def _agi(self, ch: Channel, script: str) -> str | None:
        """Run AGI(); AGISTATUS, or None when the caller hung up meanwhile."""
        assert self.agi is not None
        status = await self.agi.run(ch, script)
        if ch.hung_up:
            return None
        self._switch.setvar(ch, "AGISTATUS", status)
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
            self._switch.newexten(ch, INBOUND, did, 4, "Goto", f"{HOLD},s,1")
            self._wait_in_line(ch)
        elif after == "voicemail":
            self.redirect(ch.name, VOICEMAIL, "s")
        else:
            self._switch.newexten(ch, INBOUND, did, 4, "Hangup", "")
            self._hangup(ch.name, 16)

    def _impatient(self, ch: Channel) -> None:
        if ch.bridge is None and ch.context != CALLBACK_OFFER:
            self._put_down(ch.name)

    def queued_at(self, ch: Channel, context: str) -> None:
        """`ExecIf(... Set(CTI_QUEUED_AT=${STRFTIME(,,%s.%6q)}))`: set once, the first
        time the caller is in a line (ours or the fallback queue)."""
        first = "CTI_QUEUED_AT" not in ch.variables
        epoch = f"{time.time():.6f}"
        data = f"{int(first)}?Set(CTI_QUEUED_AT={epoch if first else ''})"
        self._switch.newexten(ch, context, "s", 1, "ExecIf", data)
        if first:
            self._switch.setvar(ch, "CTI_QUEUED_AT", epoch)

    def to_hold(self, ch: Channel) -> None:
        """`[cti-hold]`: the caller waits for the ACD on music on hold."""
        self.queued_at(ch, HOLD)
        self._switch.set_app(ch, HOLD, "s", 2, "CTI_WAITING", "1")
        self._switch.newexten(ch, HOLD, "s", 3, "MusicOnHold", "default")
        self._switch.moh_start(ch)

    # --- redirects -----------------------------------------------------------------------

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
        sw = self._switch
        ch = sw.channel(channel)
        other = sw.channel(extra[0]) if extra is not None else None
        sw.moh_stop(ch)
        if ch.peer is not None and ch.bridge is None:
            sw.end_dial(ch, "CANCEL", hang_up_callee=True)
        if ch.bridge is not None:
            self._leave_bridge(ch, keep_peer=other is not None and other is ch.peer)
        self._enter(ch, context, exten, priority)
        if other is not None and extra is not None:
            if other.bridge is not None:
                self._leave_bridge(other)
            self._enter(other, extra[1], "s", 1)

    def _enter(self, ch: Channel, context: str, exten: str, priority: int) -> None:
        """A redirected channel starts `context` (the deployment's dialplan)."""
        sw = self._switch
        if context == CONNECT:
            self._dial_agent(ch)
        elif context == HOLD:
            self.to_hold(ch)
        elif context == CALLBACK_OFFER:
            self._callback_offer(ch)
        elif context == FALLBACK:
            self.queued_at(ch, FALLBACK)
            sw.newexten(ch, context, exten, 2, "Queue", "cti-fallback,t,,,300")
            self._queue.join(ch)
        elif context == VOICEMAIL:
            sw.newexten(ch, context, exten, priority, "VoiceMail", "hotline@default,u")
            sw.later(ch, 2.0, lambda: self._hangup(ch.name, 16))
        elif context == HELD:
            sw.newexten(ch, context, exten, priority, "MusicOnHold", "default")
            sw.moh_start(ch)
        elif context == AGENT_HELD:
            sw.newexten(ch, context, exten, priority, "Wait", "3600")
        elif context == TRANSFER_OUT:
            self._dial_out(ch)
        else:
            sw.newexten(ch, context, exten, priority, "NoOp", "")

    def _leave_bridge(self, ch: Channel, keep_peer: bool = False) -> None:
        """A caller redirected out of a call (a transfer): both leave the bridge, and the
        agent's leg, whose Dial is over, hangs up (transcript 07's order) unless it is
        redirected too (`keep_peer`: hold)."""
        other = ch.peer
        bridge = ch.bridge
        assert bridge is not None
        self._switch.close_bridge(bridge, ch, other)
        ch.peer = None
        ch.queue_member = None
        if other is not None:
            other.peer = None
            if not keep_peer:
                self._switch.finish(other, 16)

    # --- agents ----------------------------------------------------------------------------

    def _dial_agent(self, caller: Channel) -> None:
        sw = self._switch
        target = caller.variables.get("CTI_AGENT_ENDPOINT", "")
        timeout = caller.variables.get("CTI_RING_TIMEOUT", "15")
        sw.newexten(caller, CONNECT, "s", 1, "Dial", f"{target},{timeout},g")
        _, _, name = target.partition("/")
        endpoint = self._endpoints.get(name)
        if endpoint is None or not endpoint.reachable:
            self.dial_result(caller, "CHANUNAVAIL")
            return
        if endpoint.busy:
            self.dial_result(caller, "BUSY")
            return
        agent = sw.dial_phone(caller, endpoint)
        if endpoint.answer_after_s is not None:
            sw.later(agent, endpoint.answer_after_s, lambda: self.agent_answers(caller, agent))
        sw.later(caller, float(timeout or 15), lambda: self._ring_timeout(caller, agent))

    def _ring_timeout(self, caller: Channel, agent: Channel) -> None:
        if caller.peer is agent and caller.bridge is None:
            self._switch.end_dial(caller, "NOANSWER", hang_up_callee=True, cause=19)
            self.dial_result(caller, "NOANSWER")

    def agent_answers(self, caller: Channel, agent: Channel) -> None:
        """The agent's ringing phone is answered: both go into a bridge."""
        if caller.peer is not agent or caller.hung_up:
            return
        sw = self._switch
        sw.phone_answers(agent)
        caller.dial_status = agent.dial_status = "ANSWER"
        sw.event("DialEnd", [*caller.fields(), *agent.fields("Dest"), ("DialStatus", "ANSWER")])
        sw.open_bridge(agent, caller)
        talker = caller if caller.citizen is not None else agent
        if talker.citizen is not None:
            name = talker.name
            slowdown = agent.endpoint.slowdown if agent.endpoint else 1.0
            sw.later(talker, talker.citizen.talk_s * slowdown, lambda: self._hangup(name, 16))

    def dial_result(self, caller: Channel, status: str) -> None:
        """Dial returned without a conversation: report it and go back to hold."""
        answered = '$["' + status + '" = "ANSWER"]?talked'
        self._switch.newexten(caller, CONNECT, "s", 2, "GotoIf", answered)
        self._switch.set_app(caller, CONNECT, "s", 3, "CTI_DIAL_RESULT", status)
        self._switch.newexten(caller, CONNECT, "s", 4, "Goto", f"{HOLD},s,1")
        self.to_hold(caller)

    def _dial_out(self, caller: Channel) -> None:
        """`[cti-transfer-out]`: Dial the outside number through the trunk; it answers
        after a second (the citizen's own timer still ends the conversation)."""
        sw = self._switch
        number = caller.variables.get("CTI_TRANSFER_NUMBER", "")
        target = f"PJSIP/{number}@trunk"
        sw.newexten(caller, TRANSFER_OUT, "s", 1, "Dial", f"{target},60")
        outside = sw.new_channel(
            "PJSIP/trunk", number, "<unknown>", "from-trunk", "s", caller.linkedid
        )
        caller.peer, outside.peer = outside, caller
        caller.dial_status = outside.dial_status = ""
        sw.event("DialBegin", [*caller.fields(), *outside.fields("Dest"), ("DialString", target)])
        sw.newstate(outside, 5)

        def answer() -> None:
            if caller.peer is not outside or caller.hung_up:
                return
            sw.newstate(outside, 6)
            caller.dial_status = outside.dial_status = "ANSWER"
            sw.event(
                "DialEnd", [*caller.fields(), *outside.fields("Dest"), ("DialStatus", "ANSWER")]
            )
            sw.open_bridge(outside, caller)

        sw.later(caller, 1.0, answer)

    # --- callbacks -------------------------------------------------------------------------

    def _callback_offer(self, ch: Channel) -> None:
        sw = self._switch
        citizen = ch.citizen
        if self.agi is not None:
            agi = self.agi
            sw.newexten(
                ch, CALLBACK_OFFER, "s", 1, "AGI", f"agi://{agi.host}:{agi.port}/callback-offer"
            )
            if citizen is not None:  # the offer's keys: 1 = call me back on this number
                key = citizen.callback_key or ("1" if citizen.accept_callback else "9")
                citizen.keys[:0] = [key]
            self._spawn(self._after_offer(ch))
            return
        sw.newexten(ch, CALLBACK_OFFER, "s", 1, "AGI", "agi://127.0.0.1:4573/callback-offer")
        if citizen is not None and citizen.accept_callback:
            sw.set_app(ch, CALLBACK_OFFER, "s", 2, "CTI_CALLBACK", citizen.number)
            sw.later(ch, 0.5, lambda: self._hangup(ch.name, 16))
        else:
            sw.set_app(ch, CALLBACK_OFFER, "s", 2, "CTI_CALLBACK", "")
            self.to_hold(ch)

    async def _after_offer(self, ch: Channel) -> None:
        if await self._agi(ch, "callback-offer") is None:
            return
        if ch.variables.get("CTI_CALLBACK"):
            self._switch.later(ch, 0.5, lambda: self._hangup(ch.name, 16))
        else:
            self.to_hold(ch)

    def dial_citizen_back(self, agent: Channel) -> None:
        """`[cti-callback]` on the answered agent's phone: Dial the citizen's number."""
        sw = self._switch
        number = agent.variables.get("CTI_CALLBACK_NUMBER", "")
        sw.newexten(agent, CALLBACK, "s", 1, "Dial", f"PJSIP/{number}@trunk,30")
        citizen = sw.new_channel(
            "PJSIP/trunk", number, "<unknown>", "from-trunk", number, agent.linkedid
        )
        agent.peer, citizen.peer = citizen, agent
        agent.dial_status = citizen.dial_status = ""
        sw.event(
            "DialBegin",
            [*agent.fields(), *citizen.fields("Dest"), ("DialString", f"{number}@trunk")],
        )
        sw.newstate(citizen, 5)
        if self.callback_answers.get(number, True):
            citizen.citizen = Citizen(number, "", talk_s=self.callback_talk_s)
            sw.later(citizen, 1.0, lambda: self.agent_answers(agent, citizen))
        else:

            def unanswered() -> None:
                sw.end_dial(agent, "NOANSWER", hang_up_callee=True, cause=19)
                sw.set_app(agent, CALLBACK, "s", 2, "CTI_DIAL_RESULT", "NOANSWER")
                sw.finish(agent, 16)

            sw.later(agent, 5.0, unanswered)
