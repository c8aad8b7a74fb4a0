"""Retention: how long each kind of data is kept, and the purge that applies it and
logs what it removed (one transaction per kind; recording files are deleted after
their rows)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# kind -> (table, time column)
KINDS: dict[str, tuple[str, str]] = {
    "recordings": ("recordings", "started_at"),
    "cdr": ("interactions", "arrived_at"),
    "agent_states": ("agent_state_log", "at"),
    "surveys": ("survey_answers", "at"),
    "recording_access": ("recording_access", "at"),
    "callbacks": ("callbacks", "created_at"),
}
DEFAULT_DAYS = {
    "recordings": 365,
    "cdr": 5 * 365,
    "agent_states": 2 * 365,
    "surveys": 5 * 365,
    "recording_access": 5 * 365,
    "callbacks": 365,
}


async def purge(
    conn: Any, days: dict[str, int] | None = None, now: dt.datetime | None = None
) -> dict[str, int]:
    """Delete what is older than its kind's retention; return rows removed per kind."""
    policy = {**DEFAULT_DAYS, **(days or {})}
    unknown = set(policy) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown retention kinds: {sorted(unknown)}")
    now = now or dt.datetime.now(dt.UTC)
    removed: dict[str, int] = {}
    for kind, keep in policy.items():
        table, column = KINDS[kind]
        cutoff = now - dt.timedelta(days=keep)
        async with conn.transaction():
            if kind == "recordings":
                rows = await conn.fetch(
                    f"DELETE FROM {table} WHERE {column} < $1 RETURNING path", cutoff
                )
                count = len(rows)
            else:
                status = await conn.execute(f"DELETE FROM {table} WHERE {column} < $1", cutoff)
                rows, count = [], int(status.split()[-1])
            await conn.execute(
                "INSERT INTO purge_log (kind, older_than, removed) VALUES ($1, $2, $3)",
                kind,
                cutoff,
                count,
            )
        if rows:  # the rows are gone for good: now the files
            await asyncio.to_thread(_delete_files, [row["path"] for row in rows])
        removed[kind] = count
        if count:
            log.info("store.purged", kind=kind, removed=count, older_than=cutoff.isoformat())
    return removed


def _delete_files(paths: list[str]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)
