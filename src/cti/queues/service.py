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
- the caller's `Hangup` is an abandon, or the end of the conversation.
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
from cti.queues.engine import Acd
from cti.queues.errors import AcdError
from cti.queues.events import (
    Announce,
    CancelOffer,
    Command,
    ConnectToAgent,
    Decisions,
    Event,
    OfferFailure,
    OverflowCall,
    PlaceCallback,
)

log = structlog.get_logger(__name__)

HOLD, CONNECT, CALLBACK = "cti-hold", "cti-connect", "cti-callback"
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
        self.apply(self.acd.call_ended(call, self.now()))
        del self._callers[call]
        self._call_of.pop(leg.uniqueid, None)
        self._vars.pop(leg.uniqueid, None)
        await self._ami.send_action(
            {"Action": "Setvar", "Channel": leg.channel, "Variable": "CTI_QUEUE", "Value": queue}
        )
        await self._redirect(leg.channel, HOLD)

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
            try:
                self._commands.put_nowait(command)
            except asyncio.QueueFull:
                self.dropped_commands += 1
                log.error("acd.command_dropped", command=command.to_dict(), queued=COMMAND_QUEUE)
        self._wake.set()
        return decisions

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
            self._commands.put_nowait(OverflowCall(call, queue, "fallback", None))
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
        for agent in self.acd.config.agents:
            if agent.endpoint == endpoint:
                self._try(partial(self.acd.set_reachable, agent.id, reachable, self.now()))

    def _on_dial_end(self, e: m.DialEnd) -> None:
        call = self._call_of.get(e.uniqueid)
        if call is not None and e.dial_status == "ANSWER":
            self._try(lambda: self.acd.offer_answered(call, self.now()))

    def _on_hangup(self, e: m.Hangup) -> None:
        self._vars.pop(e.uniqueid, None)
        call = self._call_of.pop(e.uniqueid, None)
        if call is None:
            return
        leg = self._callers.get(call)
        is_caller = leg is not None and leg.uniqueid == e.uniqueid
        if is_caller:
            del self._callers[call]
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
