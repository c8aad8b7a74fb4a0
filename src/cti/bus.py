"""The in-process event bus: every domain event gets a global sequence number, goes to
each subscriber's bounded buffer, and stays in a retention window so a client that
reconnects can resume from the last number it saw.

Publishing never waits: a subscriber whose buffer is full is cut off with a reason
(`slow_consumer`); it never slows the call path or the other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BusEvent:
    seq: int
    at: float
    type: str  # "acd.CallOffered", "call.InteractionEnded", "screen_pop", ...
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "type": self.type, "data": self.data}


@dataclass(eq=False)
class Subscription:
    wants: Callable[[BusEvent], bool]
    queue: asyncio.Queue[BusEvent | None]  # None: closed
    closed: str | None = None  # why it was cut off
    agent: str | None = None  # an agent's desktop: indexed by that agent
    # Takes an event at once, within `publish`, when none is queued before it; False:
    # not now (it is queued as any other). A desktop's screen-pop leaves this way in
    # the same step of the loop as the offer, not behind everything else ready to run.
    now: Callable[[BusEvent], bool] | None = None

    async def get(self) -> BusEvent | None:
        """The next event, or None once the subscription is closed (the events queued
        before that first). One await on the queue: `close` wakes a waiting reader with
        a None of its own."""
        if self.closed is not None and self.queue.empty():
            return None
        return await self.queue.get()

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
            with contextlib.suppress(asyncio.QueueFull):  # full: the reader is not waiting
                self.queue.put_nowait(None)


class EventBus:
    def __init__(
        self, buffer: int = 1000, retention: int = 10_000, clock: Callable[[], float] = time.time
    ) -> None:
        self.buffer = buffer
        self._retained: deque[BusEvent] = deque(maxlen=retention)
        self._subs: set[Subscription] = set()  # every subscription
        self._any: set[Subscription] = set()  # those that look at every event
        # An agent's desktop looks only at events about that agent (`data["agent"]`) and
        # at those every agent gets: with 1,000 desktops a publish asks a few, not all.
        self._by_agent: dict[str, set[Subscription]] = {}
        self.to_every_agent = frozenset({"supervisor.broadcast"})
        self._clock = clock
        self.seq = 0
        self.cut_off = 0
        # Which numbering `seq` belongs to: another process (a restart, a takeover by
        # another CTI) counts from 0 again, so a number alone does not say what was missed.
        self.stream = secrets.token_hex(8)

    def publish(self, type_: str, data: dict[str, Any]) -> BusEvent:
        self.seq += 1
        event = BusEvent(self.seq, self._clock(), type_, data)
        self._retained.append(event)
        if type_ in self.to_every_agent:
            candidates = list(self._subs)
        else:
            candidates = list(self._any)
            agent = data.get("agent")
            if isinstance(agent, str) and agent in self._by_agent:
                candidates += self._by_agent[agent]
        for sub in candidates:
            if sub.closed is not None or not sub.wants(event):
                continue
            if sub.now is not None and sub.queue.empty() and self._taken_now(sub, event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                self._forget(sub)
                self.cut_off += 1
                sub.close("slow_consumer")
                log.warning("bus.slow_consumer", buffer=self.buffer, seq=event.seq)
        return event

    def _taken_now(self, sub: Subscription, event: BusEvent) -> bool:
        assert sub.now is not None
        try:
            return sub.now(event)
        except Exception:  # never the publisher's problem: queued, the reader sees it
            log.exception("bus.take_now_failed", seq=event.seq, type=event.type)
            return False

    def subscribe(
        self, wants: Callable[[BusEvent], bool] = lambda e: True, agent: str | None = None
    ) -> Subscription:
        """Events `wants` accepts; with `agent`, only among events about that agent and
        those every agent gets (`to_every_agent`)."""
        sub = Subscription(wants, asyncio.Queue(self.buffer), agent=agent)
        self._subs.add(sub)
        if agent is None:
            self._any.add(sub)
        else:
            self._by_agent.setdefault(agent, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription, reason: str = "closed") -> None:
        self._forget(sub)
        sub.close(reason)

    def _forget(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        self._any.discard(sub)
        if sub.agent is not None:
            mine = self._by_agent.get(sub.agent)
            if mine is not None:
                mine.discard(sub)
                if not mine:
                    del self._by_agent[sub.agent]

    def since(
        self, seq: int, wants: Callable[[BusEvent], bool] = lambda e: True
    ) -> list[BusEvent] | None:
        """Retained events after `seq` (for a resuming client); None if some are gone
        (or `seq` was never given out here: another process's numbering)."""
        if seq > self.seq:
            return None
        if seq == self.seq:
            return []
        oldest = self._retained[0].seq if self._retained else self.seq + 1
        if seq + 1 < oldest:
            return None
        return [e for e in self._retained if e.seq > seq and wants(e)]

    @property
    def subscribers(self) -> int:
        return len(self._subs)
