"""The small public API every feature module builds on: who is asking (`principal`,
`need`), the validated body (`body`), the one error type (`ApiError`, mapped to HTTP
once, in the server's middleware), and `Context`: the core and the database."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ValidationError

from cti.api.auth import Principal
from cti.api.models import ErrorReply
from cti.api.ports import CoreView
from cti.queues.service import AcdService

PRINCIPAL = web.RequestKey("principal", Principal)
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """A refusal with an HTTP status, a stable machine code and a human message."""

    def __init__(self, status: int, code: str, message: str, fields: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def error_response(status: int, code: str, message: str, fields: Any = None) -> web.Response:
    body = ErrorReply(code=code, message=message, fields=fields).model_dump(exclude_none=True)
    return web.json_response(body, status=status)


def validation_fields(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as `{"path", "message"}` pairs (the body itself: `(body)`)."""
    return [
        {"path": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
        for e in exc.errors()
    ]


def principal(request: web.Request) -> Principal:
    """Who the request's token belongs to (set by the server's auth middleware)."""
    return request[PRINCIPAL]


def need(request: web.Request, *roles: str) -> Principal:
    """The principal, if its role is one of `roles` (403 `forbidden` otherwise)."""
    who = request[PRINCIPAL]
    if who.role not in roles:
        raise ApiError(403, "forbidden", f"{who.role} may not do this")
    return who


async def body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated by `model` (400 `bad_json`, or 422 with field paths)."""
    try:
        raw = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "bad_json", "the body is not JSON") from None
    return model.model_validate(raw)


class Context:
    """What handlers reach besides the request: the running core and the database.

    The pool is this object's resource: opened by `open`, closed by `close`.
    """

    def __init__(self, core: CoreView, db_url: str | None) -> None:
        self.core = core
        self.db_url = db_url
        self.pool: Any = None

    async def open(self) -> None:
        if self.db_url is not None:
            self.pool = await asyncpg.create_pool(self.db_url, min_size=0, max_size=10, timeout=5)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def db(self) -> Any:
        """`async with ctx.db() as conn:` a pooled connection (503 without a database)."""
        if self.pool is None:
            raise ApiError(503, "no_database", "the CTI runs without a database")
        return self.pool.acquire()

    def acd(self) -> AcdService:
        """The ACD service (503 `no_acd` when the CTI runs without one)."""
        if self.core.acd is None:
            raise ApiError(503, "no_acd", "the CTI runs without an ACD configuration")
        return self.core.acd
