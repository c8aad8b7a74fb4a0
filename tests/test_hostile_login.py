"""Logins against guessing and against careless defaults (issue 18): parallel attempts
cannot outrun the limit, scrypt stays off the event loop, an unknown user costs what a
known one does, nobody can lock an agent out from elsewhere, and tokens can be revoked
before their 12 hours are up.

`pytest -s tests/test_hostile_login.py` prints the figures (burst /health p99, medians).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import aiohttp
import asyncpg
import pytest

from api_helpers import World, next_of, world
from cti.api import auth

PASSWORD = "correct horse battery"  # every user of the test world has it


async def _login(
    w: World, username: str, password: str, http: aiohttp.ClientSession | None = None
) -> tuple[int, Any]:
    async with (http or w.http).post(
        w.base + "/api/v1/login", json={"username": username, "password": password}
    ) as r:
        return r.status, await r.json()


async def _health_while(w: World, burst: asyncio.Future[Any]) -> list[float]:
    """/health latencies (s), one request after the other, while `burst` runs."""
    samples = []
    while not burst.done() or len(samples) < 20:
        started = time.perf_counter()
        async with w.http.get(w.base + "/health") as r:
            assert r.status == 200
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)
    return samples


def _p99(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(len(samples) * 0.99) - 1)]


async def test_parallel_wrong_passwords_check_at_most_the_limit_and_health_stays_fast(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        # 150 wrong passwords for one user from one address, all at once.
        burst = asyncio.ensure_future(
            asyncio.gather(*(_login(w, "sue", f"guess {i}") for i in range(150)))
        )
        health = await _health_while(w, burst)
        statuses = [status for status, _ in await burst]
        assert statuses.count(401) <= 5
        assert statuses.count(429) >= 145
        assert w.api.passwords.checked <= 5  # the rest were never hashed
        # Many hashes at once, from 30 addresses (each its own limit): off the loop.
        before = w.api.passwords.checked
        sessions = [
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{i}", 0)))
            for i in range(2, 32)
        ]
        try:
            many = asyncio.ensure_future(
                asyncio.gather(
                    *(
                        _login(w, user, PASSWORD if user == "bob" else "wrong", http)
                        for http in sessions
                        for user in ("bob", "int")
                    )
                )
            )
            health += await _health_while(w, many)
            results = await many
        finally:
            for http in sessions:
                await http.close()
        assert sorted({status for status, _ in results}) == [200, 401]
        assert w.api.passwords.checked - before == 60
        p99 = _p99(health)
        print(f"\nlogin bursts: /health p99 {p99 * 1000:.1f} ms over {len(health)} requests")
        assert p99 < 0.05


async def test_an_unknown_user_costs_as_much_as_a_known_one(db_url: str, tmp_path: Any) -> None:
    """Timed at the login function itself (database lookup + hash), not over HTTP; in
    pairs, one right after the other (in turns, which goes first), so the load of a
    shared machine weighs on both alike."""
    async with world(db_url, tmp_path):
        passwords = auth.Passwords(threads=1)
        conn = await asyncpg.connect(db_url)
        known: list[float] = []
        unknown: list[float] = []
        try:
            for i in range(30):
                pair = [("sue", known), (f"nobody{i}", unknown)]
                for user, into in pair if i % 2 else pair[::-1]:
                    started = time.perf_counter()
                    assert await auth.login(conn, passwords, user, "wrong password") is None
                    into.append(time.perf_counter() - started)
        finally:
            await conn.close()
        a, b = statistics.median(known), statistics.median(unknown)
        paired = statistics.median(k - u for k, u in zip(known, unknown, strict=True))
        print(
            f"\nlogin medians: known user {a * 1000:.1f} ms, unknown user {b * 1000:.1f} ms,"
            f" median of paired differences {paired * 1000:+.1f} ms"
        )
        assert abs(paired) / min(a, b) < 0.10
        assert passwords.checked == 60  # a hash for every attempt, known user or not


async def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        statuses = [(await _login(w, "ann", "wrong"))[0] for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        elsewhere = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=elsewhere) as http:
            status, reply = await _login(w, "ann", PASSWORD, http)
        assert (status, reply["role"]) == (200, "agent")
        # The address that guessed is limited for every user, not only ann.
        for user in ("bob", "sue", "adm", "int") * 7:
            status, reply = await _login(w, user, "wrong")
            if status == 429:
                break
        assert reply["code"] == "too_many_attempts"


async def test_logout_revokes_the_token_and_an_admin_revokes_a_users_tokens(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        status, reply = await _login(w, "sue", PASSWORD)
        w.tokens["fresh"] = reply["token"]
        assert (await w.call("GET", "/api/v1/me", "fresh"))[0] == 200
        assert await w.call("POST", "/api/v1/logout", "fresh") == (
            200,
            {"username": "sue", "revoked": 1},
        )
        status, reply = await w.call("GET", "/api/v1/me", "fresh")
        assert (status, reply["code"]) == (401, "bad_token")
        # An admin revokes every token of ann: REST refuses it, her desktop is closed.
        async with w.ws() as ws:
            await next_of(ws, "hello")
            status, reply = await w.call("DELETE", "/api/v1/users/ann/tokens", "supervisor")
            assert (status, reply["code"]) == (403, "forbidden")
            status, reply = await w.call("DELETE", "/api/v1/users/ann/tokens", "admin")
            assert (status, reply["username"], reply["revoked"]) == (200, "ann", 1)
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert (msg.type, msg.data, msg.extra) == (
                aiohttp.WSMsgType.CLOSE,
                4003,
                "token revoked",
            )
        assert (await w.call("GET", "/api/v1/me", "agent"))[1]["code"] == "bad_token"
        status, reply = await w.call("DELETE", "/api/v1/users/nobody/tokens", "admin")
        assert (status, reply["code"]) == (404, "unknown_user")
        conn = await asyncpg.connect(db_url)
        rows = await conn.fetch("SELECT actor, action, target FROM audit_log")
        await conn.close()
        assert [tuple(r) for r in rows] == [("adm", "tokens_revoked", "ann")]


def test_the_limiter_stays_small_whatever_the_addresses() -> None:
    """One key per (user, address) and per address, swept when idle, capped in number."""
    limiter = auth.LoginLimiter(per_user=5, per_address=30, window_s=300, max_keys=1000)
    for i in range(20_000):
        attempt = limiter.reserve(f"user{i}", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1.0)
        assert attempt is not None
        limiter.failed(attempt)
    assert limiter.keys <= 1000
    # IPv6: one host's /64 is one address.
    for i in range(40):
        attempt = limiter.reserve(f"u{i}", f"2001:db8::{i:x}", now=2.0)
        if attempt is None:
            break
        limiter.failed(attempt)
    assert i == 30
    limiter.reserve("late", "10.9.9.9", now=1000.0)
    assert limiter.keys == 2  # everything older than the window was swept


@pytest.mark.parametrize("threads", [1])
async def test_the_hasher_refuses_rather_than_queueing_without_end(threads: int) -> None:
    passwords = auth.Passwords(threads=threads, waiting=3)
    stored = auth.hash_password("a long enough password")
    checks = [passwords.check("x", stored) for _ in range(5)]
    results = await asyncio.gather(*checks, return_exceptions=True)
    assert sum(isinstance(r, auth.TooBusy) for r in results) == 2
    assert [r for r in results if not isinstance(r, BaseException)] == [False] * 3
