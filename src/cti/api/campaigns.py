"""REST for telephone survey campaigns (issue 21, docs/outbound.md "Survey campaigns"),
for supervisors and admins: create, fill the number list (a CSV checked line by line,
or the citizens of cases or calls by period, topic and organisation), start, pause,
resume, results per question and per topic/organisation, CSV."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cti.api.audit import audit
from cti.api.context import ApiError, Context, body, csv_response, need, path_id, read_body
from cti.campaigns.models import Questionnaire, parse_list
from cti.store import campaign_results, campaigns
from cti.store.errors import StoreError

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
_CONFLICTS = {"bad_campaign_state", "campaign_empty"}
MAX_PERIOD_DAYS = 400
MAX_BAD_SHOWN = 1000  # refused lines listed in a reply; `bad_total` counts them all
_PERIOD = [{"path": "end", "message": "the period"}]


class NewCampaign(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    organisation: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    questionnaire: Questionnaire
    calendar: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    retry_after_s: Annotated[float, Field(ge=0, le=604_800)] = 3600.0
    lines: Annotated[int, Field(ge=1, le=1000)] = 2


class NumbersQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: Literal["cases", "calls"]
    start: AwareDatetime
    end: AwareDatetime
    topic: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    organisation: Annotated[str, Field(min_length=1, max_length=64)] | None = None


@contextlib.asynccontextmanager
async def _conflicts() -> AsyncIterator[None]:
    """A campaign's state that does not allow the request: 409, as for every move."""
    try:
        yield
    except StoreError as exc:
        if exc.code in _CONFLICTS:
            raise ApiError(409, exc.code, exc.message) from None
        raise


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def routes(ctx: Context) -> list[web.RouteDef]:
    def supervisor(request: web.Request) -> str:
        return need(request, "supervisor", "admin").username

    def _id(request: web.Request) -> int:
        return path_id(request, "campaign_id", "campaign_not_found", "campaign")

    async def listed(request: web.Request) -> web.Response:
        supervisor(request)
        async with ctx.db() as conn:
            items = await campaigns.listed(conn)
        return web.json_response({"items": _json(items)})

    async def create(request: web.Request) -> web.Response:
        who = supervisor(request)
        data: NewCampaign = await body(request, NewCampaign)
        ivr = ctx.core.ivr
        calendars = ivr.ivr.definitions.current.calendars if ivr is not None else None
        if data.calendar is not None and calendars is not None and data.calendar not in calendars:
            raise ApiError(422, "unknown_calendar", f"no IVR calendar {data.calendar!r}")
        async with ctx.db() as conn:
            campaign = await campaigns.create(conn, data.model_dump(), who)
            await audit(conn, who, "campaign_create", str(campaign["id"]), name=data.name)
        return web.json_response(_json(campaign), status=201)

    async def one(request: web.Request) -> web.Response:
        supervisor(request)
        async with ctx.db() as conn:
            return web.json_response(_json(await campaigns.get(conn, _id(request))))

    async def upload(request: web.Request) -> web.Response:
        """The body is the CSV (the number in the first column)."""
        who = supervisor(request)
        cid = _id(request)
        raw = await read_body(request, MAX_UPLOAD_BYTES, "list_too_large", "a list")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError(422, "bad_list", "the list is not UTF-8 text") from None
        if "\x00" in text:
            raise ApiError(422, "bad_list", "the list holds NUL")
        # Up to 100,000 lines take most of a second: not on the loop that serves calls.
        numbers, bad, merged = await asyncio.to_thread(parse_list, text)
        async with ctx.db() as conn, _conflicts():
            added, already = await campaigns.add_numbers(conn, cid, numbers)
            await audit(conn, who, "campaign_numbers", str(cid), added=added, bad=len(bad))
        problems = [
            {"line": b.line, "text": b.text, "reason": b.reason, "code": b.code}
            for b in bad[:MAX_BAD_SHOWN]
        ]
        reply = {"added": added, "merged": merged + already, "bad": problems, "bad_total": len(bad)}
        return web.json_response(reply, status=200)

    async def from_query(request: web.Request) -> web.Response:
        who = supervisor(request)
        cid = _id(request)
        data: NumbersQuery = await body(request, NumbersQuery)
        if data.end <= data.start:
            raise ApiError(422, "bad_period", "the end must come after the start", _PERIOD)
        # A period of 400 whole days in the centre's time zone may hold a summer-time
        # change more than back: an hour longer.
        if data.end - data.start > dt.timedelta(days=MAX_PERIOD_DAYS, hours=1):
            raise ApiError(
                422, "period_too_long", f"a period is at most {MAX_PERIOD_DAYS} days", _PERIOD
            )
        async with ctx.db() as conn, _conflicts():
            added, merged = await campaigns.add_from(
                conn, cid, data.source, data.start, data.end, data.topic, data.organisation
            )
            await audit(conn, who, "campaign_numbers", str(cid), added=added, source=data.source)
        return web.json_response({"added": added, "merged": merged, "bad": []})

    def mover(new: str, action: str, old: str | None = None) -> Any:
        async def handler(request: web.Request) -> web.Response:
            who = supervisor(request)
            cid = _id(request)
            async with ctx.db() as conn:
                async with _conflicts():
                    campaign = await campaigns.move(conn, cid, new, old)
                await audit(conn, who, f"campaign_{action}", str(cid))
            ctx.core.bus.publish("campaign.state", {"id": cid, "state": new})
            return web.json_response(_json(campaign))

        return handler

    async def discarded(request: web.Request) -> web.Response:
        who = supervisor(request)
        cid = _id(request)
        async with ctx.db() as conn, conn.transaction():  # gone only with its audit row
            async with _conflicts():
                await campaigns.discard(conn, cid)
            await audit(conn, who, "campaign_discard", str(cid))
        return web.Response(status=204)

    async def results(request: web.Request) -> web.Response:
        supervisor(request)
        async with ctx.db() as conn:
            return web.json_response(_json(await campaign_results.results(conn, _id(request))))

    async def results_csv(request: web.Request) -> web.Response:
        supervisor(request)
        cid = _id(request)
        async with ctx.db() as conn:
            header, rows = await campaign_results.answer_rows(conn, cid)
        return csv_response(
            header, (dict(zip(header, r, strict=True)) for r in rows), f"campaign-{cid}.csv"
        )

    base = "/api/v1/campaigns"
    one_path = base + "/{campaign_id}"
    return [
        web.get(base, listed),
        web.post(base, create),
        web.get(one_path, one),
        web.delete(one_path, discarded),
        web.post(one_path + "/numbers", upload),
        web.post(one_path + "/numbers/query", from_query),
        web.post(one_path + "/start", mover("running", "start", "draft")),
        web.post(one_path + "/pause", mover("paused", "pause")),
        web.post(one_path + "/resume", mover("running", "resume", "paused")),
        web.post(one_path + "/stop", mover("done", "stop")),
        web.get(one_path + "/results", results),
        web.get(one_path + "/results.csv", results_csv),
    ]
