"""Who is calling the API: users with roles (agent, supervisor, admin, integrator, and
organisation: a person of a responsible organisation, who sees only its cases),
passwords (scrypt) for people, tokens for sessions and integrators' API keys. Only a
token's SHA-256 is stored; a token is shown once, when it is issued, and is revoked by
deleting its row (logout, or an admin for all of a user's tokens).

Logins hold against guessing and against being used to lock people out: attempts are
limited per (user, address) and per address, reserved before the password is checked
(parallel attempts cannot outrun the limit); scrypt runs in threads, a few at once, off
the event loop; an unknown user costs the same hash as a known one (no user names found
by timing)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Literal

from cti.store.errors import StoreError

Role = Literal["agent", "supervisor", "admin", "integrator", "organisation"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin", "integrator", "organisation")
SESSION_TTL = dt.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    role: Role
    agent_id: str | None
    organisations: tuple[str, ...] = ()  # an organisation user's: the cases it may see


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


# Checked instead when there is no user (or no usable hash): the same work either way.
DUMMY_HASH = (
    "scrypt$tjNSq31rv25qbAeSyak4WQ==$usy6ZX7zxIfC1QPMJ3SRs4rGUngw/McE5PxO8fejCPutaJ6Vg131i6ciu"
    "IU+u3S7DlkjKlzgplXRyCPfgArc0Q=="
)


def check_password(password: str, stored: str) -> bool:
    """True if `password` matches the stored hash; a malformed hash costs a full check
    too and never matches."""
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        scheme = ""
    if scheme != "scrypt":
        check_password(password, DUMMY_HASH)
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return hmac.compare_digest(digest, expected)


class TooBusy(Exception):
    """More password checks are waiting than the server lets queue."""


class Passwords:
    """Password checks off the event loop: scrypt (tens of ms of CPU, the GIL released)
    runs in threads, `threads` at once (default: half the cores, so the event loop keeps
    one); at most `waiting` wait for one (TooBusy beyond). `checked` counts hashes."""

    def __init__(self, threads: int | None = None, waiting: int = 64) -> None:
        threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self._slots = asyncio.Semaphore(threads)
        self.waiting_limit = waiting
        self.waiting = 0
        self.checked = 0

    async def check(self, password: str, stored: str | None) -> bool:
        """Does `password` match `stored`? None (no such user): a dummy check, False."""
        if self.waiting >= self.waiting_limit:
            raise TooBusy("too many logins at once")
        self.waiting += 1
        try:
            async with self._slots:
                self.checked += 1
                ok = await asyncio.to_thread(check_password, password, stored or DUMMY_HASH)
        finally:
            self.waiting -= 1
        return ok and stored is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    conn: Any,
    username: str,
    role: str,
    agent_id: str | None = None,
    password: str | None = None,
    organisations: tuple[str, ...] = (),
    email: str | None = None,
) -> Principal:
    """A new user; an organisation user with the organisations whose cases it works;
    `email`: where deadline alerts are mailed (none: the inbox only)."""
    if role not in ROLES:
        raise StoreError("bad_role", f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "agent" and not agent_id:
        raise StoreError("agent_id_required", "an agent user needs the agent id it acts as")
    if (role == "organisation") != bool(organisations):
        raise StoreError(
            "organisation_required",
            "an organisation user needs one or more organisations, and only it has them",
        )
    if password is not None and len(password) < 10:
        raise StoreError("weak_password", "a password needs at least 10 characters")
    if email is not None and not re.fullmatch(r"[^@\s]{1,64}@[^@\s]{1,253}", email):
        raise StoreError("bad_email", f"not an e-mail address: {email!r}")
    organisations = tuple(sorted(set(organisations)))
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO users (username, role, agent_id, password_hash, email)"
                " VALUES ($1, $2, $3, $4, $5)",
                username,
                role,
                agent_id,
                hash_password(password) if password else None,
                email,
            )
            for code in organisations:
                if not await conn.fetchval("SELECT true FROM organisations WHERE code = $1", code):
                    raise StoreError("unknown_organisation", f"no organisation {code!r}")
                await conn.execute(
                    "INSERT INTO user_organisations (username, organisation) VALUES ($1, $2)",
                    username,
                    code,
                )
    except Exception as exc:
        if type(exc).__name__ == "UniqueViolationError":
            raise StoreError("user_exists", f"user {username!r} exists already") from None
        if type(exc).__name__ == "CheckViolationError":
            raise StoreError("bad_username", f"not a valid user name: {username!r}") from None
        raise
    return Principal(username, role, agent_id, organisations)


async def set_password(conn: Any, username: str, password: str) -> None:
    """Give an existing user a new password (the demo's people get one each run)."""
    if len(password) < 10:
        raise StoreError("weak_password", "a password needs at least 10 characters")
    status = await conn.execute(
        "UPDATE users SET password_hash = $2 WHERE username = $1", username, hash_password(password)
    )
    if status.split()[-1] == "0":
        raise StoreError("unknown_user", f"no user {username!r}")


async def issue_token(
    conn: Any, username: str, kind: Literal["session", "api_key"] = "session"
) -> str:
    token = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + SESSION_TTL if kind == "session" else None
    await conn.execute(
        "INSERT INTO api_tokens (token_hash, username, kind, expires_at) VALUES ($1, $2, $3, $4)",
        token_hash(token),
        username,
        kind,
        expires,
    )
    return token


async def principal_for_token(conn: Any, token: str) -> Principal | None:
    row = await conn.fetchrow(
        f"SELECT u.username, u.role, u.agent_id, {_ORGANISATIONS}"
        " FROM api_tokens t JOIN users u USING (username)"
        " WHERE t.token_hash = $1 AND NOT u.disabled"
        " AND (t.expires_at IS NULL OR t.expires_at > now())",
        token_hash(token),
    )
    return None if row is None else _principal(row)


# An organisation user's organisations, read with the user (one index lookup).
_ORGANISATIONS = (
    "ARRAY(SELECT o.organisation FROM user_organisations o"
    " WHERE o.username = u.username ORDER BY 1) AS organisations"
)


def _principal(row: Any) -> Principal:
    return Principal(row["username"], row["role"], row["agent_id"], tuple(row["organisations"]))


async def login(
    conn: Any, passwords: Passwords, username: str, password: str
) -> tuple[Principal, str] | None:
    """The principal and a new session token, or None; a user who does not exist (or
    is disabled, or has no password) costs the same hash as one who does."""
    row = await conn.fetchrow(
        f"SELECT u.username, u.role, u.agent_id, u.password_hash, {_ORGANISATIONS}"
        " FROM users u WHERE u.username = $1 AND NOT u.disabled",
        username,
    )
    stored = row["password_hash"] if row is not None else None
    if not await passwords.check(password, stored) or row is None:
        return None
    return _principal(row), await issue_token(conn, username)


async def revoke_token(conn: Any, hashed: str) -> int:
    """Forget one token (logout): 1 if it was there."""
    status = await conn.execute("DELETE FROM api_tokens WHERE token_hash = $1", hashed)
    return int(status.split()[-1])


async def revoke_user_tokens(conn: Any, username: str) -> int:
    """Forget every token of a user (sessions and API keys): how many there were."""
    status = await conn.execute("DELETE FROM api_tokens WHERE username = $1", username)
    return int(status.split()[-1])


def network(address: str) -> str:
    """What one client is: its IPv4 address, or its IPv6 /64 (one host's share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt holding its place in the limiter's counts."""

    keys: tuple[str, str]  # (user at address, address)
    at: float


class LoginLimiter:
    """Login attempts per (user, address) (`per_user`) and per address (`per_address`)
    in `window_s`. An attempt is reserved before its password is checked and counts as
    a failure unless it succeeds, so N parallel attempts check at most the limit. A user
    is never locked for everyone: from another address they have their own attempts.
    Memory is bounded: keys are kept in the order of their last attempt, so those with
    none in the window are swept from the front at every reservation; beyond
    `max_keys` the least recently used go first."""

    def __init__(
        self,
        per_user: int = 5,
        per_address: int = 30,
        window_s: float = 300.0,
        max_keys: int = 100_000,
    ) -> None:
        self.per_user, self.per_address, self.window_s = per_user, per_address, window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> int:
        """Attempts of `key` in the window; keys with none are dropped (bounded memory)."""
        q = self._failures.get(key)
        if q is None:
            return 0
        while q and q[0] < now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return len(q)

    def reserve(self, username: str, address: str, now: float | None = None) -> Attempt | None:
        """A place for one attempt, or None: too many from this address (for this user)."""
        now = time.monotonic() if now is None else now
        while self._failures:  # the front key's last attempt is the oldest of all
            first = next(iter(self._failures.values()))
            if first and first[-1] >= now - self.window_s:
                break
            self._failures.popitem(last=False)
        net = network(address)
        keys = (f"u:{username}@{net}", f"a:{net}")
        if self._recent(keys[0], now) >= self.per_user:
            return None
        if self._recent(keys[1], now) >= self.per_address:
            return None
        for key in keys:
            q = self._failures.get(key)
            if q is None:
                self._failures[key] = q = deque()
            else:
                self._failures.move_to_end(key)
            q.append(now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return Attempt(keys, now)

    def release(self, attempt: Attempt) -> None:
        """The attempt proved nothing (e.g. the database was down): it does not count."""
        for key in attempt.keys:
            q = self._failures.get(key)
            if q is not None and attempt.at in q:
                q.remove(attempt.at)
                if not q:
                    del self._failures[key]

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: this user's failures from this address are forgotten."""
        self.release(attempt)
        self._failures.pop(attempt.keys[0], None)

    def failed(self, attempt: Attempt) -> None:
        """A wrong password: the reserved place stays counted for the window."""

    @property
    def keys(self) -> int:
        return len(self._failures)
