"""The caller's history for the screen-pop, read when the call begins rather than when it
is offered: a citizen spends seconds in the IVR and in line, so by the offer the
history is there and the pop costs no database round trip. The history is the one at
the call's start (a case another agent files meanwhile shows at the next call); a read
that failed (the database away) or was for another number is done again at the offer."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

import structlog

from cti.api.context import DATABASE_FAILURES, Context
from cti.bus import BusEvent
from cti.store.callers import screen_pop
from cti.store.errors import StoreError
from cti.store.phone import try_normalise

log = structlog.get_logger(__name__)
HISTORY = {"caller", "interactions", "open_cases", "results_to_tell"}
KEPT = 2_000  # calls whose history is read ahead (a few minutes of a large center)
WANTED = ("call.InteractionStarted", "call.InteractionEnded")

History = dict[str, Any] | None  # the pop's caller, interactions and open cases
Read = tuple[bool, History]  # (the database answered, what it said)


class HistoryAhead:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._ahead: OrderedDict[str, tuple[str, asyncio.Task[Read]]] = OrderedDict()
        self._sub = ctx.core.bus.subscribe(lambda e: e.type in WANTED)
        self._task: asyncio.Task[None] | None = None
        self.ready_at_offer = 0  # pops whose history had been read before the offer

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="api-history-ahead")

    async def close(self) -> None:
        self.ctx.core.bus.unsubscribe(self._sub)
        if self._task is not None:
            await self._task
        for _, task in self._ahead.values():
            task.cancel()
        self._ahead.clear()

    async def _follow(self) -> None:
        while True:
            event = await self._sub.get()
            if event is not None:
                self._on(event)
            elif self._sub.closed == "closed":
                return  # close()
            else:  # cut off after a burst (a resync): the pops read at the offer meanwhile
                log.warning("api.history_ahead_cut_off", reason=self._sub.closed)
                self._sub = self.ctx.core.bus.subscribe(lambda e: e.type in WANTED)

    def _on(self, event: BusEvent) -> None:
        call = event.data.get("interaction_id", "")
        if event.type == "call.InteractionEnded":
            kept = self._ahead.pop(call, None)
            if kept is not None:
                kept[1].cancel()
            return
        number = _number(event.data.get("caller_num", ""))
        if not number or self.ctx.pool is None or call in self._ahead:
            return
        self._ahead[call] = (number, asyncio.create_task(self._read(number), name="api-history"))
        while len(self._ahead) > KEPT:
            _, (_, oldest) = self._ahead.popitem(last=False)
            oldest.cancel()

    def take_ready(self, call: str, number: str) -> tuple[bool, History]:
        """The history of `number` for `call` if its read ahead has already answered:
        (True, history), taken; else (False, None), left for `take`."""
        kept = self._ahead.get(call)
        if kept is None or kept[0] != number or not kept[1].done() or kept[1].cancelled():
            return False, None
        if kept[1].exception() is not None:
            return False, None
        answered, history = kept[1].result()
        if not answered:
            return False, None
        del self._ahead[call]
        self.ready_at_offer += 1
        return True, history

    async def take(self, call: str, number: str) -> History:
        """The history of `number` for `call`: read ahead if it was (and worked), else now."""
        kept = self._ahead.pop(call, None)
        if kept is not None and kept[0] != number:  # the caller id changed meanwhile
            kept[1].cancel()
        elif kept is not None:
            task = kept[1]
            ready = task.done()
            try:
                answered, history = await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # we are cancelled ourselves, not only the read
                answered, history = False, None
            if answered:
                self.ready_at_offer += ready
                return history
        return (await self._read(number))[1]

    async def _read(self, number: str) -> Read:
        pool = self.ctx.pool
        if pool is None or not number:
            return True, None
        try:
            async with pool.acquire(timeout=2) as conn:
                found = await screen_pop(conn, number)
        except StoreError:
            return True, None  # not a phone number (anonymous): the pop shows the call's
        except DATABASE_FAILURES as exc:
            log.warning("api.screen_pop_without_history", error=str(exc))
            return False, None
        return True, found.model_dump(mode="json", include=HISTORY)


def _number(raw: str) -> str:
    """As stored: +359..., not the trunk's 0888..."""
    return try_normalise(raw) or raw
