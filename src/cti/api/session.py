"""Signing in and the signed-in user: `POST /login` (rate-limited per user and
address), `GET /me`, and the language of the user's pages."""

from __future__ import annotations

from aiohttp import web

from cti.api import auth
from cti.api.context import ApiError, Context, body, principal
from cti.api.models import LanguageChange, LoginReply, LoginRequest


def routes(ctx: Context) -> list[web.RouteDef]:
    limiter = auth.LoginLimiter()

    async def login(request: web.Request) -> web.Response:
        data = await body(request, LoginRequest)
        address = request.remote or "?"
        if limiter.blocked(data.username, address):
            raise ApiError(429, "too_many_attempts", "too many failed logins; try again later")
        async with ctx.db() as conn:
            result = await auth.login(conn, data.username, data.password)
        if result is None:
            limiter.failed(data.username, address)
            raise ApiError(401, "bad_credentials", "wrong user name or password")
        who, token = result
        reply = LoginReply(token=token, role=who.role, agent_id=who.agent_id)
        return web.json_response(reply.model_dump())

    async def me(request: web.Request) -> web.Response:
        p = principal(request)
        async with ctx.db() as conn:
            language = await conn.fetchval(
                "SELECT language FROM users WHERE username = $1", p.username
            )
        return web.json_response(
            {"username": p.username, "role": p.role, "agent_id": p.agent_id, "language": language}
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
        web.get("/api/v1/me", me),
        web.put("/api/v1/me/language", set_language),
    ]
