"""Recordings: the file is verified (size, duration from the WAV header, SHA-256)
before its metadata is stored; every listen or download is written to the access log.

A recording cut by a crash of Asterisk keeps its audio but not its sizes: the RIFF and
`data` sizes are written when the file is closed, so they are still 0. It is never
refused: the two sizes are set from the file's length (every other byte kept), and the
row says so (`repair`). Asterisk writes those sizes only when MixMonitor closes the
file, which may come just after the hang-up we heard: a file with the sizes still 0 is
repaired only once it has stopped changing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from cti.store.errors import StoreError

# What was done to a cut file: its sizes set from its length, or (the file could not be
# written) left wrong and stored as it is, its duration taken from its length.
Repair = Literal["sizes_fixed", "sizes_wrong"]
SETTLE_S = 2.0  # a cut-looking file changed this recently may still be being written
SETTLE_MAX_S = 10.0
_RIFF = struct.Struct("<4sI4s")
_CHUNK = struct.Struct("<4sI")
_FMT = struct.Struct("<HHIIHH")  # format tag, channels, rate, bytes/s, block align, bits
_PCM = (1, 3, 0xFFFE)  # PCM, float, extensible: duration from whole frames


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
    repair: Repair | None = None


class _NotWav(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where a WAV file's sizes are and what they should say."""

    duration_s: float
    data_at: int  # offset of the data chunk's size field
    cut: bool  # a size is 0 or runs past the end: the file was not closed
    true_riff: int  # the sizes the file should say
    true_data: int


def _layout(f: Any, size: int) -> _Layout:
    head = f.read(_RIFF.size)
    if len(head) < _RIFF.size:
        raise _NotWav("too short")
    riff, riff_size, wave_id = _RIFF.unpack(head)
    if riff != b"RIFF" or wave_id != b"WAVE":
        raise _NotWav("no RIFF/WAVE header")
    fmt: tuple[int, ...] | None = None
    pos = _RIFF.size
    while pos + _CHUNK.size <= size:
        f.seek(pos)
        name, chunk_size = _CHUNK.unpack(f.read(_CHUNK.size))
        body = pos + _CHUNK.size
        if name == b"fmt ":
            raw = f.read(_FMT.size)
            if len(raw) < _FMT.size:
                raise _NotWav("fmt chunk cut short")
            fmt = _FMT.unpack(raw)
        elif name == b"data":
            if fmt is None:
                raise _NotWav("data before fmt")
            _tag, _channels, rate, per_s, align, _bits = fmt
            available = size - body
            data_cut = chunk_size > available or (chunk_size == 0 and available > 0)
            riff_cut = riff_size == 0 or riff_size > size - 8
            data = available - available % align if align else available
            data = data if data_cut else chunk_size
            if fmt[0] in _PCM and align and rate:
                duration = (data // align) / rate
            else:
                duration = data / per_s if per_s else 0.0
            true_riff = size - 8 if riff_cut else riff_size
            return _Layout(round(duration, 3), pos + 4, data_cut or riff_cut, true_riff, data)
        pos = body + chunk_size + (chunk_size & 1)
    raise _NotWav("no fmt and data chunks")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fix_sizes(path: Path, layout: _Layout) -> bool:
    """Write the two sizes a crash left unwritten; False if the file cannot be written."""
    try:
        with open(path, "r+b") as f:
            f.seek(4)
            f.write(struct.pack("<I", layout.true_riff))
            f.seek(layout.data_at)
            f.write(struct.pack("<I", layout.true_data))
            f.flush()
            os.fsync(f.fileno())
    except OSError:  # not ours to write (a read-only mount, Asterisk's own file)
        return False
    return True


def _read_layout(path: Path) -> tuple[int, _Layout]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        return size, _layout(f, size)


def inspect_file(
    path: Path, repair: bool = False, settle_s: float = SETTLE_S
) -> tuple[int, float, str, Repair | None]:
    """(size in bytes, duration in seconds, sha256, what was repaired) of a WAV file.

    A cut file (sizes 0 or past the end) is always read by its length; with `repair`,
    once it has not changed for `settle_s`, its two sizes are written (`sizes_fixed`),
    or, if it cannot be written, it is taken as it is (`sizes_wrong`)."""
    try:
        size, layout = _read_layout(path)
        if layout.cut and repair:
            waited = 0.0
            while time.time() - path.stat().st_mtime < settle_s and waited < SETTLE_MAX_S:
                time.sleep(0.2)  # Asterisk may still be writing it: wait for the close
                waited += 0.2
            size, layout = _read_layout(path)
        done: Repair | None = None
        if layout.cut and repair:
            done = "sizes_fixed" if _fix_sizes(path, layout) else "sizes_wrong"
        return size, layout.duration_s, _sha256(path), done
    except FileNotFoundError:
        raise StoreError("recording_missing", f"no recording file {path.name}") from None
    except _NotWav as exc:
        raise StoreError("recording_unreadable", f"{path.name} is not a WAV file: {exc}") from None


_COLUMNS = (
    "id, interaction_id, leg_id, path, size_bytes, duration_s, sha256, started_at, ended_at, repair"
)


def _checksum(path: Path) -> str:
    try:
        return _sha256(path)
    except FileNotFoundError:
        raise StoreError("recording_missing", f"no recording file {path.name}") from None


async def save_recording(
    conn: Any,
    interaction_id: str,
    leg_id: str | None,
    path: Path,
    started_at: dt.datetime,
    ended_at: dt.datetime | None = None,
    settle_s: float = SETTLE_S,
) -> Recording:
    """Verify the file (repairing one cut by a crash) and store (or refresh) its
    metadata; the id is interaction-leg."""
    size, duration, sha, repair = await asyncio.to_thread(inspect_file, path, True, settle_s)
    rid = f"{interaction_id}-{leg_id or 'mix'}"
    row = await conn.fetchrow(
        "INSERT INTO recordings (id, interaction_id, leg_id, path, size_bytes, duration_s,"
        " sha256, started_at, ended_at, repair) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (id) DO UPDATE SET path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes,"
        " duration_s = EXCLUDED.duration_s, sha256 = EXCLUDED.sha256,"
        " ended_at = EXCLUDED.ended_at,"
        " repair = coalesce(EXCLUDED.repair, recordings.repair)"
        f" RETURNING {_COLUMNS}",
        rid,
        interaction_id,
        leg_id,
        str(path),
        size,
        duration,
        sha,
        started_at,
        ended_at,
        repair,
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
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM recordings WHERE id = $1", recording_id)
    if row is None:
        raise StoreError("recording_not_found", f"no recording {recording_id!r}")
    rec = Recording.model_validate(dict(row))
    await conn.execute(
        "INSERT INTO recording_access (recording_id, actor, action) VALUES ($1, $2, $3)",
        recording_id,
        actor,
        action,
    )
    sha = await asyncio.to_thread(_checksum, Path(rec.path))
    if sha != rec.sha256:
        name = Path(rec.path).name  # the server's directories are not the client's business
        raise StoreError("recording_tampered", f"{name} no longer matches its checksum")
    return rec
