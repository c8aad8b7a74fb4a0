"""AMI actions out: the ACD's PBX commands, queued (bounded) and run one at a time
against Asterisk by one worker, on the channels `Legs` knows for each call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from cti.ami.errors import AmiError, OriginateFailed
from cti.ami.service import ActionSender
from cti.queues.dialplan import (
    CALLBACK,
    CONNECT,
    HOLD,
    OVERFLOW_CONTEXTS,
    redirect,
    requeue_channel,
)
from cti.queues.events import (
    Announce,
    CancelOffer,
    Command,
    ConnectToAgent,
    HangUpLeg,
    OfferFailure,
    OverflowCall,
    PlaceCallback,
    ReturnToLine,
)
from cti.queues.legs import Legs

log = structlog.get_logger(__name__)

COMMAND_QUEUE = 10_000  # commands waiting for AMI; beyond this the PBX is hopelessly behind
# OriginateResponse Reason -> why the agent's phone did not take the callback.
_ORIGINATE_FAILURES: dict[int, OfferFailure] = {3: "no_answer", 5: "busy"}


class CommandRunner:
    """The queue of PBX commands and the worker that sends them (`run`, one task)."""

    def __init__(
        self,
        ami: ActionSender,
        legs: Legs,
        callback_failed: Callable[[str, OfferFailure], None],
    ) -> None:
        self._ami = ami
        self._legs = legs
        self._callback_failed = callback_failed  # the agent's phone did not take a callback
        self._commands: asyncio.Queue[Command] = asyncio.Queue(COMMAND_QUEUE)
        self.dropped_commands = 0
        self._originating: set[asyncio.Task[None]] = set()

    def put(self, command: Command) -> None:
        """Queue a command; a full queue drops it (counted and logged), never blocks."""
        try:
            self._commands.put_nowait(command)
        except asyncio.QueueFull:
            self.dropped_commands += 1
            log.error("acd.command_dropped", command=command.to_dict(), queued=COMMAND_QUEUE)

    async def run(self) -> None:
        try:
            while True:
                command = await self._commands.get()
                if isinstance(command, PlaceCallback):
                    # Its answer comes when the agent's phone is answered or gives up
                    # (seconds): the commands behind it must not wait for it.
                    task = asyncio.create_task(self._run(command), name="acd-originate")
                    self._originating.add(task)
                    task.add_done_callback(self._originating.discard)
                else:
                    await self._run(command)
        finally:
            for task in list(self._originating):
                task.cancel()

    async def _run(self, command: Command) -> None:
        try:
            await self._execute(command)
        except OriginateFailed as exc:
            if isinstance(command, PlaceCallback):
                cause = _ORIGINATE_FAILURES.get(exc.reason_code, "unreachable")
                self._callback_failed(command.call, cause)
        except AmiError as exc:
            # The channel may be gone already (its Hangup event tells the ACD).
            log.warning("acd.command_failed", command=command.to_dict(), error=str(exc))

    async def _execute(self, command: Command) -> None:
        ami = self._ami
        if isinstance(command, ConnectToAgent):
            leg = self._legs.callers.get(command.call)
            if leg is None:
                return
            await ami.send_action(
                {
                    "Action": "Setvar",
                    "Channel": leg.channel,
                    "Variable": "CTI_AGENT_ENDPOINT",
                    "Value": command.endpoint,
                }
            )
            await ami.send_action(
                {
                    "Action": "Setvar",
                    "Channel": leg.channel,
                    "Variable": "CTI_RING_TIMEOUT",
                    "Value": str(round(command.ring_timeout_s)),
                }
            )
            await redirect(ami, leg.channel, CONNECT)
        elif isinstance(command, CancelOffer):
            leg = self._legs.callers.get(command.call)
            placed = self._legs.placed.get(command.call)
            if leg is not None:
                await redirect(ami, leg.channel, HOLD)
            elif placed is not None:  # an agent's own call or a callback: no caller to hold
                await ami.send_action({"Action": "Hangup", "Channel": placed.channel})
        elif isinstance(command, OverflowCall):
            context = OVERFLOW_CONTEXTS.get(command.action)
            leg = self._legs.callers.get(command.call)
            if context is not None and leg is not None:
                await redirect(ami, leg.channel, context)
        elif isinstance(command, PlaceCallback):
            await ami.send_action(
                {
                    "Action": "Originate",
                    "Channel": command.endpoint,
                    "Context": CALLBACK,
                    "Exten": "s",
                    "Priority": "1",
                    "Async": "true",
                    # Her phone rings as long as the ACD's ring guard expects.
                    "Timeout": str(round(command.ring_timeout_s * 1000)),
                    "Variable": [
                        f"CTI_CALL_ID={command.call}",
                        f"CTI_CALLBACK_NUMBER={command.number}",
                        f"CTI_RING_TIMEOUT={round(command.ring_timeout_s)}",
                    ],
                },
                timeout=command.ring_timeout_s + 30,
            )
        elif isinstance(command, HangUpLeg):
            await ami.send_action({"Action": "Hangup", "Channel": command.channel})
        elif isinstance(command, ReturnToLine):
            await requeue_channel(ami, command.channel, command.queue)
        elif isinstance(command, Announce):
            # Position announcements need the IVR's prompts on the held channel (FastAGI,
            # not built yet); the figures are in the ACD's CallQueued events meanwhile.
            log.debug("acd.announce_not_played", call=command.call, position=command.position)
