"""The leader's lease on a real PostgreSQL: one holder per epoch, a paused leader stops
acting by its own clock before anyone else can lead, its writes are refused once a
takeover happened, and a takeover waits for a write in flight."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cti.ha.lease import Lease, leader
from cti.store.errors import Fenced
from cti.store.outbox import Outbox, Record

TTL, RENEW = 1.0, 0.3


class Clock:
    """A monotonic clock the test can push forward (a process that was paused)."""

    def __init__(self) -> None:
        self.skew = 0.0

    def __call__(self) -> float:
        return asyncio.get_running_loop().time() + self.skew


def lease(db_url: str, holder: str, clock: Clock | None = None) -> Lease:
    return Lease(db_url, "test", holder, f"http://{holder}", TTL, RENEW, clock or Clock())


async def wait_to_lead(standby: Lease, limit_s: float = 5.0) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(standby.wait_to_lead(0.05), limit_s)
    return loop.time() - started


async def test_one_leader_and_a_takeover_only_after_the_lease_ran_out(db_url: str) -> None:
    a, b = lease(db_url, "a"), lease(db_url, "b")
    try:
        assert await a.try_acquire()
        assert a.epoch == 1
        assert a.may_act()
        assert not await b.try_acquire()  # a's lease is live
        assert await a.renew()
        # a stops renewing (killed): b leads once the database's clock passes the expiry.
        waited = await wait_to_lead(b)
        assert b.epoch == 2
        assert b.may_act()
        assert TTL * 0.5 < waited < TTL + 1.0
        conn = await asyncpg.connect(db_url)
        try:
            now = await leader(conn, "test")
        finally:
            await conn.close()
        assert now is not None
        assert (now.holder, now.epoch, now.url) == ("b", 2, "http://b")
        # a comes back: its renewal is refused and it says why.
        assert not await a.renew()
        assert not a.may_act()
        assert a.lost is not None
        assert "stale" in a.lost or "ran out" in a.lost
    finally:
        await a.close()
        await b.close()


async def test_a_paused_leader_stops_acting_before_a_standby_can_lead(db_url: str) -> None:
    clock = Clock()
    a, b = lease(db_url, "a", clock), lease(db_url, "b")
    try:
        assert await a.try_acquire()
        clock.skew = TTL  # a was frozen for a whole lease
        assert not a.may_act()  # by its own clock, before any database round trip
        assert not await a.renew()
        assert a.lost is not None
        assert "ran out" in a.lost
        assert await wait_to_lead(b) >= 0.0
    finally:
        await a.close()
        await b.close()


async def test_a_deposed_leaders_writes_are_refused(db_url: str, tmp_path: Path) -> None:
    a, b = lease(db_url, "a"), lease(db_url, "b")
    written: list[str] = []

    async def apply(conn: object, record: Record) -> None:
        written.append(record.key)

    outbox = Outbox(db_url, tmp_path / "spill", apply, fence=a.fence)
    try:
        assert await a.try_acquire()
        await outbox.start()
        outbox.put(Record("note", "1", {}))
        assert await outbox.flush(5.0)
        assert written == ["1"]
        await wait_to_lead(b)  # a no longer renews
        outbox.put(Record("note", "2", {}))
        for _ in range(100):
            if outbox.fenced is not None:
                break
            await asyncio.sleep(0.02)
        assert outbox.fenced is not None
        assert "no longer the leader" in outbox.fenced
        assert written == ["1"]  # the fence refused the batch before "2" was applied
        assert outbox.depth == 1  # kept, not dropped and not marked written
    finally:
        await outbox.close(0.1)
        await a.close()
        await b.close()


async def test_a_takeover_waits_for_the_leaders_write_in_flight(db_url: str) -> None:
    a, b = lease(db_url, "a"), lease(db_url, "b")
    conn = await asyncpg.connect(db_url)
    try:
        assert await a.try_acquire()
        async with conn.transaction():
            await a.fence(conn)  # the row is locked FOR KEY SHARE until this commits
            # The leader's own renewals do not wait for its writes...
            started = asyncio.get_running_loop().time()
            assert await a.renew()
            assert asyncio.get_running_loop().time() - started < RENEW
            await asyncio.sleep(TTL + 0.2)  # ...but here a stops renewing: expired
            # A takeover does: the server refuses it after its lock_timeout, so a
            # standby never queues behind a write (nor piles up waiting backends).
            with pytest.raises(asyncpg.exceptions.LockNotAvailableError):
                await b.try_acquire()
        assert await wait_to_lead(b) < 2.0  # the write committed: b leads
        with pytest.raises(Fenced):
            async with conn.transaction():
                await a.fence(conn)
    finally:
        await conn.close()
        await a.close()
        await b.close()


async def test_a_frozen_writers_open_transaction_does_not_block_a_takeover(
    db_url: str, tmp_path: Path
) -> None:
    """The outbox's fenced connections end an idle transaction after 2 s (server side):
    a leader frozen in the middle of a write holds the lease row's lock no longer."""
    from cti.store.service import StoreService

    a, b = lease(db_url, "a"), lease(db_url, "b")
    store = StoreService(db_url, tmp_path / "spill", fence=a.fence, leading=a.may_act)
    try:
        assert await a.try_acquire()
        conn = await store.outbox._connection()  # as the writer gets it
        tx = conn.transaction()
        await tx.start()
        await a.fence(conn)  # ...and the process freezes here, the transaction open
        waited = await wait_to_lead(b, limit_s=8.0)
        assert waited < 5.0
        assert b.epoch == 2
    finally:
        await store.outbox._disconnect()
        await a.close()
        await b.close()


async def test_a_clean_stop_hands_over_at_once(db_url: str) -> None:
    a, b = lease(db_url, "a"), lease(db_url, "b")
    try:
        assert await a.try_acquire()
        await a.release()
        assert not a.may_act()
        assert await wait_to_lead(b) < TTL / 2
    finally:
        await a.close()
        await b.close()


def test_renewing_must_fit_twice_in_the_lease() -> None:
    with pytest.raises(ValueError, match="renew_s"):
        Lease("postgresql://x/y", "c", "h", ttl_s=1.0, renew_s=0.6)


async def test_a_standby_names_the_leader_and_only_a_leader_says_so(db_url: str) -> None:
    import aiohttp
    from aiohttp import web

    from cti.ha.standby import app

    a = lease(db_url, "a")
    try:
        assert await a.try_acquire()
        seen = await a.who_leads()
        runner = web.AppRunner(app("b", lambda: seen))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/health") as r:
                    assert r.status == 200
                    assert (await r.json())["role"] == "standby"
                for path in ("/ready", "/leader", "/api/v1/agents"):
                    async with http.get(f"http://127.0.0.1:{port}{path}") as r:
                        assert r.status == 503
                        assert r.headers["Retry-After"] == "1"
                        body = await r.json()
                        assert body["code"] == "standby"
                        assert body["leader"] == {
                            "epoch": 1,
                            "holder": "a",
                            "url": "http://a",
                            "live": True,
                        }
                        assert "the leader is a at http://a" in body["message"]
                page = {"Accept": "text/html"}
                async with http.get(f"http://127.0.0.1:{port}/desktop", headers=page) as r:
                    assert r.status == 503
                    assert '<a href="http://a">' in await r.text()
        finally:
            await runner.cleanup()
    finally:
        await a.close()
