"""Who is calling the API: users with roles (agent, supervisor, admin, integrator),
passwords (scrypt) for people, tokens for sessions and integrators' API keys. Only a
token's SHA-256 is stored; a token is shown once, when it is issued."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from cti.store.errors import StoreError

Role = Literal["agent", "supervisor", "admin", "integrator"]
ROLES: tuple[Role, ...] = ("agent", "supervisor", "admin", "integrator")
SESSION_TTL = dt.timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    role: Role
    agent_id: str | None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    conn: Any, username: str, role: str, agent_id: str | None = None, password: str | None = None
) -> Principal:
    if role not in ROLES:
        raise StoreError("bad_role", f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "agent" and not agent_id:
        raise StoreError("agent_id_required", "an agent user needs the agent id it acts as")
    if password is not None and len(password) < 10:
        raise StoreError("weak_password", "a password needs at least 10 characters")
    try:
        await conn.execute(
            "INSERT INTO users (username, role, agent_id, password_hash) VALUES ($1, $2, $3, $4)",
            username,
            role,
            agent_id,
            hash_password(password) if password else None,
        )
    except Exception as exc:
        if type(exc).__name__ == "UniqueViolationError":
            raise StoreError("user_exists", f"user {username!r} exists already") from None
        if type(exc).__name__ == "CheckViolationError":
            raise StoreError("bad_username", f"not a valid user name: {username!r}") from None
        raise
    return Principal(username, role, agent_id)


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
        "SELECT u.username, u.role, u.agent_id FROM api_tokens t JOIN users u USING (username)"
        " WHERE t.token_hash = $1 AND NOT u.disabled"
        " AND (t.expires_at IS NULL OR t.expires_at > now())",
        token_hash(token),
    )
    return None if row is None else Principal(row["username"], row["role"], row["agent_id"])


async def login(conn: Any, username: str, password: str) -> tuple[Principal, str] | None:
    row = await conn.fetchrow(
        "SELECT username, role, agent_id, password_hash FROM users"
        " WHERE username = $1 AND NOT disabled",
        username,
    )
    if (
        row is None
        or not row["password_hash"]
        or not check_password(password, row["password_hash"])
    ):
        return None
    principal = Principal(row["username"], row["role"], row["agent_id"])
    return principal, await issue_token(conn, username)


async def audit(conn: Any, actor: str, action: str, target: str, **detail: Any) -> None:
    import json

    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4)",
        actor,
        action,
        target,
        json.dumps(detail, default=str),
    )


class LoginLimiter:
    """At most `attempts` failed logins per user and per address in `window_s`."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0) -> None:
        self.attempts, self.window_s = attempts, window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> int:
        """Failures of `key` in the window; keys with none are dropped (bounded memory)."""
        q = self._failures.get(key)
        if q is None:
            return 0
        while q and q[0] < now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return len(q)

    def blocked(self, username: str, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return any(self._recent(k, now) >= self.attempts for k in (f"u:{username}", f"a:{address}"))

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in (f"u:{username}", f"a:{address}"):
            self._recent(key, now)
            q = self._failures.setdefault(key, deque(maxlen=self.attempts))
            q.append(now)
