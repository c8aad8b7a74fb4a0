"""The store as the running server uses it: migrations, classifier, the outbox that
takes records (call records come from `cti.store.cdr`, wired in `cti.app`), retention."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
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
