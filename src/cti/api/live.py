"""REST for what is happening now and for the IVR's content: live calls (list, hang up,
click-to-call), announcements (the notices the IVR plays: a prompt is a sound name
Asterisk can take, checked here and again where the IVR plays it), survey results."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cti.ami.errors import AmiError
from cti.ami.live import call_state
from cti.api import control
from cti.api.audit import audit
from cti.api.context import PRINCIPAL, ApiError, Context, body, need, path_id
from cti.api.models import TransferTarget
from cti.ivr.agi import PROMPT_MAX, PROMPT_PATTERN
from cti.store.announcements import AnnouncementIn, add_announcement
from cti.store.phone import normalise


class ClickToCall(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: Annotated[str, Field(min_length=1, max_length=64)]
    number: Annotated[str, Field(min_length=3, max_length=32)]


class AnnouncementCreate(AnnouncementIn):
    """A notice as the API takes it: the prompt is a sound name (letters, digits, `_/-`,
    single dots), the period has time zones (what else would 08:00 mean?)."""

    prompt: (
        Annotated[str, Field(min_length=1, max_length=PROMPT_MAX, pattern=PROMPT_PATTERN)] | None
    ) = None
    valid_from: AwareDatetime
    valid_to: AwareDatetime


def routes(ctx: Context) -> list[web.RouteDef]:

    async def calls(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin", "integrator")
        now = dt.datetime.now(dt.UTC).timestamp()
        acd = ctx.core.acd
        in_acd = {c.id: c for c in acd.acd.calls()} if acd is not None else {}
        items: list[dict[str, Any]] = []
        for it in ctx.core.tracker.interactions.values():
            if it.cti_vars.get("CTI_SPY"):
                continue  # a supervisor's own listen/whisper/barge leg, not a citizen's call
            c = in_acd.get(it.id)
            items.append(
                {
                    "id": it.id,
                    "caller": it.caller_num,
                    "started_s_ago": round(now - it.started_at, 1),
                    "answered": it.answered_at is not None,
                    "channels": len(it.channels),
                    "queue": c.queue if c else it.cti_vars.get("CTI_QUEUE"),
                    # Our ACD's word for calls it routes; Asterisk's channels for the rest.
                    "state": c.state if c else call_state(ctx.core.tracker, it),
                    "agent": c.agent if c else None,
                    # In its queue's line this long (its place), as the ACD counts it.
                    "waited_s": (
                        round(acd.now() - c.entered, 1)
                        if acd is not None and c is not None and c.state == "waiting"
                        else None
                    ),
                }
            )
        items.sort(key=lambda x: -float(x["started_s_ago"]))
        return web.json_response(
            {"items": items, "total": len(items), "limit": len(items), "offset": 0}
        )

    async def hang_up(request: web.Request) -> web.Response:
        principal = need(request, "supervisor", "admin", "integrator")
        call = request.match_info["call_id"]
        it = ctx.core.tracker.interactions.get(call)
        if it is None:
            raise ApiError(404, "call_not_found", f"no live call {call!r}")
        channels = [
            ctx.core.tracker.channels[u].name for u in it.channels if u in ctx.core.tracker.channels
        ]
        for name in channels:
            try:
                await ctx.core.ami.send_action({"Action": "Hangup", "Channel": name})
            except AmiError as exc:  # already gone: fine
                del exc
        async with ctx.db() as conn:
            await audit(conn, principal.username, "call_hangup", call)
        return web.json_response({"call": call, "channels": len(channels)})

    async def click_to_call(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        need(request, "agent", "supervisor", "admin", "integrator")
        data: ClickToCall = await body(request, ClickToCall)
        if principal.role == "agent" and principal.agent_id != data.agent:
            raise ApiError(403, "forbidden", "an agent may place calls only from its own phone")
        acd = ctx.acd()
        profile = acd.acd.profile(data.agent)
        if profile is None:
            raise ApiError(404, "unknown_agent", f"no agent {data.agent!r}")
        number = normalise(data.number)
        call = acd.call_out(data.agent, number)
        async with ctx.db() as conn:
            await audit(conn, principal.username, "call_out", call)
        return web.json_response({"agent": data.agent, "number": number, "call": call}, status=201)

    async def transfer(request: web.Request) -> web.Response:
        principal = need(request, "supervisor", "admin", "integrator")
        call = request.match_info["call_id"]
        target: TransferTarget = await body(request, TransferTarget)
        await control.transfer(ctx.acd(), call, target)
        async with ctx.db() as conn:
            await audit(conn, principal.username, "call_transfer", call)
        return web.json_response({"call": call, **target.model_dump(exclude_none=True)})

    async def announcements(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin", "integrator")
        current = request.query.get("current") == "true"
        async with ctx.db() as conn:
            rows = await conn.fetch(
                "SELECT id, topic, text, prompt, valid_from, valid_to FROM announcements"
                + (" WHERE valid_from <= now() AND valid_to > now()" if current else "")
                + " ORDER BY valid_from DESC, id DESC LIMIT 500"
            )
        items = json.loads(json.dumps([dict(r) for r in rows], default=str))
        return web.json_response({"items": items, "total": len(items), "limit": 500, "offset": 0})

    async def add(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin")
        data: AnnouncementIn = await body(request, AnnouncementCreate)
        async with ctx.db() as conn:
            created = await add_announcement(conn, data)
        return web.json_response(json.loads(created.model_dump_json()), status=201)

    async def remove(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin")
        notice = path_id(request, "announcement_id", "announcement_not_found", "announcement")
        async with ctx.db() as conn:
            status = await conn.execute("DELETE FROM announcements WHERE id = $1", notice)
        if status.endswith(" 0"):
            raise ApiError(404, "announcement_not_found", f"no announcement {notice}")
        return web.json_response({"deleted": notice})

    async def surveys(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin", "integrator")
        async with ctx.db() as conn:
            rows = await conn.fetch(
                "SELECT question, to_char(date_trunc('day', at), 'YYYY-MM-DD') AS day,"
                " count(*) AS answers, round(avg(score)::numeric, 2) AS average,"
                " count(*) FILTER (WHERE score >= 4) AS satisfied"
                " FROM survey_answers GROUP BY 1, 2 ORDER BY 2 DESC, 1 LIMIT 1000"
            )
        items = [{**dict(r), "average": float(r["average"])} for r in rows]
        return web.json_response({"items": items, "total": len(items), "limit": 1000, "offset": 0})

    return [
        web.get("/api/v1/calls", calls),
        web.post("/api/v1/calls", click_to_call),
        web.delete("/api/v1/calls/{call_id}", hang_up),
        web.post("/api/v1/calls/{call_id}/transfer", transfer),
        web.get("/api/v1/announcements", announcements),
        web.post("/api/v1/announcements", add),
        web.delete("/api/v1/announcements/{announcement_id}", remove),
        web.get("/api/v1/surveys", surveys),
    ]
