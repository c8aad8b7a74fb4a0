"""The store as the running server uses it: migrations, classifier, the outbox that
takes records (call records come from `cti.store.cdr`, wired in `cti.app`), retention."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import structlog

from cti.store.classifier import Classifier, sync_classifier
from cti.store.migrate import migrate
from cti.store.outbox import Outbox, Record
from cti.store.records import apply_record
from cti.store.retention import KINDS, purge

log = structlog.get_logger(__name__)


def default_spill_dir(embedded_root: Path | None, url: str, data_home: Path) -> Path:
    """Each database its own spill folder, so two CTIs never replay each other's records:
    `outbox/` inside the embedded server's own directory (`embedded_root`), or, for a
    server given by URL, `data_home/outbox/<host>-<port>-<database>-<hash>`."""
    if embedded_root is not None:
        return embedded_root / "outbox"
    parts = urlsplit(url)
    where = f"{parts.hostname or 'local'}-{parts.port or 5432}-{parts.path.lstrip('/') or 'db'}"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", where)[:80]
    # Host, port and database (not the user or password) say which database it is.
    digest = hashlib.sha256(where.encode()).hexdigest()[:8]
    return data_home / "outbox" / f"{name}-{digest}"


def warn_of_shared_spill(folder: Path) -> None:
    """Earlier versions spilled beside the embedded data folder (`<parent>/outbox`), a
    folder CTIs with sibling data folders shared. Records left there are not replayed
    by guess (whose database they belong to is unknown): they are named in the log."""
    spill = folder / "spill.jsonl"
    if spill.is_file() and spill.stat().st_size > 0:
        log.warning(
            "store.old_spill_file_left",
            file=str(spill),
            hint="records an earlier version could not write; replay them by pointing"
            " store.spill_dir at that folder for one run against their database",
        )


class StoreService:
    """Owns the outbox writer. Nothing here blocks the call path: `put` only queues."""

    def __init__(
        self,
        url: str,
        spill_dir: Path,
        memory_limit: int = 10_000,
        classifier: Classifier | None = None,
        retention_days: dict[str, int] | None = None,
        purge_every_h: float = 0.0,
        fence: Callable[[Any], Awaitable[None]] | None = None,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self.url = url
        self._classifier = classifier
        self._retention = retention_days or {}
        self._purge_every_s = purge_every_h * 3600
        self._purge_task: asyncio.Task[None] | None = None
        self._prepared = False
        # Several CTIs (cti.ha): what a process records once its lease has run out (its
        # timers firing after a freeze, decisions it can no longer carry out) is not what
        # happened, and must not be written later either (a spill replayed when it leads
        # again): dropped at the door.
        self._leading = leading
        self._fenced = fence is not None
        self.dropped_not_leading = 0
        self.outbox = Outbox(
            url,
            spill_dir,
            apply_record,
            memory_limit=memory_limit,
            prepare=self._prepare,
            fence=fence,
        )

    async def _prepare(self, conn: Any) -> None:
        """On the first connection of this process: migrate, load the classifier. With
        a fence (cti.ha), on every connection: the server ends a transaction left idle
        (a frozen process's) and a statement that hangs, so the lease row's lock it holds
        never keeps a takeover waiting for long (set after the migrations, which may
        take longer)."""
        if self._prepared:
            await self._limit(conn)
            return
        applied = await migrate(conn)
        if applied:
            log.info("store.migrations_applied", migrations=applied)
        if self._classifier is not None:
            result = await sync_classifier(conn, self._classifier)
            log.info("store.classifier_loaded", **result)
        self._prepared = True
        await self._limit(conn)

    async def _limit(self, conn: Any) -> None:
        if self._fenced:
            await conn.execute(
                "SET idle_in_transaction_session_timeout = '2s'; SET statement_timeout = '10s'"
            )

    def put(self, record: Record) -> None:
        if self._leading is not None and not self._leading():
            self.dropped_not_leading += 1
            if self.dropped_not_leading <= 10:
                log.warning("store.record_dropped_not_leading", kind=record.kind, key=record.key)
            return
        self.outbox.put(record)

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
