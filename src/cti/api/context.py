"""The small public API every feature module builds on: who is asking (`principal`,
`need`), the validated body (`body`), the one error type (`ApiError`, mapped to HTTP
once, in the server's middleware), `Context`: the core and the database; and the
guards every input passes: JSON parsed with a depth limit, no NUL anywhere (PostgreSQL
and Asterisk cannot take it), bounded page offsets, ids from paths, CSV cells a
spreadsheet will not run."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

import asyncpg
import pydantic_core
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from cti.api.auth import Principal
from cti.api.models import ErrorReply
from cti.api.ports import CoreView
from cti.queues.service import AcdService
from cti.store.outbox import DATABASE_DOWN

PRINCIPAL = web.RequestKey("principal", Principal)
TOKEN_HASH = web.RequestKey("token_hash", str)  # the SHA-256 of the request's token
M = TypeVar("M", bound=BaseModel)
# A page offset PostgreSQL's bigint takes with room to spare; nobody pages that far.
Offset = Annotated[int, Field(ge=0, le=1_000_000_000)]
_ID = re.compile(r"^[0-9]{1,18}$")
_BAD_CHARS = re.compile(r"[\x00\ud800-\udfff]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


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
    return model.model_validate(parse_json(await request.read()))


async def read_body(request: web.Request, limit: int, code: str, what: str) -> bytes:
    """The whole body, at most `limit` bytes (413 `code` beyond). The stream's `read(n)`
    gives what has arrived so far, not n bytes: read until its end."""
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ApiError(413, code, f"{what} is at most {limit} bytes")
    return b"".join(parts)


def parse_json(raw: str | bytes) -> Any:
    """JSON from a client: 400 `bad_json` when it is not JSON or nests deeper than 200
    levels (the parser's own limit, in Rust: no recursion in Python); 422 when a string
    holds NUL (`\\u0000`, the only way JSON carries it)."""
    try:
        value = pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise ApiError(400, "bad_json", f"not JSON: {exc}") from None
    has_nul = b"\\u0000" in raw if isinstance(raw, bytes) else "\\u0000" in raw
    if has_nul:  # a cheap test first; the walk only for the rare body that has one
        paths = nul_paths(value)
        if paths:
            fields = [{"path": p or "(body)", "message": "NUL is not allowed"} for p in paths]
            raise ApiError(422, "invalid_request", "the request is not valid", fields)
    return value


def nul_paths(value: Any, path: str = "", limit: int = 10) -> list[str]:
    """Where NUL (or a lone surrogate) hides in parsed JSON: `case.description`, `agents.0`."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack and len(found) < limit:
        where, item = stack.pop()
        if isinstance(item, str):
            if _BAD_CHARS.search(item):
                found.append(where)
        elif isinstance(item, dict):
            for key, sub in item.items():
                at = f"{where}.{key}" if where else str(key)
                if _BAD_CHARS.search(str(key)):
                    found.append(at)
                stack.append((at, sub))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), sub) for i, sub in enumerate(item))
    return found


def check_text(values: Iterable[tuple[str, str]]) -> None:
    """Query parameters and path segments: 422 `invalid_request` naming those with NUL."""
    bad = [name for name, text in values if _BAD_CHARS.search(text) or _BAD_CHARS.search(name)]
    if bad:
        fields = [{"path": name, "message": "NUL is not allowed"} for name in bad[:10]]
        raise ApiError(422, "invalid_request", "the request is not valid", fields)


def path_id(request: web.Request, name: str, code: str, what: str) -> int:
    """A numeric id from the path (ASCII digits, fits a bigint); 404 `code` otherwise."""
    raw = request.match_info[name]
    if not _ID.match(raw):
        raise ApiError(404, code, f"no {what} {raw[:40]!r}")
    return int(raw)


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a string that would start a formula
    (`=`, `+`, `-`, `@`, tab, CR) gets a leading `'` (OWASP's advice)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_response(
    columns: Sequence[str], rows: Iterable[Any], filename: str | None = None
) -> web.Response:
    """Rows (mappings with `columns`) as CSV, every cell through `csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row[c]) for c in columns])
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else None
    return web.Response(text=out.getvalue(), content_type="text/csv", headers=headers)


class Context:
    """What handlers reach besides the request: the running core and the database.

    The pool is this object's resource: opened by `open`, closed by `close`.
    """

    def __init__(
        self, core: CoreView, db_url: str | None, may_act: Callable[[], bool] | None = None
    ) -> None:
        self.core = core
        self.db_url = db_url
        self.pool: Any = None
        self._may_act = may_act  # several CTIs (cti.ha): whether this one still leads

    def check_leading(self) -> None:
        """Refuse (503 not_leader) what a CTI whose lease ran out is asked to do."""
        if self._may_act is not None and not self._may_act():
            raise ApiError(503, "not_leader", "this CTI no longer leads; it is stopping")

    async def open(self) -> None:
        if self.db_url is not None:
            self.pool = await asyncpg.create_pool(self.db_url, min_size=0, max_size=10, timeout=5)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    def db(self) -> Any:
        """`async with ctx.db() as conn:` a pooled connection (503 without a database,
        503 `database_unavailable` while it is away)."""
        if self.pool is None:
            raise ApiError(503, "no_database", "the CTI runs without a database")
        return _pooled(self.pool)

    def acd(self) -> AcdService:
        """The ACD service (503 `no_acd` when the CTI runs without one)."""
        if self.core.acd is None:
            raise ApiError(503, "no_acd", "the CTI runs without an ACD configuration")
        return self.core.acd


ACQUIRE_TIMEOUT_S = 5.0
# Getting a connection: the server refuses, is starting up, or does not answer in time.
_NO_CONNECTION: tuple[type[BaseException], ...] = (*DATABASE_DOWN, OSError, TimeoutError)
# What asyncpg raises on a connection that broke under a request (a 503 only if it did).
_BROKEN: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # "cannot switch to state ...": the link died mid-query
)


# Anything a query can fail with when the database is away or a pooled connection was
# cut under us: for answers that can go on without the database (`/ready`, the screen-pop).
DATABASE_FAILURES: tuple[type[BaseException], ...] = (
    *_NO_CONNECTION,
    *_BROKEN,
    asyncpg.PostgresError,
)


def database_unavailable() -> ApiError:
    """503 `database_unavailable`: the database is away (restarting); worth a retry."""
    return ApiError(503, "database_unavailable", "the database is not reachable; try again shortly")


@contextlib.asynccontextmanager
async def _pooled(pool: Any) -> AsyncIterator[Any]:
    """A pooled connection. The database away (refused, starting up, timed out, cut in
    the middle of a request) is a 503 `database_unavailable`, not a server fault; the
    pool makes new connections by itself once it is back."""
    try:
        conn = await pool.acquire(timeout=ACQUIRE_TIMEOUT_S)
    except _NO_CONNECTION as exc:
        raise database_unavailable() from exc
    try:
        yield conn
    except DATABASE_DOWN as exc:
        raise database_unavailable() from exc
    except _BROKEN as exc:
        if conn.is_closed():  # the link went down under the request
            raise database_unavailable() from exc
        raise
    finally:
        with contextlib.suppress(*_BROKEN):  # the pool drops a broken connection
            await pool.release(conn)
