"""REST for cases: create, read, update, status moves, history, search with the same
pagination, filtering and sorting as every list (`limit`, `offset`, `sort=-field`).

Who may do what: agents create cases, read them (they help citizens with any of
theirs), and change only the cases they registered; supervisors and admins do
everything; integrators (the responsible organisations' systems) read, search and
move statuses.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cti.api.audit import audit
from cti.api.context import PRINCIPAL, ApiError, Context, Offset, body, need, path_id
from cti.api.reports import centre_zone
from cti.store import cases
from cti.store.models import CaseCreate, CaseStatus, CaseUpdate, Channel
from cti.store.phone import normalise


class StatusMove(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: CaseStatus
    note: Annotated[str, Field(max_length=2000)] = ""


class CaseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str | None = None
    phone: str | None = None
    status: str | None = None
    topic: str | None = None
    organisation: str | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    emergency: bool | None = None
    paid: bool | None = None
    channel: Channel | None = None
    overdue: bool | None = None  # still being worked, past its deadline
    due_within_days: Annotated[int, Field(ge=0, le=366)] | None = None  # not yet overdue
    created_from: AwareDatetime | None = None
    created_to: AwareDatetime | None = None
    sort: str = "-created_at"
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    offset: Offset = 0


def _json(model: BaseModel) -> Any:
    return json.loads(model.model_dump_json())


def routes(ctx: Context) -> list[web.RouteDef]:

    everyone = ("agent", "supervisor", "admin", "integrator")

    async def _own_or_manager(request: web.Request, conn: Any, case_id: int) -> None:
        principal = request[PRINCIPAL]
        if principal.role == "agent":
            case = await cases.get_case(conn, case_id)
            if case.created_by != principal.username:
                raise ApiError(403, "forbidden", "an agent may change only the cases it registered")

    async def create(request: web.Request) -> web.Response:
        principal = need(request, "agent", "supervisor", "admin")
        data: CaseCreate = await body(request, CaseCreate)
        async with ctx.db() as conn:
            case = await cases.create_case(conn, data, principal.username)
        ctx.core.bus.publish("case.created", _json(case))
        return web.json_response(_json(case), status=201)

    async def read(request: web.Request) -> web.Response:
        need(request, *everyone)
        async with ctx.db() as conn:
            case = await cases.get_case(conn, _id(request))
        return web.json_response(_json(case))

    async def update(request: web.Request) -> web.Response:
        principal = need(request, "agent", "supervisor", "admin")
        data: CaseUpdate = await body(request, CaseUpdate)
        async with ctx.db() as conn:
            await _own_or_manager(request, conn, _id(request))
            case = await cases.update_case(conn, _id(request), data, principal.username)
        ctx.core.bus.publish("case.updated", _json(case))
        return web.json_response(_json(case))

    async def move(request: web.Request) -> web.Response:
        principal = need(request, *everyone)
        data: StatusMove = await body(request, StatusMove)
        async with ctx.db() as conn:
            await _own_or_manager(request, conn, _id(request))
            case = await cases.move_case(
                conn, _id(request), data.status, principal.username, data.note
            )
        ctx.core.bus.publish("case.status", _json(case))
        return web.json_response(_json(case))

    async def history(request: web.Request) -> web.Response:
        need(request, *everyone)
        async with ctx.db() as conn:
            await cases.get_case(conn, _id(request))
            events = await cases.case_history(conn, _id(request))
        return web.json_response({"items": [_json(e) for e in events]})

    async def search(request: web.Request) -> web.Response:
        principal = need(request, *everyone)
        query = CaseQuery.model_validate(dict(request.query))
        async with ctx.db() as conn:
            today = dt.datetime.now(ZoneInfo(centre_zone(ctx.core))).date()  # the centre's day
            found, total = await cases.search_cases(conn, **query.model_dump(), today=today)
            if query.phone:  # a citizen's cases found by their number: personal data
                phone = normalise(query.phone)
                await audit(conn, principal.username, "case_search", phone, found=total)
        return web.json_response(
            {
                "items": [_json(c) for c in found],
                "total": total,
                "limit": query.limit,
                "offset": query.offset,
            }
        )

    def _id(request: web.Request) -> int:
        return path_id(request, "case_id", "case_not_found", "case")

    async def topics(request: web.Request) -> web.Response:
        """The classifier for the case form: active topics with the organisation that
        answers them and the days it has (a case's deadline)."""
        need(request, "agent", "supervisor", "admin", "integrator", "organisation")
        async with ctx.db() as conn:
            rows = await conn.fetch(
                "SELECT t.code, t.name, t.parent, t.organisation, o.name AS organisation_name,"
                " t.regulation_days FROM topics t LEFT JOIN organisations o"
                " ON o.code = t.organisation WHERE t.active ORDER BY t.code"
            )
        items = [dict(r) for r in rows]
        return web.json_response(
            {"items": items, "total": len(items), "limit": len(items), "offset": 0}
        )

    return [
        web.get("/api/v1/topics", topics),
        web.post("/api/v1/cases", create),
        web.get("/api/v1/cases", search),
        web.get("/api/v1/cases/{case_id}", read),
        web.patch("/api/v1/cases/{case_id}", update),
        web.post("/api/v1/cases/{case_id}/status", move),
        web.get("/api/v1/cases/{case_id}/history", history),
    ]
