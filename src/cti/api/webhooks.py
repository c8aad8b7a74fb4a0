"""Webhooks to integrators: case and interaction events POSTed as JSON, signed with
HMAC-SHA256 of the body (`X-CTI-Signature: sha256=<hex>`), retried with capped
exponential backoff. Each hook has its own bus subscription and worker: a slow or
dead receiver delays only itself, never the call path (if its buffer fills, the bus
cuts it off and the hook resubscribes from the retention window where it can)."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from cti.bus import BusEvent, EventBus
from cti.config import WebhookSettings, mask_url

log = structlog.get_logger(__name__)
TOPICS = ("case.*", "call.InteractionEnded")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(
        self, settings: WebhookSettings, bus: EventBus, leading: Callable[[], bool] | None = None
    ) -> None:
        self.settings = settings
        self.bus = bus
        # Several CTIs (cti.ha): a process whose lease ran out tells integrators nothing.
        self._leading = leading
        self.shown = mask_url(settings.url)  # for logs: no credentials in the URL
        self.delivered = 0
        self.failed = 0
        self.last_seq = 0
        self._task: asyncio.Task[None] | None = None

    def wants(self, event: BusEvent) -> bool:
        return any(fnmatch.fnmatchcase(event.type, p) for p in self.settings.events)

    async def start(self, session: aiohttp.ClientSession) -> None:
        self._task = asyncio.create_task(self._run(session), name=f"webhook {self.shown}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            sub = self.bus.subscribe(self.wants)
            for missed in self.bus.since(self.last_seq, self.wants) or []:
                await self._deliver(session, missed)
            while (event := await sub.get()) is not None:
                if event.seq > self.last_seq:
                    await self._deliver(session, event)
            log.warning("webhook.resubscribing", url=self.shown, why=sub.closed)

    async def _deliver(self, session: aiohttp.ClientSession, event: BusEvent) -> None:
        if self._leading is not None and not self._leading():
            log.warning("webhook.not_leading", url=self.shown, seq=event.seq)
            return
        body = json.dumps(event.to_dict(), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "X-CTI-Event": event.type,
            "X-CTI-Delivery": str(event.seq),
            # seq counts from 0 again in another process (a restart, a takeover): the
            # delivery is identified by both.
            "X-CTI-Stream": self.bus.stream,
            "X-CTI-Signature": sign(self.settings.secret.get_secret_value(), body),
        }
        delay = self.settings.retry_initial_s
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                async with session.post(
                    self.settings.url,
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                ) as reply:
                    if 200 <= reply.status < 300:
                        self.delivered += 1
                        self.last_seq = event.seq
                        return
                    why: Any = f"HTTP {reply.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = exc
            if attempt < self.settings.max_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)
            else:
                error = str(why).replace(self.settings.url, self.shown)
                log.error("webhook.gave_up", url=self.shown, seq=event.seq, error=error)
        self.failed += 1
        self.last_seq = event.seq


class Webhooks:
    def __init__(
        self,
        hooks: list[WebhookSettings],
        bus: EventBus,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self.hooks = [Webhook(h, bus, leading) for h in hooks]
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if not self.hooks:
            return
        self._session = aiohttp.ClientSession()
        for hook in self.hooks:
            await hook.start(self._session)

    async def close(self) -> None:
        for hook in self.hooks:
            await hook.close()
        if self._session is not None:
            await self._session.close()
