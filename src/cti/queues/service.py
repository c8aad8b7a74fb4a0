"""The ACD wired to the PBX: AMI events in, `Acd` decisions out as AMI actions.

The dialplan contract (deploy/asterisk, and the simulator's contexts):
- the IVR leaves `CTI_QUEUE` (and optionally `CTI_PRIORITY`) on the caller's channel and
  sends it to `[cti-hold]`, which sets `CTI_WAITING=1` and plays music on hold: that
  VarSet is the call's arrival in the ACD (the interaction id, Asterisk's Linkedid, is
  the ACD's call id);
- `ConnectToAgent` = `Setvar CTI_AGENT_ENDPOINT`, `Setvar CTI_RING_TIMEOUT`, `Redirect`
  to `[cti-connect]`, which `Dial`s the agent; `DialEnd ANSWER` is the answer, and when
  Dial returns without one the dialplan sets `CTI_DIAL_RESULT=${DIALSTATUS}` and goes
  back to `[cti-hold]`;
- `CancelOffer` = `Redirect` back to `[cti-hold]` (Asterisk ends the Dial);
- `OverflowCall` = `Redirect` to `[cti-callback-offer]`, `[cti-voicemail]` or
  `[cti-fallback]`; the callback offer sets `CTI_CALLBACK=<number>` when accepted;
- `PlaceCallback` = async `Originate` of the agent's endpoint into `[cti-callback]` with
  `CTI_CALL_ID` and `CTI_CALLBACK_NUMBER`, which dials the citizen;
- the caller's `Hangup` is an abandon, or the end of the conversation;
- hold = one `Redirect` of the caller to `[cti-held]` (music) and, as its ExtraChannel,
  of the agent's leg to `[cti-agent-held]` (the phone stays up); resume = the `Bridge`
  action of the two (transcript 07: when one of them hangs up, the other goes on at
  the next priority of its context, which hangs up or runs the survey). An agent's leg
  that hangs up while its caller is on hold ends the conversation and the caller goes
  back in line (`ReturnToLine`);
- transfer out = `Setvar CTI_TRANSFER_NUMBER`, `Redirect` to `[cti-transfer-out]`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import structlog

from cti.ami import models as m
from cti.ami.errors import AmiError, OriginateFailed
from cti.ami.service import ActionSender
from cti.queues.engine import Acd, CallView
from cti.queues.errors import AcdError
from cti.queues.events import (
    Announce,
    CancelOffer,
    Command,
    ConnectToAgent,
    Decisions,
    Event,
    HangUpLeg,
    OfferFailure,
    OverflowCall,
    PlaceCallback,
    ReturnToLine,
)

log = structlog.get_logger(__name__)

HOLD, CONNECT, CALLBACK = "cti-hold", "cti-connect", "cti-callback"
HELD, AGENT_HELD, TRANSFER_OUT = "cti-held", "cti-agent-held", "cti-transfer-out"
OVERFLOW_CONTEXTS = {
    "callback": "cti-callback-offer",
    "voicemail": "cti-voicemail",
    "fallback": "cti-fallback",
}
_DIAL_FAILURES: dict[str, OfferFailure] = {
    "NOANSWER": "no_answer",
    "BUSY": "busy",
    "CONGESTION": "unreachable",
    "CHANUNAVAIL": "unreachable",
}
# OriginateResponse Reason -> why the agent's phone did not take the callback.
_ORIGINATE_FAILURES: dict[int, OfferFailure] = {3: "no_answer", 5: "busy"}
COMMAND_QUEUE = 10_000  # commands waiting for AMI; beyond this the PBX is hopelessly behind


class Subscribable(Protocol):
    def subscribe(self, cls: Any, callback: Any) -> None: ...


@dataclass(frozen=True)
class Summary:
    waiting: int
    longest_wait_s: float
    agents: dict[str, int]  # state -> count
    offered: int
    answered: int
    abandoned: int
    overflowed: int


@dataclass
class _Leg:
    channel: str
    uniqueid: str


class AcdService:
    """Runs the ACD against Asterisk; owns its command worker and timer tasks."""

    def __init__(
        self,
        acd: Acd,
        ami: ActionSender,
        clock: Callable[[], float],
        publish: Callable[[Event], None] | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.acd = acd
        self.time_scale = time_scale  # wall seconds per second of `clock` (a sped-up sim)
        self._ami = ami
        self._clock = clock
        self._publish = publish or (lambda event: None)
        self._callers: dict[str, _Leg] = {}  # call id -> the citizen's channel
        self._call_of: dict[str, str] = {}  # uniqueid (caller or callback agent leg) -> call id
        self._agent_legs: dict[str, _Leg] = {}  # call id -> the answering agent's channel
        self._agent_leg_of: dict[str, str] = {}  # that channel's uniqueid -> call id
        self._vars: dict[str, dict[str, str]] = {}  # uniqueid -> CTI_* seen
        self._calling_back: set[str] = set()  # calls whose callback is being placed
        self._commands: asyncio.Queue[Command] = asyncio.Queue(COMMAND_QUEUE)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped_commands = 0

    def attach(self, feed: Subscribable) -> None:
        feed.subscribe(m.VarSet, self._on_varset)
        feed.subscribe(m.DialEnd, self._on_dial_end)
        feed.subscribe(m.Hangup, self._on_hangup)
        feed.subscribe(m.ContactStatus, self._on_contact)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._command_worker(), name="acd-commands"),
            asyncio.create_task(self._timer_loop(), name="acd-timers"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def now(self) -> float:
        return self._clock()

    async def transfer_to_queue(self, call: str, queue: str) -> None:
        """Hand an answered call to another queue: the agent goes to wrap-up, the caller
        back on hold and into the new queue's line (a new arrival there)."""
        leg = self._callers.get(call)
        view = self.acd.call_view(call)
        if leg is None or view is None or view.state != "connected":
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        if queue not in self.acd.config.queues:
            raise AcdError("unknown_queue", f"no queue {queue!r}")
        await self._drop_held_agent(call)
        self.apply(self.acd.call_ended(call, self.now()))
        self._forget_caller(call)
        await self._requeue_channel(leg.channel, queue)

    async def _requeue_channel(self, channel: str, queue: str) -> None:
        await self._ami.send_action(
            {"Action": "Setvar", "Channel": channel, "Variable": "CTI_QUEUE", "Value": queue}
        )
        await self._redirect(channel, HOLD)

    def _forget_caller(self, call: str) -> _Leg:
        """The ACD is done with this caller's channel (it leaves for another context)."""
        leg = self._callers.pop(call)
        self._call_of.pop(leg.uniqueid, None)
        self._vars.pop(leg.uniqueid, None)
        self._pop_agent_leg(call)
        return leg

    async def transfer_to_agent(self, call: str, agent: str) -> None:
        """Hand an answered call straight to a ready agent (whose phone rings); if that
        one does not answer, the call goes back in its queue's line."""
        view = self.acd.call_view(call)
        if call not in self._callers or view is None or view.state != "connected":
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        if self.acd.agent_view(agent) is None:
            raise AcdError("unknown_agent", f"no agent {agent!r}")
        if not self.acd.may_take(agent, call):
            raise AcdError("agent_not_ready", f"agent {agent} is not ready for a call")
        await self._drop_held_agent(call)
        self._pop_agent_leg(call)
        self.apply(self.acd.transfer_to_agent(call, agent, self.now()))

    async def transfer_to_number(self, call: str, number: str) -> None:
        """Send an answered call to an outside number (through the trunk); the agent
        goes to wrap-up and the ACD is done with the call."""
        view = self.acd.call_view(call)
        if call not in self._callers or view is None or view.state != "connected":
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        channel = self._callers[call].channel
        await self._drop_held_agent(call)
        await self._ami.send_action(
            {
                "Action": "Setvar",
                "Channel": channel,
                "Variable": "CTI_TRANSFER_NUMBER",
                "Value": number,
            }
        )
        self.apply(self.acd.call_ended(call, self.now()))
        self._forget_caller(call)
        await self._redirect(channel, TRANSFER_OUT)

    async def hold(self, call: str) -> None:
        """Music for the citizen; the agent's phone stays connected to the CTI."""
        leg, agent_leg, view = self._legs(call)
        if view.held:
            raise AcdError("already_held", f"call {call} is on hold already")
        await self._ami.send_action(
            {
                "Action": "Redirect",
                "Channel": leg.channel,
                "Context": HELD,
                "Exten": "s",
                "Priority": "1",
                "ExtraChannel": agent_leg.channel,
                "ExtraContext": AGENT_HELD,
                "ExtraExten": "s",
                "ExtraPriority": "1",
            }
        )
        self.apply(self.acd.hold(call, self.now()))

    async def resume(self, call: str) -> None:
        """The citizen on hold and the agent talk again (AMI Bridge)."""
        leg, agent_leg, view = self._legs(call)
        if not view.held:
            raise AcdError("not_held", f"call {call} is not on hold")
        await self._ami.send_action(
            {
                "Action": "Bridge",
                "Channel1": leg.channel,
                "Channel2": agent_leg.channel,
                "Tone": "no",
            }
        )
        self.apply(self.acd.resume(call, self.now()))

    async def _drop_held_agent(self, call: str) -> None:
        """Handing on a call that is on hold: the first agent's phone, waiting alone in
        `[cti-agent-held]`, hangs up (not bridged, it would stay up)."""
        view = self.acd.call_view(call)
        if view is None or not view.held:
            return
        leg = self._pop_agent_leg(call)
        if leg is not None:
            with contextlib.suppress(AmiError):  # gone already
                await self._ami.send_action({"Action": "Hangup", "Channel": leg.channel})

    def _legs(self, call: str) -> tuple[_Leg, _Leg, CallView]:
        leg, agent_leg = self._callers.get(call), self._agent_legs.get(call)
        view = self.acd.call_view(call)
        if view is None or view.state != "connected" or leg is None:
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        if agent_leg is None:  # a callback: the agent's phone placed the call
            raise AcdError("hold_unavailable", f"call {call} cannot be held from the CTI")
        return leg, agent_leg, view

    def caller_channel(self, call: str) -> str | None:
        """The citizen's channel of a call in the ACD (None once it has hung up)."""
        leg = self._callers.get(call)
        return leg.channel if leg else None

    def summary(self) -> Summary:
        """The whole center at a glance (terminal, wallboard header, benchmarks)."""
        now = self.now()
        views = [self.acd.queue_view(name, now) for name in self.acd.config.queues]
        agents: dict[str, int] = {}
        for a in self.acd.agents():
            agents[a.state.value] = agents.get(a.state.value, 0) + 1
        return Summary(
            waiting=sum(v.waiting for v in views),
            longest_wait_s=max((v.longest_wait_s for v in views), default=0.0),
            agents=agents,
            offered=sum(v.offered for v in views),
            answered=sum(v.answered for v in views),
            abandoned=sum(v.abandoned for v in views),
            overflowed=sum(v.overflowed for v in views),
        )

    def apply(self, decisions: Decisions) -> Decisions:
        """Publish the events and queue the PBX commands of one engine step."""
        for event in decisions.events:
            self._publish(event)
        for command in decisions.commands:
            if isinstance(command, PlaceCallback):
                self._calling_back.add(command.call)
            self._put(command)
        self._wake.set()
        return decisions

    def _put(self, command: Command) -> None:
        try:
            self._commands.put_nowait(command)
        except asyncio.QueueFull:
            self.dropped_commands += 1
            log.error("acd.command_dropped", command=command.to_dict(), queued=COMMAND_QUEUE)

    def _try(self, step: Callable[[], Decisions]) -> None:
        """Apply an engine step caused by the PBX; a refusal means the PBX and the ACD
        disagree about a call (e.g. a late event): log it, never crash the feed."""
        try:
            self.apply(step())
        except AcdError as exc:
            log.warning("acd.pbx_event_refused", code=exc.code, message=exc.message)

    # --- AMI events ---------------------------------------------------------------------

    def _on_varset(self, e: m.VarSet) -> None:
        name, value = e.variable, e.value
        seen = self._vars.setdefault(e.uniqueid, {})
        seen[name] = value
        call = self._call_of.get(e.uniqueid)
        if name == "CTI_WAITING" and value == "1" and call is None:
            self._arrived(e, seen)
        elif name == "CTI_CALL_ID" and value:
            self._call_of[e.uniqueid] = value  # the agent leg of a callback
        elif call is None:
            return
        elif name == "CTI_DIAL_RESULT" and value in _DIAL_FAILURES:
            if e.context == CALLBACK:  # the citizen did not take the callback
                self._try(lambda: self.acd.caller_hung_up(call, self.now()))
            else:
                self._try(lambda: self.acd.offer_failed(call, _DIAL_FAILURES[value], self.now()))
        elif name == "CTI_CALLBACK" and value:
            self._try(lambda: self.acd.callback_accepted(call, value, self.now()))

    def _arrived(self, e: m.VarSet, seen: dict[str, str]) -> None:
        call = e.linkedid or e.uniqueid
        queue = seen.get("CTI_QUEUE", "")
        try:
            priority = int(seen.get("CTI_PRIORITY", "0") or 0)
        except ValueError:
            priority = 0
        try:
            decisions = self.acd.call_arrived(call, queue, self.now(), priority)
        except AcdError as exc:
            # A call the ACD cannot take must still be answered: the plain Asterisk queue.
            log.error(
                "acd.call_refused", call=call, queue=queue, code=exc.code, message=exc.message
            )
            self._put(OverflowCall(call, queue, "fallback", None))
            self._callers[call] = _Leg(e.channel, e.uniqueid)
            return
        self._callers[call] = _Leg(e.channel, e.uniqueid)
        self._call_of[e.uniqueid] = call
        self.apply(decisions)

    def _on_contact(self, e: m.ContactStatus) -> None:
        """An agent's phone became (un)reachable: unreachable agents get no calls."""
        status = e.contact_status
        if status not in ("Reachable", "Unreachable", "Removed", "NonQualified", "Created"):
            return
        reachable = status in ("Reachable", "NonQualified", "Created")
        endpoint = f"PJSIP/{e.endpoint_name}"
        for agent in self.acd.profiles():
            if agent.endpoint == endpoint:
                self._try(partial(self.acd.set_reachable, agent.id, reachable, self.now()))

    def _on_dial_end(self, e: m.DialEnd) -> None:
        call = self._call_of.get(e.uniqueid)
        if call is not None and e.dial_status == "ANSWER":
            if call in self._callers and e.dest.uniqueid:
                self._agent_legs[call] = _Leg(e.dest.channel, e.dest.uniqueid)
                self._agent_leg_of[e.dest.uniqueid] = call
            self._try(lambda: self.acd.offer_answered(call, self.now()))

    def _on_hangup(self, e: m.Hangup) -> None:
        self._vars.pop(e.uniqueid, None)
        self._agent_leg_gone(e.uniqueid)
        call = self._call_of.pop(e.uniqueid, None)
        if call is None:
            return
        leg = self._callers.get(call)
        is_caller = leg is not None and leg.uniqueid == e.uniqueid
        if is_caller:
            del self._callers[call]
            agent_leg = self._pop_agent_leg(call)
            view = self.acd.call_view(call)
            if agent_leg is not None and view is not None and view.held:
                self._put(HangUpLeg(call, agent_leg.channel))
        else:
            self._calling_back.discard(call)  # the callback's agent leg is gone
        view = self.acd.call_view(call)
        if view is None:
            self._calling_back.discard(call)
            return
        if is_caller and call in self._calling_back:
            # The citizen's first line, dropped after accepting the callback, reported
            # after the callback was placed: the callback leg is what counts now.
            return
        if view.state == "connected":
            self._try(lambda: self.acd.call_ended(call, self.now()))
        elif is_caller:
            # Abandoned; or, after accepting a callback, the ACD keeps the place.
            self._try(lambda: self.acd.caller_hung_up(call, self.now()))
        # An agent's callback leg that ends unanswered: the OriginateResponse decides.

    def _pop_agent_leg(self, call: str) -> _Leg | None:
        leg = self._agent_legs.pop(call, None)
        if leg is not None:
            self._agent_leg_of.pop(leg.uniqueid, None)
        return leg

    def _agent_leg_gone(self, uniqueid: str) -> None:
        call = self._agent_leg_of.get(uniqueid)  # every Hangup asks: a lookup, not a scan
        if call is None:
            return
        self._pop_agent_leg(call)
        view = self.acd.call_view(call)
        if view is None or not view.held or call not in self._callers:
            return  # not on hold: the dialplan ends the caller's side (Dial returns)
        # The agent's phone went away while the citizen was on hold: back in line.
        self._try(lambda: self.acd.call_ended(call, self.now()))
        leg = self._forget_caller(call)
        self._put(ReturnToLine(call, view.queue, leg.channel))

    # --- commands -----------------------------------------------------------------------

    async def _command_worker(self) -> None:
        while True:
            command = await self._commands.get()
            try:
                await self._execute(command)
            except OriginateFailed as exc:
                if isinstance(command, PlaceCallback):
                    cause = _ORIGINATE_FAILURES.get(exc.reason_code, "unreachable")
                    self._try(partial(self.acd.offer_failed, command.call, cause, self.now()))
            except AmiError as exc:
                # The channel may be gone already (its Hangup event tells the ACD).
                log.warning("acd.command_failed", command=command.to_dict(), error=str(exc))

    async def _execute(self, command: Command) -> None:
        if isinstance(command, ConnectToAgent):
            leg = self._callers.get(command.call)
            if leg is None:
                return
            await self._ami.send_action(
                {
                    "Action": "Setvar",
                    "Channel": leg.channel,
                    "Variable": "CTI_AGENT_ENDPOINT",
                    "Value": command.endpoint,
                }
            )
            await self._ami.send_action(
                {
                    "Action": "Setvar",
                    "Channel": leg.channel,
                    "Variable": "CTI_RING_TIMEOUT",
                    "Value": str(round(command.ring_timeout_s)),
                }
            )
            await self._redirect(leg.channel, CONNECT)
        elif isinstance(command, CancelOffer):
            leg = self._callers.get(command.call)
            if leg is not None:
                await self._redirect(leg.channel, HOLD)
        elif isinstance(command, OverflowCall):
            context = OVERFLOW_CONTEXTS.get(command.action)
            leg = self._callers.get(command.call)
            if context is not None and leg is not None:
                await self._redirect(leg.channel, context)
        elif isinstance(command, PlaceCallback):
            await self._ami.send_action(
                {
                    "Action": "Originate",
                    "Channel": command.endpoint,
                    "Context": CALLBACK,
                    "Exten": "s",
                    "Priority": "1",
                    "Async": "true",
                    "Variable": [
                        f"CTI_CALL_ID={command.call}",
                        f"CTI_CALLBACK_NUMBER={command.number}",
                        f"CTI_RING_TIMEOUT={round(command.ring_timeout_s)}",
                    ],
                },
                timeout=command.ring_timeout_s + 30,
            )
        elif isinstance(command, HangUpLeg):
            await self._ami.send_action({"Action": "Hangup", "Channel": command.channel})
        elif isinstance(command, ReturnToLine):
            await self._requeue_channel(command.channel, command.queue)
        elif isinstance(command, Announce):
            # Position announcements need the IVR's prompts on the held channel (FastAGI,
            # not built yet); the figures are in the ACD's CallQueued events meanwhile.
            log.debug("acd.announce_not_played", call=command.call, position=command.position)

    async def _redirect(self, channel: str, context: str) -> None:
        await self._ami.send_action(
            {
                "Action": "Redirect",
                "Channel": channel,
                "Context": context,
                "Exten": "s",
                "Priority": "1",
            }
        )

    # --- timers ---------------------------------------------------------------------------

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.acd.next_deadline()
            self._wake.clear()
            timeout = (
                None if deadline is None else max(0.0, deadline - self.now()) * self.time_scale
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            due = self.acd.next_deadline()
            if due is not None and due <= self.now():
                self.apply(self.acd.tick(self.now()))
