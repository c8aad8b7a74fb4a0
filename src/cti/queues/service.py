"""The ACD wired to the PBX: AMI events in, `Acd` decisions out as AMI actions.

This module builds and runs the parts: pbx_events.py (AMI events -> engine steps),
commands.py (engine commands -> AMI actions, one worker), control.py (hold, resume,
transfer), legs.py (the channels of each call); dialplan.py is the contract with
Asterisk they all follow. The timer loop here calls `Acd.tick` at its next deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import structlog

from cti.ami.service import ActionSender
from cti.ami.tracker import CallTracker
from cti.queues import adoption
from cti.queues.commands import CommandRunner
from cti.queues.control import CallControl
from cti.queues.engine import Acd
from cti.queues.errors import AcdError
from cti.queues.events import Decisions, Event, OfferFailure, PlaceCallback
from cti.queues.legs import Legs
from cti.queues.pbx_events import PbxEventHandler, Subscribable

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Summary:
    waiting: int
    longest_wait_s: float
    agents: dict[str, int]  # state -> count
    offered: int
    answered: int
    abandoned: int
    overflowed: int


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
        self._clock = clock
        self._publish = publish or (lambda event: None)
        self._legs = Legs()
        self._runner = CommandRunner(ami, self._legs, self._callback_failed)
        self._pbx = PbxEventHandler(
            acd, self._legs, self.now, self.apply, self._try, self._runner.put
        )
        self._control = CallControl(acd, ami, self._legs, self.now, self.apply)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def attach(self, feed: Subscribable) -> None:
        self._pbx.attach(feed)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._runner.run(), name="acd-commands"),
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

    @property
    def dropped_commands(self) -> int:
        """PBX commands dropped because the command queue was full."""
        return self._runner.dropped_commands

    # --- call control -------------------------------------------------------------------

    async def transfer_to_queue(self, call: str, queue: str) -> None:
        """Hand an answered call to another queue (the caller joins its line anew)."""
        await self._control.transfer_to_queue(call, queue)

    async def transfer_to_agent(self, call: str, agent: str) -> None:
        """Hand an answered call straight to a ready agent."""
        await self._control.transfer_to_agent(call, agent)

    async def transfer_to_number(self, call: str, number: str) -> None:
        """Send an answered call to an outside number."""
        await self._control.transfer_to_number(call, number)

    def call_out(self, agent: str, number: str, task: bool = False) -> str:
        """The agent calls a citizen (its phone first, then the number): a call of the
        ACD, so the agent is on it and the record is the agent's; returns its id. A
        `task` call keeps the outbound policy (inbound first, lines)."""
        call = f"out-{uuid.uuid4().hex[:16]}"
        self.run(partial(self.acd.call_out, call, agent, number, self.now(), task))
        return call

    async def hold(self, call: str) -> None:
        """Music for the citizen; the agent's phone stays connected to the CTI."""
        await self._control.hold(call)

    async def resume(self, call: str) -> None:
        """The citizen on hold and the agent talk again."""
        await self._control.resume(call)

    def resync(self, tracker: CallTracker, wall_now: float) -> tuple[int, int]:
        """After an AMI (re)connect: end the calls Asterisk no longer has, adopt those
        it has in our contexts (see adoption.py); (ended, adopted)."""
        return adoption.resync(
            self.acd, self._legs, tracker, self.now(), wall_now, self.apply, self.time_scale
        )

    def set_reachability(self, reachable: dict[str, bool]) -> list[str]:
        """Endpoint name (`a1` of `PJSIP/a1`) -> reachable, as Asterisk lists them now;
        returns the agents' PJSIP endpoints that are not reachable."""
        unreachable = []
        for profile in self.acd.profiles():
            tech, _, name = profile.endpoint.partition("/")
            if tech == "PJSIP" and name in reachable:
                step = partial(self.acd.set_reachable, profile.id, reachable[name], self.now())
                self._try(step)
                if not reachable[name]:
                    unreachable.append(name)
        return unreachable

    def agent_of(self, endpoint: str) -> str | None:
        """The agent whose phone `endpoint` is (`PJSIP/a1`), or None."""
        return self.acd.agent_of(endpoint)

    def caller_channel(self, call: str) -> str | None:
        """The citizen's channel of a call in the ACD (None once it has hung up)."""
        leg = self._legs.callers.get(call)
        return leg.channel if leg else None

    def placed_legs(self, call: str) -> list[str]:
        """The uniqueids of the agent's legs the CTI placed for a call (a callback, an
        agent's own call): such a call has no caller's line of its own."""
        return [u for u, c in self._legs.call_of.items() if c == call]

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

    # --- engine steps -------------------------------------------------------------------

    def apply(self, decisions: Decisions) -> Decisions:
        """Publish the events and queue the PBX commands of one engine step."""
        for event in decisions.events:
            self._publish(event)
        for command in decisions.commands:
            if isinstance(command, PlaceCallback):
                self._legs.calling_back.add(command.call)
            self._runner.put(command)
        self._wake.set()
        return decisions

    def run(self, step: Callable[[], Decisions]) -> Decisions:
        """Apply one engine step asked for by a person (REST, desktop). A refusal is
        raised to them, and what the step's timers decided before it was refused
        (a ring guard, an overflow) goes out at once all the same."""
        try:
            return self.apply(step())
        except AcdError:
            self.apply(self.acd.tick(self.now()))
            raise

    def _try(self, step: Callable[[], Decisions]) -> None:
        """Apply an engine step caused by the PBX; a refusal means the PBX and the ACD
        disagree about a call (e.g. a late event): log it, never crash the feed."""
        try:
            self.apply(step())
        except AcdError as exc:
            log.warning("acd.pbx_event_refused", code=exc.code, message=exc.message)
            # Timers the refused step ran before refusing (a ring guard, say) decided
            # things too: send them now, not at some later step.
            self.apply(self.acd.tick(self.now()))

    def _callback_failed(self, call: str, cause: OfferFailure) -> None:
        """The Originate of a callback failed: the agent's phone did not take it."""
        self._try(partial(self.acd.offer_failed, call, cause, self.now()))

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.acd.next_deadline()
            self._wake.clear()
            timeout = (
                None if deadline is None else max(0.0, deadline - self.now()) * self.time_scale
            )
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation of close(), which would then wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            due = self.acd.next_deadline()
            if due is not None and due <= self.now():
                self.apply(self.acd.tick(self.now()))
