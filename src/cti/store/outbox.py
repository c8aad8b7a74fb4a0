"""The outbox: writes from the call path reach PostgreSQL without ever blocking it, and
survive a database outage and a restart of the CTI.

`put()` is synchronous and never waits. Records queue in memory up to
`memory_limit`; beyond that (or while older records are still on disk) they are
appended to `spill.jsonl` in `spill_dir`, one JSON line each, flushed to the OS per
record (a killed process loses nothing that was spilled; a machine crash may lose the
last lines the OS had not written). A writer task sends batches in one transaction
each, memory first (it is older), then the spill file from the offset recorded in
`spill.offset` after every committed batch. Replays are harmless: every record has a
key and every write is an upsert or `ON CONFLICT DO NOTHING`. Records the database
refuses (a constraint, a missing case) go to `rejected.jsonl` with the reason, so one
bad record never stops the others.

A spill folder belongs to one outbox: it holds an exclusive lock on `spill_dir/lock`
while it lives, so a second instance pointed at the same folder stops at start with an
error naming it, instead of replaying the other's records into its own database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from cti.store.errors import Fenced, StoreError

log = structlog.get_logger(__name__)

# The database is away (refused, cut, shutting down, starting up): a reason to retry
# later, never one to give up on a record. Only a database raises these.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # 08xxx, and a connection that no longer exists
    asyncpg.exceptions.AdminShutdownError,  # 57P01
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: starting up, shutting down
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    *DATABASE_DOWN,
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    # e.g. TargetServerAttributeNotMatched: no host of a multi-host URL takes writes yet
    asyncpg.exceptions.InternalClientError,
)
_FENCED_OR_DOWN: tuple[type[BaseException], ...] = (Fenced, *_CONNECTION_ERRORS)


class SpillDirInUse(StoreError):
    """Another outbox (another CTI process, or another one in this process) holds the
    spill folder."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(
            "spill_dir_in_use",
            f"the outbox folder {folder} is in use by another CTI ({holder}); each CTI "
            "needs a folder of its own: set store.spill_dir (CTI_STORE__SPILL_DIR)",
        )


def _lock_folder(folder: Path) -> int:
    """An exclusive `flock` on `folder/lock`, held as long as the returned descriptor is
    open (the kernel drops it when the process dies, however it dies)."""
    path = folder / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        os.close(fd)
        raise SpillDirInUse(folder, f"pid {holder}" if holder else "unknown pid") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Record:
    """One write: `kind` names the apply function, `key` makes replays no-ops."""

    kind: str
    key: str
    data: dict[str, Any]

    def line(self) -> str:
        return json.dumps({"kind": self.kind, "key": self.key, "data": self.data}) + "\n"

    @staticmethod
    def parse(line: str) -> Record:
        raw = json.loads(line)
        return Record(raw["kind"], raw["key"], raw["data"])


Apply = Callable[[Any, Record], Awaitable[None]]


class Outbox:
    def __init__(
        self,
        dsn: str,
        spill_dir: Path,
        apply: Apply,
        memory_limit: int = 10_000,
        batch_size: int = 500,
        retry_max_s: float = 5.0,
        connect_timeout_s: float = 5.0,
        prepare: Callable[[Any], Awaitable[None]] | None = None,
        fence: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        self._dsn = dsn
        self._apply = apply
        self._prepare = prepare  # run on every new connection (migrations)
        # First in every write transaction: raises Fenced once this process no longer
        # leads (cti.ha); the writer then stops and keeps what it holds.
        self._fence = fence
        self.fenced: str | None = None
        self.memory_limit = memory_limit
        self.batch_size = batch_size
        self.retry_max_s = retry_max_s
        self.connect_timeout_s = connect_timeout_s
        spill_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.spill_dir = spill_dir
        self._lock_fd: int | None = None
        self._unlocker: weakref.finalize[..., Outbox] | None = None
        self._lock()
        self.spill_path = spill_dir / "spill.jsonl"
        self.offset_path = spill_dir / "spill.offset"
        self.rejected_path = spill_dir / "rejected.jsonl"
        self._memory: deque[Record] = deque()
        self._spill_file: Any = None
        self._spilling = False
        self._spill_pending = 0  # records in the spill file not yet written
        self._offset = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self.database_up = False
        self.written = 0
        self.spilled = 0
        self.rejected = 0
        self._set_aside: set[tuple[str, str]] = set()  # refused in the batch being written
        self._recover_spill()

    def _lock(self) -> None:
        if self._lock_fd is None:
            self._lock_fd = _lock_folder(self.spill_dir)
            # An outbox dropped without close() still lets go of its folder.
            self._unlocker = weakref.finalize(self, _unlock, self._lock_fd)

    def _unlock(self) -> None:
        if self._unlocker is not None:
            self._unlocker()
        self._lock_fd = self._unlocker = None

    # --- producer side ---------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Records not yet in the database (memory + disk)."""
        return len(self._memory) + self._spill_pending

    def put(self, record: Record) -> None:
        """Queue one write. Never blocks, never raises for a full queue: spills."""
        if self._spilling or len(self._memory) >= self.memory_limit:
            self._spill(record)
        else:
            self._memory.append(record)
        self._idle.clear()
        self._wake.set()

    def _spill(self, record: Record) -> None:
        if self._spill_file is None:
            self._spill_file = open(self.spill_path, "a", encoding="utf-8")  # noqa: SIM115
            with contextlib.suppress(OSError):
                os.chmod(self.spill_path, 0o600)
        if not self._spilling:
            log.warning("outbox.spilling", memory=len(self._memory), file=str(self.spill_path))
        self._spilling = True
        self._spill_file.write(record.line())
        self._spill_file.flush()
        self._spill_pending += 1
        self.spilled += 1

    def _recover_spill(self) -> None:
        """After a restart: what the last run left on disk is replayed first."""
        if not self.spill_path.exists():
            return
        try:
            self._offset = int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            self._offset = 0
        with open(self.spill_path, encoding="utf-8") as f:
            f.seek(self._offset)
            self._spill_pending = sum(1 for line in f if line.strip())
        if self._spill_pending:
            self._spilling = True
            log.warning("outbox.replaying_spill", records=self._spill_pending)
        else:
            self._reset_spill()

    # --- writer side -------------------------------------------------------------------

    async def start(self) -> None:
        self._lock()  # again, after a close()
        self._task = asyncio.create_task(self._run(), name="outbox-writer")

    async def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is in the database (True) or `timeout`."""
        if self.depth == 0:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self.depth == 0

    async def close(self, flush_timeout: float = 5.0) -> None:
        """Try to write what is queued; what is left in memory goes to disk."""
        if self._task is not None:
            if self.fenced is None:
                await self.flush(flush_timeout)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._memory:
            # Keep order: memory is older than the spill file, so rewrite it in front.
            pending = list(self._memory)
            self._memory.clear()
            self._prepend_to_spill(pending)
        if self._spill_file is not None:
            self._spill_file.close()
            self._spill_file = None
        await self._disconnect()
        self._unlock()

    def _prepend_to_spill(self, records: list[Record]) -> None:
        rest = ""
        if self.spill_path.exists():
            with open(self.spill_path, encoding="utf-8") as f:
                f.seek(self._offset)
                rest = f.read()
        if self._spill_file is not None:
            self._spill_file.close()
            self._spill_file = None
        tmp = self.spill_path.with_suffix(".tmp")
        tmp.write_text("".join(r.line() for r in records) + rest, encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.spill_path)
        self._write_offset(0)
        self._spill_pending += len(records)
        log.warning("outbox.saved_to_disk", records=self._spill_pending)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            batch, new_offset = self._next_batch()
            if not batch:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._write(batch)
            except Fenced as exc:
                self.fenced = str(exc)
                log.error("outbox.fenced", error=str(exc), queued=self.depth)
                return
            except _CONNECTION_ERRORS as exc:
                if self.database_up:
                    log.error("outbox.database_down", error=str(exc), queued=self.depth)
                self.database_up = False
                await self._disconnect()
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(self.retry_max_s, delay * 2)
                continue
            if not self.database_up:
                log.info("outbox.database_up", queued=self.depth)
            self.database_up = True
            delay = 0.1
            self._done(batch, new_offset)

    def _next_batch(self) -> tuple[list[Record], int | None]:
        if self._memory:
            n = min(self.batch_size, len(self._memory))
            return [self._memory[i] for i in range(n)], None
        if self._spill_pending:
            if self._spill_file is not None:
                self._spill_file.flush()
            out: list[Record] = []
            with open(self.spill_path, encoding="utf-8") as f:
                f.seek(self._offset)
                while len(out) < self.batch_size:
                    line = f.readline()
                    if not line:
                        break
                    if line.strip():
                        out.append(Record.parse(line))
                return out, f.tell()
        return [], None

    def _done(self, batch: list[Record], new_offset: int | None) -> None:
        self._set_aside.clear()
        self.written += len(batch)
        if new_offset is None:
            for _ in batch:
                self._memory.popleft()
            return
        self._spill_pending -= len(batch)
        self._write_offset(new_offset)
        if self._spill_pending == 0 and not self._memory:
            self._reset_spill()
            log.info("outbox.spill_replayed")

    def _write_offset(self, offset: int) -> None:
        self._offset = offset
        tmp = self.offset_path.with_suffix(".tmp")
        tmp.write_text(str(offset))
        os.replace(tmp, self.offset_path)

    def _reset_spill(self) -> None:
        if self._spill_file is not None:
            self._spill_file.close()
            self._spill_file = None
        self.spill_path.unlink(missing_ok=True)
        self.offset_path.unlink(missing_ok=True)
        self._offset = 0
        self._spilling = False

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self._dsn, timeout=self.connect_timeout_s)
            try:
                if self._prepare is not None:
                    await self._prepare(conn)
            except BaseException:
                conn.terminate()
                raise
            self._conn = conn
        return self._conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _write(self, batch: list[Record]) -> None:
        conn = await self._connection()
        try:
            async with conn.transaction():
                if self._fence is not None:
                    await self._fence(conn)
                for record in batch:
                    await self._apply(conn, record)
            return
        except _FENCED_OR_DOWN:
            raise
        except Exception:
            pass
        for record in batch:
            if (record.kind, record.key) in self._set_aside:
                continue  # refused before the link broke and the batch was sent again
            try:
                async with conn.transaction():
                    if self._fence is not None:
                        await self._fence(conn)
                    await self._apply(conn, record)
            except _FENCED_OR_DOWN:
                raise
            except Exception as exc:
                self._reject(record, exc)

    def _reject(self, record: Record, exc: BaseException) -> None:
        self._set_aside.add((record.kind, record.key))
        self.rejected += 1
        log.error("outbox.record_rejected", kind=record.kind, key=record.key, error=str(exc))
        with open(self.rejected_path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"error": str(exc), "record": json.loads(record.line())}) + "\n")
