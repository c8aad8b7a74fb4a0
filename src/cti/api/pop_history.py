"""The caller's history for the screen-pop, read when the call begins rather than when it
is offered: a citizen spends seconds in the IVR and in line, so by the offer the
history is there and the pop costs no database round trip. The history is the one at
the call's start (a case another agent files meanwhile shows at the next call)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Any

import structlog

from cti.api.context import DATABASE_FAILURES, Context
from cti.bus import BusEvent
from cti.store.callers import screen_pop
from cti.store.errors import StoreError
from cti.store.phone import try_normalise

log = structlog.get_logger(__name__)
HISTORY = {"caller", "interactions", "open_cases"}
KEPT = 2_000  # calls whose history is read ahead (a few minutes of a large center)

History = dict[str, Any] | None  # the pop's caller, interactions and open cases


class HistoryAhead:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._ahead: OrderedDict[str, asyncio.Task[History]] = OrderedDict()
        self._sub = ctx.core.bus.subscribe(
            lambda e: e.type in ("call.InteractionStarted", "call.InteractionEnded")
        )
        self._task: asyncio.Task[None] | None = None
        self.ready_at_offer = 0  # pops whose history had been read before the offer

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="api-history-ahead")

    async def close(self) -> None:
        self.ctx.core.bus.unsubscribe(self._sub)
        if self._task is not None:
            await self._task
        for task in self._ahead.values():
            task.cancel()
        self._ahead.clear()

    async def _follow(self) -> None:
        while (event := await self._sub.get()) is not None:
            self._on(event)

    def _on(self, event: BusEvent) -> None:
        call = event.data.get("interaction_id", "")
        if event.type == "call.InteractionEnded":
            task = self._ahead.pop(call, None)
            if task is not None:
                task.cancel()
            return
        number = _number(event.data.get("caller_num", ""))
        if not number or self.ctx.pool is None or call in self._ahead:
            return
        self._ahead[call] = asyncio.create_task(self.read(number), name="api-history")
        while len(self._ahead) > KEPT:
            _, oldest = self._ahead.popitem(last=False)
            oldest.cancel()

    async def take(self, call: str, number: str) -> History:
        """The history of `number` for `call`: read ahead if it was, else now."""
        task = self._ahead.pop(call, None)
        if task is not None:
            self.ready_at_offer += task.done()
            with contextlib.suppress(asyncio.CancelledError):
                return await task
        return await self.read(number)

    async def read(self, number: str) -> History:
        pool = self.ctx.pool
        if pool is None or not number:
            return None
        try:
            async with pool.acquire(timeout=2) as conn:
                found = await screen_pop(conn, number)
        except StoreError:
            return None  # not a phone number (anonymous): the pop shows what the call knows
        except DATABASE_FAILURES as exc:
            log.warning("api.screen_pop_without_history", error=str(exc))
            return None
        return found.model_dump(mode="json", include=HISTORY)


def _number(raw: str) -> str:
    """As stored: +359..., not the trunk's 0888..."""
    return try_normalise(raw) or raw
