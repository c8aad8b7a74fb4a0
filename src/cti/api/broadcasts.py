"""The supervisors' current broadcasts for those without a desktop websocket (the
organisations' journal): the messages to everyone (`supervisor.broadcast` without a
list of agents) of the last `KEEP_S`, kept in memory from the bus, and
`GET /api/v1/broadcasts` for any signed-in user."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from cti.api.context import need
from cti.bus import BusEvent, EventBus

TYPE = "supervisor.broadcast"
KEEP = 20  # the newest messages kept
KEEP_S = 12 * 3600.0  # a message older than a shift is no longer current
ROLES = ("agent", "supervisor", "admin", "organisation")


def _to_everyone(event: BusEvent) -> bool:
    return event.type == TYPE and not event.data.get("agents")


class Broadcasts:
    """Owns one bus subscription (a task reading it), started and closed by the server."""

    def __init__(self, bus: EventBus, clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self._clock = clock
        self.recent: deque[dict[str, Any]] = deque(maxlen=KEEP)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-broadcasts")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:  # cut off as a slow consumer (never, at a few a day): subscribe again
            sub = self.bus.subscribe(_to_everyone)
            try:
                while (event := await sub.get()) is not None:
                    self.recent.append(
                        {"text": event.data["text"], "by": event.data["by"], "at": event.at}
                    )
            finally:
                self.bus.unsubscribe(sub)

    def current(self) -> list[dict[str, Any]]:
        """The messages of the last `KEEP_S`, newest first."""
        since = self._clock() - KEEP_S
        return [b for b in reversed(self.recent) if b["at"] >= since]

    def routes(self) -> list[web.RouteDef]:
        async def listed(request: web.Request) -> web.Response:
            need(request, *ROLES)
            items = self.current()
            return web.json_response({"items": items, "total": len(items)})

        return [web.get("/api/v1/broadcasts", listed)]
