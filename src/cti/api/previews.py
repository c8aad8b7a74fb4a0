"""Due tasks (results to tell, scheduled callbacks) offered to free agents as previews
(docs/outbound.md).

Every `every_s`, within the calling hours, each due task not already in someone's
preview goes to a ready agent with a desktop open and no preview of her own (the
longest idle first): a `notification.preview` event on her desktop with the task and
`dial_in_s`, the seconds before her desktop dials it. She calls at once, lets the
countdown run out, or skips it (`POST .../skip`: not offered to her again for a while).
A call placed for the task ends its preview; so does a preview nobody acted on within
`lapse_s` (a closed desktop, a call that came first), and the task goes to someone else.
A scheduled callback goes to the agent who promised it until its grace ends, then to
anyone of its queue. An attempt whose call is over with no outcome recorded for
`STALE_S` (a desktop closed mid-call) is released: pending again, or failed when its
attempts are spent (`last_outcome` `unrecorded`).
Inbound first: only a ready agent gets a preview, and the ACD refuses the call itself
while a caller of her queues waits too long.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import structlog

from cti.api.context import Context
from cti.queues.models import AgentState
from cti.store import notifications

log = structlog.get_logger(__name__)
# An attempt whose call is over with no outcome recorded for this long is released.
STALE_S = 1800.0


class Previews:
    def __init__(
        self,
        ctx: Context,
        connected: Callable[[], set[str]],
        open_now: Callable[[], bool],
        dial_in_s: float = 15.0,
        every_s: float = 5.0,
        skip_s: float = 600.0,
        rules: notifications.RetryRules | None = None,
    ) -> None:
        self.ctx = ctx
        self._connected = connected  # agents with a desktop open
        self._open_now = open_now  # the calling hours
        self.dial_in_s, self.every_s, self.skip_s = dial_in_s, every_s, skip_s
        self.lapse_s = dial_in_s + 30.0
        self.open: dict[int, tuple[str, float]] = {}  # task -> (agent, lapses at)
        self._skipped: dict[tuple[int, str], float] = {}  # (task, agent) -> until
        self._task: asyncio.Task[None] | None = None
        self._next_sweep = 0.0
        self.rules = rules or notifications.RetryRules()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-previews")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def ended(self, task: int) -> None:
        """A call was placed for the task (or it is done): its preview is over."""
        self.open.pop(task, None)

    def skip(self, task: int, agent: str) -> None:
        """She passes: someone else gets it; she does not for `skip_s`."""
        if self.open.get(task, ("", 0.0))[0] == agent:
            del self.open[task]
        self._skipped[(task, agent)] = time.monotonic() + self.skip_s

    def _may_take(self, task: dict[str, Any], agent: str, wall: dt.datetime) -> bool:
        """A callback goes to the agent who promised it until its grace ends, then to
        anyone of its queue; a result to anyone; never back to one who skipped it."""
        if (task["id"], agent) in self._skipped:
            return False
        preferred, until = task.get("prefer_agent"), task.get("prefer_until")
        if preferred and until is not None and wall < until:
            return bool(agent == preferred)
        queue = task.get("queue")
        acd = self.ctx.core.acd
        profile = acd.acd.profile(agent) if acd is not None and queue else None
        return profile is None or queue in profile.queues

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.round()
            except Exception as exc:  # a database outage, say: the next round tries again
                log.warning("previews.round_failed", error=str(exc))

    async def round(self) -> int:
        """One pass: previews offered now."""
        now = time.monotonic()
        self.open = {t: (a, until) for t, (a, until) in self.open.items() if until > now}
        self._skipped = {k: until for k, until in self._skipped.items() if until > now}
        acd = self.ctx.core.acd
        if acd is None or self.ctx.pool is None:
            return 0
        if now >= self._next_sweep:  # attempts nobody recorded an outcome for
            self._next_sweep = now + STALE_S / 10
            live = [c.id for c in acd.acd.calls()]
            async with self.ctx.pool.acquire() as conn:
                released = await notifications.release_stale(conn, live, STALE_S, self.rules)
            if released:
                log.warning("previews.unrecorded_attempts_released", tasks=released)
        if not self._open_now():
            return 0
        busy = {agent for agent, _ in self.open.values()}
        online = self._connected()
        candidates = sorted(
            (
                a
                for a in acd.acd.agents()
                if a.state == AgentState.READY
                and a.reachable
                and a.id in online
                and a.id not in busy
            ),
            key=lambda a: a.since,
        )
        if not candidates:
            return 0
        async with self.ctx.pool.acquire() as conn:
            # Enough to get past tasks held for someone else or skipped by these agents.
            wanted = len(candidates) + len(self.open) + len(self._skipped) + 50
            due = await notifications.listed(conn, None, True, wanted)
        if not due:
            return 0  # the outbound policy is asked only when there is something to offer
        now_acd = acd.now()
        # Inbound first: only where the ACD would place the call now.
        free = [a for a in candidates if acd.acd.outbound_refusal(a.id, now_acd) is None]
        offered = 0
        wall = dt.datetime.now(dt.UTC)
        for task in due:
            if task["id"] in self.open:
                continue
            agent = next((a for a in free if self._may_take(task, a.id, wall)), None)
            if agent is None:
                continue
            free.remove(agent)
            self.open[task["id"]] = (agent.id, now + self.lapse_s)
            self.ctx.core.bus.publish("notification.preview", _preview(task, agent.id, self))
            offered += 1
        return offered


def _preview(task: dict[str, Any], agent: str, previews: Previews) -> dict[str, Any]:
    fields = ("id", "kind", "case_number", "topic", "phone", "result", "attempts")
    return {
        "agent": agent,
        "task": {k: task[k] for k in fields},
        "dial_in_s": previews.dial_in_s,
    }
