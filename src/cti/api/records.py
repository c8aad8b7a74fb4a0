"""REST for what was recorded: a caller's history by phone number (the screen-pop's
content, audited); interactions (CDR) searched with the same paging as
every list (a search by caller number is audited), or exported as CSV; recordings'
metadata and audio (every download is written to the access log first, and a file
that no longer matches its checksum is refused)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cti.api.audit import audit
from cti.api.context import ApiError, Context, Offset, body, csv_response, need
from cti.store.callers import screen_pop, update_contact
from cti.store.phone import normalise
from cti.store.recordings import open_recording
from cti.store.records import INTERACTION_COLUMNS

CDR_COLUMNS = ("id", *(c for c in INTERACTION_COLUMNS if c != "ivr_path"))
CDR_SORTABLE = {"arrived_at", "ended_at", "wait_s", "talk_s", "queue", "agent"}


class CdrQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caller: str | None = None
    queue: str | None = None
    agent: str | None = None
    topic: str | None = None
    outcome: str | None = None
    arrived_from: AwareDatetime | None = None
    arrived_to: AwareDatetime | None = None
    sort: str = "-arrived_at"
    limit: Annotated[int, Field(ge=1, le=10_000)] = 50
    offset: Offset = 0
    format: str = "json"


class CallerContact(BaseModel):
    """A caller's name and address as the agent heard them (empty: not known). Longer
    than a person's name (200) or an address (500): 422 naming the field."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(max_length=200)] = ""
    address: Annotated[str, Field(max_length=500)] = ""


def _where(q: CdrQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("caller_number", normalise(q.caller) if q.caller else None),
        ("queue", q.queue),
        ("agent", q.agent),
        ("outcome", q.outcome),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    if q.topic:
        args.append(q.topic)
        clauses.append(f"(topic = ${len(args)} OR topic LIKE ${len(args)} || '.%')")
    if q.arrived_from:
        args.append(q.arrived_from)
        clauses.append(f"arrived_at >= ${len(args)}")
    if q.arrived_to:
        args.append(q.arrived_to)
        clauses.append(f"arrived_at < ${len(args)}")
    return " AND ".join(clauses) or "true", args


def routes(ctx: Context) -> list[web.RouteDef]:

    async def interactions(request: web.Request) -> web.StreamResponse:
        principal = need(request, "agent", "supervisor", "admin", "integrator")
        q = CdrQuery.model_validate(dict(request.query))
        if principal.role == "agent":  # an agent sees its own calls
            q = q.model_copy(update={"agent": principal.agent_id})
        column = q.sort.lstrip("-")
        if column not in CDR_SORTABLE:
            raise ApiError(422, "bad_sort", f"sort by one of {', '.join(sorted(CDR_SORTABLE))}")
        if q.format not in ("json", "csv"):
            raise ApiError(422, "bad_format", "format is json or csv")
        direction = "DESC" if q.sort.startswith("-") else "ASC"
        where, args = _where(q)
        async with ctx.db() as conn:
            if q.caller:  # one citizen's calls: personal data
                caller = normalise(q.caller)
                await audit(conn, principal.username, "interaction_search", caller, format=q.format)
            total = await conn.fetchval(f"SELECT count(*) FROM interactions WHERE {where}", *args)
            rows = await conn.fetch(
                f"SELECT {', '.join(CDR_COLUMNS)} FROM interactions WHERE {where}"
                f" ORDER BY {column} {direction} NULLS LAST, id LIMIT {q.limit} OFFSET {q.offset}",
                *args,
            )
        if q.format == "csv":
            return csv_response(CDR_COLUMNS, rows, "interactions.csv")
        items = [{c: r[c] for c in CDR_COLUMNS} for r in rows]
        return web.json_response(
            {
                "items": json.loads(json.dumps(items, default=str)),
                "total": total,
                "limit": q.limit,
                "offset": q.offset,
            }
        )

    async def recordings(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin", "integrator")
        interaction = request.query.get("interaction")
        if not interaction:
            raise ApiError(422, "interaction_required", "give ?interaction=<id>")
        async with ctx.db() as conn:
            rows = await conn.fetch(
                "SELECT id, interaction_id, leg_id, size_bytes, duration_s, sha256, started_at,"
                " ended_at FROM recordings WHERE interaction_id = $1 ORDER BY started_at",
                interaction,
            )
        items = json.loads(json.dumps([dict(r) for r in rows], default=str))
        return web.json_response(
            {"items": items, "total": len(items), "limit": len(items), "offset": 0}
        )

    async def audio(request: web.Request) -> web.StreamResponse:
        principal = need(request, "supervisor", "admin")
        rid = request.match_info["recording_id"]
        async with ctx.db() as conn:
            rec = await open_recording(conn, rid, principal.username, "download")
            await audit(conn, principal.username, "recording_download", rid)
        return web.FileResponse(
            rec.path,
            headers={
                "Content-Type": "audio/wav",
                "Content-Disposition": f'attachment; filename="{rid}.wav"',
            },
        )

    async def caller(request: web.Request) -> web.Response:
        principal = need(request, "agent", "supervisor", "admin", "integrator")
        number = request.match_info["number"]
        async with ctx.db() as conn:
            pop = await screen_pop(conn, number)
            await audit(conn, principal.username, "caller_lookup", pop.phone)
        return web.json_response(json.loads(pop.model_dump_json()))

    async def contact(request: web.Request) -> web.Response:
        principal = need(request, "agent", "supervisor", "admin")
        data: CallerContact = await body(request, CallerContact)
        async with ctx.db() as conn:
            phone = normalise(request.match_info["number"])
            found = await update_contact(conn, phone, data.name or None, data.address or None)
            await audit(conn, principal.username, "caller_update", phone)
        return web.json_response(json.loads(found.model_dump_json()))

    return [
        web.get("/api/v1/callers/{number}", caller),
        web.put("/api/v1/callers/{number}/contact", contact),
        web.get("/api/v1/interactions", interactions),
        web.get("/api/v1/recordings", recordings),
        web.get("/api/v1/recordings/{recording_id}/audio", audio),
    ]
