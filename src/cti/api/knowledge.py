"""REST for the knowledge base (`/api/v1/knowledge`) and the directory of services
(`/api/v1/directory`), and the suggestions a screen-pop carries.

Who may do what: everyone signed in reads and searches (articles valid now; all of
them, `valid=all`, for supervisors, admins and organisation users, who keep them up to
date); supervisors and admins write; agents and supervisors say whether an article
helped or is outdated; its owner (an organisation user of its organisation, or a
supervisor or admin) reads the outdated reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.api.context import DATABASE_FAILURES, ApiError, Context, Offset, body, need, path_id
from cti.store import directory, knowledge
from cti.store.cases import belongs
from cti.store.directory import EntryIn
from cti.store.knowledge import (
    ArticleIn,
    ArticleUpdate,
    FeedbackIn,
    Kind,
    SuggestionIndex,
    TopicCode,
    suggest,
    suggestion_pool,
)
from cti.store.knowledge_text import LANGUAGES, Language

log = structlog.get_logger(__name__)
READERS = ("agent", "supervisor", "admin", "integrator", "organisation")
KEEPERS = ("supervisor", "admin")
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KnowledgeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, Field(max_length=200)] | None = None
    topic: TopicCode | None = None
    language: Language | None = None
    kind: Kind | None = None
    organisation: Annotated[str, Field(max_length=64)] | None = None
    valid: Literal["now", "all"] = "now"
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Offset = 0


class DirectoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, Field(max_length=200)] | None = None
    topic: TopicCode | None = None
    inactive: bool = False  # closed offices too
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Offset = 0


class EntryUpdate(BaseModel):
    """A change to a directory entry: the fields given (checked as `EntryIn`'s are)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    organisation: Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,64}$")] | None = None
    handles: Annotated[str, Field(max_length=4000)] | None = None
    topics: Annotated[list[TopicCode], Field(max_length=20)] | None = None
    phones: Annotated[list[directory.Phone], Field(max_length=10)] | None = None
    email: Annotated[str, Field(max_length=300)] | None = None
    web: Annotated[str, Field(max_length=500)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    hours: Annotated[str, Field(max_length=500)] | None = None
    language: Language | None = None
    active: bool | None = None


def call_language(variables: Mapping[str, str], ivr_path: list[str]) -> str | None:
    """The language the caller chose: `CTI_LANG`, else the IVR's language step
    (`language:bg` in the path)."""
    chosen = variables.get("CTI_LANG")
    if chosen in LANGUAGES:
        return chosen
    steps = [step.rpartition(":")[2] for step in ivr_path if ":" in step]
    return next((s for s in reversed(steps) if s in LANGUAGES), None)


class Suggestions:
    """What a screen-pop suggests, from memory (the pop waits for no database): the
    articles and scripts valid now or soon, reloaded every `every_s` seconds, at once
    after a change through the API, and every second while the database is away. Each
    pop checks validity against the clock itself, so an expired article is never shown."""

    def __init__(self, ctx: Context, every_s: float = 60.0, clock: Clock = _utc_now) -> None:
        self.ctx, self.every_s, self.clock = ctx, every_s, clock
        self.index = SuggestionIndex()
        self._task: asyncio.Task[None] | None = None
        self._failing = False  # logged once per outage, not every second

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="api-knowledge")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def for_call(self, variables: Mapping[str, str], ivr_path: list[str]) -> dict[str, Any]:
        """Up to three articles and the call script for the call's topic and language."""
        language = call_language(variables, ivr_path)
        return suggest(self.index, variables.get("CTI_TOPIC"), language, self.clock())

    async def reload(self) -> bool:
        """Read the pool again; False (the old one kept) when the database is away."""
        if self.ctx.pool is None:
            return False
        try:
            async with self.ctx.pool.acquire(timeout=2) as conn:
                ahead = dt.timedelta(seconds=2 * self.every_s)
                self.index = SuggestionIndex(await suggestion_pool(conn, self.clock(), ahead))
        except DATABASE_FAILURES as exc:  # the table too, before the first migration
            if not self._failing:
                log.warning("api.knowledge_not_reloaded", error=str(exc))
            self._failing = True
            return False
        self._failing = False
        return True

    async def _follow(self) -> None:
        while True:
            pause = self.every_s if await self.reload() else 1.0
            await asyncio.sleep(pause)


def _json(model: BaseModel) -> Any:
    return json.loads(model.model_dump_json())


def _page(items: list[Any], total: int, query: KnowledgeQuery | DirectoryQuery) -> web.Response:
    return web.json_response(
        {
            "items": [_json(i) for i in items],
            "total": total,
            "limit": query.limit,
            "offset": query.offset,
        }
    )


def routes(ctx: Context, suggestions: Suggestions) -> list[web.RouteDef]:
    changed: Callable[[], Awaitable[bool]] = suggestions.reload

    def _article_id(request: web.Request) -> int:
        return path_id(request, "article_id", "article_not_found", "article")

    def _entry_id(request: web.Request) -> int:
        return path_id(request, "entry_id", "entry_not_found", "directory entry")

    async def search(request: web.Request) -> web.Response:
        who = need(request, *READERS)
        query = KnowledgeQuery.model_validate(dict(request.query))
        if query.valid == "all" and who.role not in (*KEEPERS, "organisation"):
            raise ApiError(403, "forbidden", f"{who.role} sees the articles valid now only")
        params = query.model_dump(exclude={"limit", "offset"})
        async with ctx.db() as conn:
            found, total = await knowledge.search_articles(
                conn, suggestions.clock(), **params, limit=query.limit, offset=query.offset
            )
        return _page(found, total, query)

    async def create(request: web.Request) -> web.Response:
        who = need(request, *KEEPERS)
        data = await body(request, ArticleIn)
        async with ctx.db() as conn:
            article = await knowledge.create_article(conn, data, who.username)
        await changed()
        return web.json_response(_json(article), status=201)

    async def read(request: web.Request) -> web.Response:
        need(request, *READERS)
        async with ctx.db() as conn:
            article = await knowledge.get_article(conn, _article_id(request))
        return web.json_response(_json(article))

    async def update(request: web.Request) -> web.Response:
        who = need(request, *KEEPERS)
        data = await body(request, ArticleUpdate)
        async with ctx.db() as conn:
            article = await knowledge.update_article(conn, _article_id(request), data, who.username)
        await changed()
        return web.json_response(_json(article))

    async def feedback(request: web.Request) -> web.Response:
        who = need(request, "agent", "supervisor")
        data = await body(request, FeedbackIn)
        async with ctx.db() as conn:
            article = await knowledge.add_feedback(conn, _article_id(request), who.username, data)
        return web.json_response(
            {"article": article.id, "helpful": article.helpful, "outdated": article.outdated}
        )

    async def feedback_report(request: web.Request) -> web.Response:
        who = need(request, *KEEPERS, "organisation")
        async with ctx.db() as conn:
            report = await knowledge.feedback_report(conn, _article_id(request))
        if who.role == "organisation" and not belongs(report["organisation"], who.organisations):
            raise ApiError(403, "forbidden", "an organisation sees its own articles' reports")
        return web.json_response(report)

    async def entries(request: web.Request) -> web.Response:
        need(request, *READERS)
        query = DirectoryQuery.model_validate(dict(request.query))
        async with ctx.db() as conn:
            found, total = await directory.search_entries(
                conn, query.q, query.topic, query.inactive, query.limit, query.offset
            )
        return _page(found, total, query)

    async def create_entry(request: web.Request) -> web.Response:
        who = need(request, *KEEPERS)
        data = await body(request, EntryIn)
        async with ctx.db() as conn:
            entry = await directory.create_entry(conn, data, who.username)
        return web.json_response(_json(entry), status=201)

    async def read_entry(request: web.Request) -> web.Response:
        need(request, *READERS)
        async with ctx.db() as conn:
            entry = await directory.get_entry(conn, _entry_id(request))
        return web.json_response(_json(entry))

    async def update_entry(request: web.Request) -> web.Response:
        who = need(request, *KEEPERS)
        patch = (await body(request, EntryUpdate)).model_dump(exclude_unset=True)
        async with ctx.db() as conn:
            entry = await directory.update_entry(conn, _entry_id(request), patch, who.username)
        return web.json_response(_json(entry))

    return [
        web.get("/api/v1/knowledge", search),
        web.post("/api/v1/knowledge", create),
        web.get("/api/v1/knowledge/{article_id}", read),
        web.patch("/api/v1/knowledge/{article_id}", update),
        web.post("/api/v1/knowledge/{article_id}/feedback", feedback),
        web.get("/api/v1/knowledge/{article_id}/feedback", feedback_report),
        web.get("/api/v1/directory", entries),
        web.post("/api/v1/directory", create_entry),
        web.get("/api/v1/directory/{entry_id}", read_entry),
        web.patch("/api/v1/directory/{entry_id}", update_entry),
    ]
