"""REST for the responsible organisations' journal (issue 22, docs/organisations.md):
the cases of an organisation user's organisations with the filters of every case list,
one case with its history, and taking it, moving it, resolving it with the result the
citizen is told, internal notes and handing it to another organisation.

Who: organisation users, within their organisations (a case of another organisation is
404 `case_not_found`, as a wrong id: ids do not leak; the store query keeps to them, not
only this edge); supervisors and admins, over every organisation. Every read of the
cases' personal data (the list, a case) is in the audit log; every change is in the
case's history (who, when)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.api.audit import audit
from cti.api.auth import Principal
from cti.api.cases import CaseQuery
from cti.api.context import ApiError, Context, body, need, path_id
from cti.api.reports import centre_zone
from cti.store import cases, journal
from cti.store.cases import Within, belongs
from cti.store.models import MAX_DESCRIPTION, CaseStatus

ROLES = ("organisation", "supervisor", "admin")
Text = Annotated[str, Field(max_length=MAX_DESCRIPTION)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class JournalMove(_In):
    status: CaseStatus
    note: Annotated[str, Field(max_length=2000)] = ""  # internal, in the history
    result: Text | None = None  # what the citizen is told; needed to resolve


class JournalNote(_In):
    note: Annotated[str, Field(min_length=1, max_length=MAX_DESCRIPTION)]


class HandOver(_In):
    organisation: Annotated[str, Field(min_length=1, max_length=64)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


def _json(model: BaseModel) -> Any:
    return json.loads(model.model_dump_json())


def within(who: Principal) -> Within:
    """The organisations whose cases `who` may see; None: all (the hotline's staff)."""
    return who.organisations if who.role == "organisation" else None


def routes(ctx: Context) -> list[web.RouteDef]:

    def _id(request: web.Request) -> int:
        return path_id(request, "case_id", "case_not_found", "case")

    async def search(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        query = CaseQuery.model_validate(dict(request.query))
        today = dt.datetime.now(ZoneInfo(centre_zone(ctx.core))).date()  # the centre's day
        async with ctx.db() as conn, conn.transaction():
            found, total = await cases.search_cases(
                conn, **query.model_dump(), today=today, within=within(who)
            )
            items = await journal.with_callers(conn, found)
            await audit(
                conn,
                who.username,
                "journal_list",
                ",".join(who.organisations) or "*",
                cases=[c.number for c in items],
                total=total,
            )
        return web.json_response(
            {
                "items": [_json(c) for c in items],
                "total": total,
                "limit": query.limit,
                "offset": query.offset,
            }
        )

    async def read(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        async with ctx.db() as conn, conn.transaction():
            case, history = await journal.journal_case(conn, _id(request), within(who))
            await audit(
                conn, who.username, "case_read", case.number, organisation=case.organisation
            )
        return web.json_response({**_json(case), "history": [_json(e) for e in history]})

    async def take(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        async with ctx.db() as conn:
            case = await journal.take_case(conn, _id(request), who.username, within(who))
        ctx.core.bus.publish("case.status", _json(case))
        return web.json_response(_json(case))

    async def move(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        data: JournalMove = await body(request, JournalMove)
        if data.status == "resolved" and not data.result:
            fields = [{"path": "result", "message": "write what the citizen is told"}]
            raise ApiError(422, "invalid_request", "a case is resolved with its result", fields)
        async with ctx.db() as conn:
            case = await cases.move_case(
                conn,
                _id(request),
                data.status,
                who.username,
                data.note,
                within=within(who),
                result=data.result if data.status == "resolved" else None,
            )
        ctx.core.bus.publish("case.status", _json(case))
        return web.json_response(_json(case))

    async def note(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        data: JournalNote = await body(request, JournalNote)
        async with ctx.db() as conn:
            event = await journal.add_note(conn, _id(request), data.note, who.username, within(who))
        return web.json_response(_json(event), status=201)

    async def hand_over(request: web.Request) -> web.Response:
        who = need(request, *ROLES)
        data: HandOver = await body(request, HandOver)
        async with ctx.db() as conn:
            case = await journal.hand_over(
                conn, _id(request), data.organisation, data.reason, who.username, within(who)
            )
        ctx.core.bus.publish("case.updated", _json(case))
        # The organisation that handed it over no longer sees it: only what it may know.
        return web.json_response({"id": case.id, "number": case.number, "status": case.status,
                                  "organisation": case.organisation})  # fmt: skip

    async def organisations(request: web.Request) -> web.Response:
        """Every organisation (to hand a case to), the user's own marked."""
        who = need(request, *ROLES)
        async with ctx.db() as conn:
            rows = await conn.fetch("SELECT code, name FROM organisations ORDER BY code")
        items = [{**dict(r), "mine": belongs(r["code"], who.organisations)} for r in rows]
        return web.json_response(
            {"items": items, "total": len(items), "limit": len(items), "offset": 0}
        )

    return [
        web.get("/api/v1/journal/cases", search),
        web.get("/api/v1/journal/cases/{case_id}", read),
        web.post("/api/v1/journal/cases/{case_id}/take", take),
        web.post("/api/v1/journal/cases/{case_id}/status", move),
        web.post("/api/v1/journal/cases/{case_id}/notes", note),
        web.post("/api/v1/journal/cases/{case_id}/handover", hand_over),
        web.get("/api/v1/journal/organisations", organisations),
    ]
