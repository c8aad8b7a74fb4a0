"""REST for deadlines (issue 22, docs/organisations.md): the cases due soon or overdue
(a list, and counts per organisation and topic) and each user's inbox of deadline
alerts (list, mark read). Supervisors and admins see every organisation; organisation
users only theirs (`within`, kept by the store's queries); reads of the cases' lists
are audited as the journal's are."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.api.audit import audit
from cti.api.context import Context, Offset, need, path_id
from cti.api.journal import within
from cti.api.reports import centre_zone
from cti.store import deadlines
from cti.store.deadlines import Kind

ROLES = ("organisation", "supervisor", "admin")
Days = Annotated[int, Field(ge=0, le=366)]


class DueQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Kind = "overdue"
    days: Days | None = None  # due soon: today..today+days (default: the settings')
    organisation: Annotated[str, Field(max_length=64)] | None = None
    topic: Annotated[str, Field(max_length=128)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Offset = 0


class SummaryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: Days | None = None


class InboxQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: bool = False
    limit: Annotated[int, Field(ge=1, le=200)] = 50


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for JSON: dates and times in ISO 8601, as every other answer has them."""
    iso = (dt.date, dt.datetime)
    return [{k: v.isoformat() if isinstance(v, iso) else v for k, v in r.items()} for r in rows]


def routes(ctx: Context) -> list[web.RouteDef]:
    def today() -> dt.date:
        return dt.datetime.now(ZoneInfo(centre_zone(ctx.core))).date()

    def days(given: int | None) -> int:
        return ctx.core.settings.deadlines.due_soon_days if given is None else given

    async def due(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        q = DueQuery.model_validate(dict(request.query))
        async with ctx.db() as conn, conn.transaction():
            found, total = await deadlines.due_cases(
                conn,
                q.state,
                today(),
                days(q.days),
                organisation=q.organisation,
                topic=q.topic,
                within=within(who),
                limit=q.limit,
                offset=q.offset,
            )
            numbers = [c.number for c in found]
            scope = ",".join(who.organisations) or "*"
            await audit(conn, who.username, "deadline_list", scope, cases=numbers, total=total)
        items = [json.loads(c.model_dump_json()) for c in found]
        return web.json_response(
            {"items": items, "total": total, "limit": q.limit, "offset": q.offset}
        )

    async def summary(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        q = SummaryQuery.model_validate(dict(request.query))
        async with ctx.db() as conn:
            rows = await deadlines.due_summary(conn, today(), days(q.days), within(who))
        return web.json_response(
            {"items": rows, "today": today().isoformat(), "days": days(q.days)}
        )

    async def inbox(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        q = InboxQuery.model_validate(dict(request.query))
        async with ctx.db() as conn:
            items, unread = await deadlines.inbox(
                conn, who.username, within(who), q.unread, q.limit
            )
        return web.json_response({"items": _plain(items), "unread": unread})

    async def read_one(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        entry = path_id(request, "entry_id", "inbox_entry_not_found", "inbox entry")
        async with ctx.db() as conn:
            await deadlines.mark_read(conn, who.username, entry, within(who))
        return web.json_response({"id": entry, "read": True})

    async def read_all(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        async with ctx.db() as conn:
            marked = await deadlines.mark_read(conn, who.username, None, within(who))
        return web.json_response({"marked": marked})

    return [
        web.get("/api/v1/deadlines/cases", due),
        web.get("/api/v1/deadlines/summary", summary),
        web.get("/api/v1/inbox", inbox),
        web.post("/api/v1/inbox/read", read_all),
        web.post("/api/v1/inbox/{entry_id}/read", read_one),
    ]
