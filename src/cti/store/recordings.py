"""Recordings: the file is verified (size, duration from the WAV header, SHA-256)
before its metadata is stored; every listen or download is written to the access log."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import wave
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cti.store.errors import StoreError


class Recording(BaseModel):
    id: str
    interaction_id: str
    leg_id: str | None
    path: str
    size_bytes: int
    duration_s: float
    sha256: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


def inspect_file(path: Path) -> tuple[int, float, str]:
    """(size in bytes, duration in seconds, sha256) of a WAV recording."""
    try:
        size = path.stat().st_size
        with wave.open(str(path)) as wav:
            rate = wav.getframerate()
            duration = wav.getnframes() / rate if rate else 0.0
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise StoreError("recording_missing", f"no recording file at {path}") from None
    except (wave.Error, EOFError) as exc:
        raise StoreError("recording_unreadable", f"{path} is not a WAV file: {exc}") from None
    return size, round(duration, 3), digest.hexdigest()


async def save_recording(
    conn: Any,
    interaction_id: str,
    leg_id: str | None,
    path: Path,
    started_at: dt.datetime,
    ended_at: dt.datetime | None = None,
) -> Recording:
    """Verify the file and store (or refresh) its metadata; the id is interaction-leg."""
    size, duration, sha = await asyncio.to_thread(inspect_file, path)
    rid = f"{interaction_id}-{leg_id or 'mix'}"
    row = await conn.fetchrow(
        "INSERT INTO recordings (id, interaction_id, leg_id, path, size_bytes, duration_s,"
        " sha256, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (id) DO UPDATE SET path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes,"
        " duration_s = EXCLUDED.duration_s, sha256 = EXCLUDED.sha256,"
        " ended_at = EXCLUDED.ended_at"
        " RETURNING id, interaction_id, leg_id, path, size_bytes, duration_s, sha256,"
        " started_at, ended_at",
        rid,
        interaction_id,
        leg_id,
        str(path),
        size,
        duration,
        sha,
        started_at,
        ended_at,
    )
    return Recording.model_validate(dict(row))


async def link_recording(conn: Any, case_id: int, recording_id: str) -> None:
    try:
        await conn.execute(
            "INSERT INTO case_recordings (case_id, recording_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            case_id,
            recording_id,
        )
    except Exception as exc:  # asyncpg.ForeignKeyViolationError, without importing it here
        if type(exc).__name__ == "ForeignKeyViolationError":
            raise StoreError(
                "not_found", f"no case {case_id} or no recording {recording_id!r}"
            ) from None
        raise


async def open_recording(conn: Any, recording_id: str, actor: str, action: str) -> Recording:
    """The recording to listen to or download; the access is logged first, and the file
    must still match its checksum."""
    if action not in ("listen", "download"):
        raise StoreError("bad_action", f"access must be listen or download, got {action!r}")
    row = await conn.fetchrow(
        "SELECT id, interaction_id, leg_id, path, size_bytes, duration_s, sha256, started_at,"
        " ended_at FROM recordings WHERE id = $1",
        recording_id,
    )
    if row is None:
        raise StoreError("recording_not_found", f"no recording {recording_id!r}")
    rec = Recording.model_validate(dict(row))
    await conn.execute(
        "INSERT INTO recording_access (recording_id, actor, action) VALUES ($1, $2, $3)",
        recording_id,
        actor,
        action,
    )
    _, _, sha = await asyncio.to_thread(inspect_file, Path(rec.path))
    if sha != rec.sha256:
        raise StoreError("recording_tampered", f"{rec.path} no longer matches its checksum")
    return rec
