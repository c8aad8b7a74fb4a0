"""The audit log of who saw or changed what (`audit_log`): caller lookups and searches by
phone number, screen-pops, recording downloads, hang-ups and transfers, token
revocations. `audit` writes a row in the request's own transaction; `AuditTrail` writes
rows off the hot path (the screen-pop must not wait for it), through a bounded queue."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)
_INSERT = "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4)"
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
)
Row = tuple[str, str, str, str]


async def audit(conn: Any, actor: str, action: str, target: str, **detail: Any) -> None:
    await conn.execute(_INSERT, actor, action, target, json.dumps(detail, default=str))


class AuditTrail:
    """Audit rows queued by `record` (never waits) and written in batches by one task.

    The queue holds `limit` rows; when it is full (the database gone for long), a row is
    logged as `audit.dropped` with its content and counted in `dropped`, never waited
    for. While the database cannot be reached a batch is retried with growing pauses; a
    batch it refuses as data is logged and dropped. `close` writes what is left (for at
    most `drain_s`).
    """

    def __init__(
        self,
        pool: Callable[[], Any],  # the asyncpg pool once open; None without a database
        limit: int = 10_000,
        batch: int = 200,
        drain_s: float = 5.0,
    ) -> None:
        self._pool = pool
        self._queue: asyncio.Queue[Row] = asyncio.Queue(limit)
        self.batch, self.drain_s = batch, drain_s
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0

    def record(self, actor: str, action: str, target: str, **detail: Any) -> None:
        row = (actor, action, target, json.dumps(detail, default=str))
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self._drop(row, "queue full")

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-audit")

    async def close(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), self.drain_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        while not self._queue.empty():
            self._drop(self._queue.get_nowait(), "closed before written")

    def _drop(self, row: Row, why: str) -> None:
        self.dropped += 1
        actor, action, target, detail = row
        log.error("audit.dropped", why=why, actor=actor, action=action, target=target,
                  detail=detail)  # fmt: skip

    async def _run(self) -> None:
        while True:
            rows = [await self._queue.get()]
            while len(rows) < self.batch and not self._queue.empty():
                rows.append(self._queue.get_nowait())
            try:
                await self._write(rows)
            finally:
                for _ in rows:
                    self._queue.task_done()

    async def _write(self, rows: list[Row]) -> None:
        pause = 0.5
        while True:
            pool = self._pool()
            if pool is None:
                return
            try:
                async with pool.acquire(timeout=5) as conn:
                    await conn.executemany(_INSERT, rows)
                self.written += len(rows)
                return
            except _UNREACHABLE as exc:
                log.warning("audit.write_failed", rows=len(rows), error=str(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
            except asyncpg.PostgresError as exc:
                for row in rows:
                    self._drop(row, f"refused: {exc}")
                return
