"""Signing in and out and the signed-in user: `POST /login` (limited per user and
address, see `auth`), `POST /logout` (the token is revoked at once), an admin's
revocation of every token of a user, `GET /me` (with the centre's time zone, in which
the pages show times), and the language of the user's pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from cti.api import auth
from cti.api.audit import audit
from cti.api.context import TOKEN_HASH, ApiError, Context, body, need, principal
from cti.api.models import LanguageChange, LoginReply, LoginRequest
from cti.api.reports import centre_zone

# Tokens were revoked (a user's, or one when the hash is given): close their websockets.
Revoked = Callable[[str, str | None], Awaitable[None]]


def routes(
    ctx: Context, limiter: auth.LoginLimiter, passwords: auth.Passwords, revoked: Revoked
) -> list[web.RouteDef]:

    async def login(request: web.Request) -> web.Response:
        data = await body(request, LoginRequest)
        attempt = limiter.reserve(data.username, request.remote or "?")
        if attempt is None:
            raise ApiError(429, "too_many_attempts", "too many failed logins; try again later")
        try:
            async with ctx.db() as conn:
                result = await auth.login(conn, passwords, data.username, data.password)
        except BaseException:
            limiter.release(attempt)  # nothing was learnt: it does not count
            raise
        if result is None:
            limiter.failed(attempt)
            raise ApiError(401, "bad_credentials", "wrong user name or password")
        limiter.succeeded(attempt)
        who, token = result
        reply = LoginReply(token=token, role=who.role, agent_id=who.agent_id)
        return web.json_response(reply.model_dump())

    async def logout(request: web.Request) -> web.Response:
        p = principal(request)
        hashed = request[TOKEN_HASH]
        async with ctx.db() as conn:
            await auth.revoke_token(conn, hashed)
        await revoked(p.username, hashed)
        return web.json_response({"username": p.username, "revoked": 1})

    async def revoke_user(request: web.Request) -> web.Response:
        admin = need(request, "admin")
        username = request.match_info["username"]
        async with ctx.db() as conn, conn.transaction():
            if not await conn.fetchval("SELECT true FROM users WHERE username = $1", username):
                raise ApiError(404, "unknown_user", f"no user {username[:64]!r}")
            count = await auth.revoke_user_tokens(conn, username)
            await audit(conn, admin.username, "tokens_revoked", username, count=count)
        await revoked(username, None)
        return web.json_response({"username": username, "revoked": count})

    async def me(request: web.Request) -> web.Response:
        p = principal(request)
        async with ctx.db() as conn:
            language = await conn.fetchval(
                "SELECT language FROM users WHERE username = $1", p.username
            )
        return web.json_response(
            {
                "username": p.username,
                "role": p.role,
                "agent_id": p.agent_id,
                "language": language,
                # the times the pages show are the centre's, not the browser's
                "timezone": centre_zone(ctx.core),
            }
        )

    async def set_language(request: web.Request) -> web.Response:
        p = principal(request)
        data = await body(request, LanguageChange)
        async with ctx.db() as conn:
            await conn.execute(
                "UPDATE users SET language = $2 WHERE username = $1", p.username, data.language
            )
        return web.json_response({"username": p.username, "language": data.language})

    return [
        web.post("/api/v1/login", login),
        web.post("/api/v1/logout", logout),
        web.delete("/api/v1/users/{username}/tokens", revoke_user),
        web.get("/api/v1/me", me),
        web.put("/api/v1/me/language", set_language),
    ]
