"""The store as the running server uses it: migrations, classifier, the outbox that
takes call records, and the CDR builder that produces them."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from cti.ami.events import CallEvent
from cti.queues.events import Event as AcdEvent
from cti.store.cdr import CdrBuilder
from cti.store.classifier import Classifier, sync_classifier
from cti.store.migrate import migrate
from cti.store.outbox import Outbox, Record
from cti.store.records import apply_record
from cti.store.retention import KINDS, purge

log = structlog.get_logger(__name__)


class StoreService:
    """Owns the outbox writer. Nothing here blocks the call path: `put`, `on_call_event`
    and `on_acd_event` only queue."""

    def __init__(
        self,
        url: str,
        spill_dir: Path,
        memory_limit: int = 10_000,
        classifier: Classifier | None = None,
        retention_days: dict[str, int] | None = None,
        purge_every_h: float = 0.0,
    ) -> None:
        self.url = url
        self._classifier = classifier
        self._retention = retention_days or {}
        self._purge_every_s = purge_every_h * 3600
        self._purge_task: asyncio.Task[None] | None = None
        self._prepared = False
        self.outbox = Outbox(
            url, spill_dir, apply_record, memory_limit=memory_limit, prepare=self._prepare
        )
        self.cdr = CdrBuilder(self.outbox.put)

    async def _prepare(self, conn: Any) -> None:
        """On the first connection of this process: migrate, load the classifier."""
        if self._prepared:
            return
        applied = await migrate(conn)
        if applied:
            log.info("store.migrations_applied", migrations=applied)
        if self._classifier is not None:
            result = await sync_classifier(conn, self._classifier)
            log.info("store.classifier_loaded", **result)
        self._prepared = True

    def put(self, record: Record) -> None:
        self.outbox.put(record)

    def on_call_event(self, event: CallEvent) -> None:
        self.cdr.on_call_event(event)

    def on_acd_event(self, event: AcdEvent) -> None:
        self.cdr.on_acd_event(event)

    async def start(self) -> None:
        unknown = set(self._retention) - set(KINDS)
        if unknown:
            raise ValueError(f"store.retention_days: unknown kinds {sorted(unknown)}")
        await self.outbox.start()
        if self._purge_every_s > 0:
            self._purge_task = asyncio.create_task(self._purge_loop(), name="store-purge")

    async def close(self, flush_timeout: float = 5.0) -> None:
        if self._purge_task is not None:
            self._purge_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purge_task
        await self.outbox.close(flush_timeout)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self._purge_every_s)
            try:
                conn = await self.connect()
                try:
                    await purge(conn, self._retention)
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.error("store.purge_failed", error=str(exc))

    async def connect(self) -> Any:
        """A connection for queries (API, reports); the caller closes it."""
        return await asyncpg.connect(self.url, timeout=2)
