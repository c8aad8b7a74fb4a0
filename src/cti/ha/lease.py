"""The leader's lease in PostgreSQL, with a fencing epoch.

One row per cluster (`cti_leader`, migration 0015). A CTI takes the row only when it
has expired by the database's clock, raising the epoch; it then renews it every
`renew_s`. It believes itself leader until `valid_until`: the moment it *sent* its last
successful renewal plus `ttl_s` less a margin, on its own clock (CLOCK_BOOTTIME, which
also counts a suspended host's sleep). The database cannot expire the row before that
moment as long as its wall clock and ours run at about the same rate (the margin is
10 % of `ttl_s`; a jump of the database host's clock larger than that, or a failover to
a primary whose clock is ahead, breaks the promise): then two CTIs never both believe
they lead.

A leader that was paused (SIGSTOP, a VM frozen, a stalled host) wakes up with
`valid_until` behind it: `may_act()` is false before any of its timers can route a call,
and its writes carry an epoch a takeover has made stale (`fence`). It then steps down:
the process exits, and its supervisor starts it again as a standby.

Why not a session advisory lock: PostgreSQL keeps a paused process's lock as long as its
TCP connection looks alive (minutes, with default keepalives); a lease by the database's
clock does not wait for that. For the same reason every statement here has a server-side
`lock_timeout` and `statement_timeout` shorter than the client's own timeout, so a
statement that waits is ended by the server instead of left queued behind a lock, and
the outbox's fenced connections end an idle transaction of a frozen process
(`cti.store.service`), which would otherwise hold up a takeover.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from cti.store.errors import Fenced
from cti.store.migrate import migrate

log = structlog.get_logger(__name__)

# The leader trusts its lease this share of ttl_s after sending the renewal: room for
# clocks that do not run at quite the same rate.
TRUST = 0.9
# asyncpg's InternalClientError: e.g. TargetServerAttributeNotMatched, no host of a
# multi-host URL takes writes (a Patroni switchover): the database is away for now.
DB_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


def boottime() -> float:
    """Seconds since boot, counting suspend (monotonic does not: a host that slept
    would wake believing its lease still good)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


# A standby looks first without locking; only an expired row is worth the lock a
# takeover takes (it waits for the writes in flight).
_EXPIRED = "SELECT expires_at < now() FROM cti_leader WHERE cluster = $1"
_ACQUIRE = """
INSERT INTO cti_leader AS l (cluster, epoch, token, holder, url, expires_at)
VALUES ($1, 1, $2, $3, $4, now() + make_interval(secs => $5))
ON CONFLICT (cluster) DO UPDATE SET
    epoch = l.epoch + 1, token = EXCLUDED.token, holder = EXCLUDED.holder,
    url = EXCLUDED.url, acquired_at = now(), renewed_at = now(),
    expires_at = EXCLUDED.expires_at
WHERE l.expires_at < now()
RETURNING epoch
"""
_RENEW = """
UPDATE cti_leader SET renewed_at = now(), expires_at = now() + make_interval(secs => $4)
WHERE cluster = $1 AND epoch = $2 AND token = $3 AND expires_at > now()
RETURNING epoch
"""
_RELEASE = (
    "UPDATE cti_leader SET expires_at = now() WHERE cluster = $1 AND epoch = $2 AND token = $3"
)
_LEADER = """
SELECT epoch, holder, url, expires_at > now() AS live,
       extract(epoch FROM expires_at - now())::float8 AS left_s
FROM cti_leader WHERE cluster = $1
"""
# First statement of every fenced transaction: the row is locked FOR KEY SHARE until the
# commit, so a takeover (which changes the key column `epoch`) waits for it to end while
# renewals (`expires_at` only) do not.
FENCE_SQL = (
    "SELECT 1 FROM cti_leader WHERE cluster = $1 AND epoch = $2 AND token = $3 FOR KEY SHARE"
)


class Deposed(Exception):
    """This process led and no longer does; it has stopped acting and exits."""

    code = "deposed"


@dataclass(frozen=True)
class Leader:
    epoch: int
    holder: str
    url: str
    live: bool
    left_s: float

    def to_dict(self) -> dict[str, object]:
        return {"epoch": self.epoch, "holder": self.holder, "url": self.url, "live": self.live}


async def leader(conn: Any, cluster: str) -> Leader | None:
    """Who holds the lease (live or not); None if nobody ever led."""
    row = await conn.fetchrow(_LEADER, cluster)
    return None if row is None else Leader(**dict(row))


class Lease:
    """Acquires, renews and releases the lease on one dedicated connection."""

    def __init__(
        self,
        dsn: str,
        cluster: str,
        holder: str,
        url: str = "",
        ttl_s: float = 3.0,
        renew_s: float = 1.0,
        clock: Callable[[], float] = boottime,
    ) -> None:
        if renew_s * 2 > ttl_s:
            raise ValueError(f"renew_s ({renew_s:g}) must be at most half of ttl_s ({ttl_s:g})")
        self.dsn, self.cluster, self.holder, self.url = dsn, cluster, holder, url
        self.token = secrets.token_hex(16)  # this process, whatever its node's name
        self.ttl_s, self.renew_s = ttl_s, renew_s
        self.clock = clock
        self.epoch: int | None = None
        self.valid_until = 0.0
        self.lost: str | None = None  # why this process stopped leading
        self.seen: Leader | None = None  # who led at a standby's last look
        self._conn: Any = None
        self._migrated = False

    # --- what the rest of the process asks -----------------------------------------------

    def may_act(self) -> bool:
        """Leading now, by this process's own clock (no database round trip)."""
        return self.epoch is not None and self.lost is None and self.clock() < self.valid_until

    async def fence(self, conn: Any) -> None:
        """In a transaction about to write: lock the lease row, check the epoch."""
        epoch = self.epoch
        if epoch is None or self.lost is not None:
            raise Fenced(f"not the leader ({self.lost or 'never led'})")
        if await conn.fetchval(FENCE_SQL, self.cluster, epoch, self.token) is None:
            raise Fenced(f"epoch {epoch} is no longer the leader's")

    # --- the loop's steps ----------------------------------------------------------------

    async def try_acquire(self) -> bool:
        """One attempt; True if this process leads now (a new epoch)."""
        conn = await self._connection()
        if await conn.fetchval(_EXPIRED, self.cluster, timeout=self.renew_s) is False:
            return False  # live: no lock taken, no write held up
        sent = self.clock()
        epoch = await conn.fetchval(
            _ACQUIRE,
            self.cluster,
            self.token,
            self.holder,
            self.url,
            self.ttl_s,
            timeout=self.renew_s,
        )
        if epoch is None:
            return False
        self.epoch, self.valid_until, self.lost = int(epoch), sent + self.ttl_s * TRUST, None
        log.warning("ha.leading", epoch=self.epoch, holder=self.holder)
        return True

    async def renew(self) -> bool:
        """One renewal; False (and `lost` says why) once this process no longer leads."""
        assert self.epoch is not None, "renew() only while leading"
        sent = self.clock()
        if sent >= self.valid_until:
            return self._step_down(f"the lease ran out before it was renewed (epoch {self.epoch})")
        try:
            conn = await self._connection()
            got = await conn.fetchval(
                _RENEW, self.cluster, self.epoch, self.token, self.ttl_s, timeout=self.renew_s
            )
        except DB_ERRORS as exc:
            if not isinstance(exc, asyncpg.PostgresError):  # the server's errors leave
                await self._disconnect()  # the connection usable
            log.error("ha.renew_failed", error=str(exc) or type(exc).__name__, epoch=self.epoch)
            return self.clock() < self.valid_until or self._step_down(
                f"database unreachable until the lease ran out (epoch {self.epoch})"
            )
        if got is None:
            return self._step_down(f"another CTI took the lease (epoch {self.epoch} is stale)")
        if self.clock() >= sent + self.ttl_s * TRUST:  # the answer came too late to trust
            return self._step_down(f"the renewal took longer than the lease (epoch {self.epoch})")
        self.valid_until = sent + self.ttl_s * TRUST
        return True

    def _step_down(self, why: str) -> bool:
        self.lost = why
        log.error("ha.deposed", reason=why, epoch=self.epoch)
        return False

    async def release(self) -> None:
        """A clean stop hands over at once (best effort): the row expires now."""
        if self.epoch is None or self.lost is not None:
            return
        epoch, self.lost = self.epoch, "released"
        await self._disconnect()  # a renewal cancelled mid-way may have left it busy
        with contextlib.suppress(*DB_ERRORS):
            conn = await self._connection()
            await conn.execute(_RELEASE, self.cluster, epoch, self.token, timeout=self.renew_s)
            log.info("ha.released", epoch=epoch)

    async def who_leads(self) -> Leader | None:
        conn = await self._connection()
        return await leader(conn, self.cluster)

    async def close(self) -> None:
        await self._disconnect()

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self.dsn, timeout=self.renew_s * 2)
            try:
                if not self._migrated:  # the lease's table comes with the migrations
                    await migrate(conn)
                    self._migrated = True
                # The server ends a statement that waits, before the client gives up on it.
                wait_ms = max(1, int(self.renew_s * 500))
                await conn.execute(
                    f"SET lock_timeout = {wait_ms}; SET statement_timeout = {wait_ms * 3 // 2}"
                )
            except BaseException:
                conn.terminate()
                raise
            self._conn = conn
        return self._conn

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    # --- the loops -------------------------------------------------------------------------

    async def wait_to_lead(self, poll_s: float) -> None:
        """Until this process holds the lease (a standby's life)."""
        said = None
        failures = 0
        while True:
            try:
                if await self.try_acquire():
                    return
                current = self.seen = await self.who_leads()
                if current is not None and current.holder != said:
                    said = current.holder
                    log.info("ha.standing_by", leader=current.holder, epoch=current.epoch)
            except (asyncpg.LockNotAvailableError, asyncpg.QueryCanceledError):
                # A write of the old leader in flight holds the row (a frozen one's, until
                # the server ends its idle transaction): look again at the next poll.
                log.info("ha.takeover_waits_for_a_write")
            except DB_ERRORS as exc:
                await self._disconnect()
                self.seen = None
                failures += 1
                if failures == 1 or failures % 120 == 0:  # once, then every 120th try
                    why = str(exc) or type(exc).__name__
                    log.error("ha.database_unreachable", error=why, attempts=failures)
            else:
                if failures:
                    log.info("ha.database_reachable", after_attempts=failures)
                failures = 0
            await asyncio.sleep(poll_s)

    async def keep(self) -> str:
        """Renew until this process stops leading; why it stopped."""
        while True:
            await asyncio.sleep(self.renew_s)
            if not await self.renew():
                return self.lost or "lost"
