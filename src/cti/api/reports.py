"""REST for the reports: KPIs for a period (totals, or per 15 min, hour, day, month,
queue, topic, agent or hotline number, with names next to codes) as JSON or flat CSV;
agents' time per state and occupancy; the centre's time zone and today's date there.

A period is either two instants (`start`, `end`, with their offsets) or two days
(`first_day`, `last_day`, inclusive) in the report's time zone, which defaults to the
centre's (the settings' `timezone`, else the IVR's, else UTC): a manager in Sofia
asking for "today" after midnight gets today in Sofia, not in UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from cti.api.context import ApiError, Context, csv_response, need
from cti.api.ports import CoreView
from cti.config import TimeZone
from cti.store import deadlines, notifications
from cti.store import reports as store
from cti.store.reports import KpiFilter

KPI_COLUMNS = (
    "key",
    "offered",
    "answered",
    "abandoned",
    "service_level",
    "asa_s",
    "aht_s",
    "abandon_rate",
    "name",
)
OCCUPANCY_COLUMNS = ("agent", "name", *(f"{s}_s" for s in store.STATES), "occupancy")
Group = Literal["15min", "hour", "day", "month", "queue", "topic", "agent", "number", "total"]


class KpiQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: Group = "day"
    start: AwareDatetime | None = None  # with its offset: a naive time means nothing
    end: AwareDatetime | None = None
    first_day: dt.date | None = None  # or whole days in `timezone`
    last_day: dt.date | None = None
    queue: str | None = None
    topic: str | None = None
    number: str | None = None  # a hotline number dialled (the IVR's `numbers`)
    sl_s: Annotated[float, Field(gt=0, le=3600)] = 20.0
    timezone: TimeZone = "UTC"
    format: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _period(self) -> KpiQuery:
        if self.first_day is not None or self.last_day is not None:
            if self.first_day is None or self.last_day is None:
                raise ValueError("give both first_day and last_day")
            if self.start is not None or self.end is not None:
                raise ValueError("give either start and end or first_day and last_day")
            zone = ZoneInfo(self.timezone)
            # As UTC instants: arithmetic on two times of one zone ignores a DST change.
            start = dt.datetime.combine(self.first_day, dt.time(), zone)
            end = dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), zone)
            self.start, self.end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        if self.start is None or self.end is None:
            raise ValueError("give start and end, or first_day and last_day")
        if self.end <= self.start:
            raise PydanticCustomError("bad_period", "the period ends before it starts")
        if self.end - self.start > dt.timedelta(days=400):
            raise ValueError("at most 400 days at once")
        return self

    def filter(self) -> KpiFilter:
        if self.start is None or self.end is None:  # the validator saw to it
            raise ValueError("no period")
        return KpiFilter(
            self.group,
            self.start,
            self.end,
            self.timezone,
            self.sl_s,
            self.queue,
            self.topic,
            self.number,
        )


def centre_zone(core: CoreView) -> str:
    """The centre's time zone: the settings', else the IVR definition's, else UTC."""
    if core.settings.timezone is not None:
        return core.settings.timezone
    if core.ivr is not None:
        return core.ivr.ivr.definitions.current.timezone
    return "UTC"


def _query(ctx: Context, request: web.Request) -> KpiQuery:
    params = dict(request.query)
    params.setdefault("timezone", centre_zone(ctx.core))
    try:
        return KpiQuery.model_validate(params)
    except ValidationError as exc:
        # A period that ends before it starts has a code of its own: the page says why.
        if any(e["type"] == "bad_period" for e in exc.errors()):
            raise ApiError(422, "bad_period", "the period ends before it starts") from exc
        raise


def agent_names(ctx: Context) -> dict[str, str]:
    acd = ctx.core.acd
    if acd is None:
        return {}
    return {p.id: p.name for p in acd.acd.profiles() if p.name}


def number_names(core: CoreView) -> dict[str, str]:
    """The hotline numbers' names in the IVR definition running now."""
    if core.ivr is None:
        return {}
    return {n: e.name for n, e in core.ivr.ivr.definitions.current.numbers.items()}


def routes(ctx: Context) -> list[web.RouteDef]:
    async def kpi_route(request: web.Request) -> web.StreamResponse:
        need(request, "supervisor", "admin", "integrator")
        q = _query(ctx, request)
        async with ctx.db() as conn:
            rows = await store.kpis(conn, q.filter())
            names = await store.topic_names(conn) if q.group == "topic" else agent_names(ctx)
        if q.group == "number":
            names = number_names(ctx.core)
        for row in rows:
            named = q.group in ("topic", "agent", "number")
            row["name"] = names.get(row["key"], row["key"]) if named else row["key"]
        if q.format == "csv":
            return csv_response(KPI_COLUMNS, rows, f"kpis-{q.group}.csv")
        return web.json_response({"items": rows, "group": q.group, "timezone": q.timezone})

    async def occupancy_route(request: web.Request) -> web.StreamResponse:
        need(request, "supervisor", "admin")
        q = _query(ctx, request)
        period = q.filter()
        async with ctx.db() as conn:
            rows = await store.occupancy(conn, period.start, period.end)
        if q.format == "csv":
            names = agent_names(ctx)
            flat = [
                {**store.flat_occupancy(r), "name": names.get(r["agent"], r["agent"])} for r in rows
            ]
            return csv_response(OCCUPANCY_COLUMNS, flat, "occupancy.csv")
        return web.json_response({"items": rows})

    async def outbound_route(request: web.Request) -> web.StreamResponse:
        """The calls owed to citizens opened in the period: by kind and where they
        stand (docs/outbound.md)."""
        need(request, "supervisor", "admin")
        q = _query(ctx, request)
        period = q.filter()
        async with ctx.db() as conn:
            rows = await notifications.report(conn, period.start, period.end)
        if q.format == "csv":
            return csv_response(("kind", "status", "tasks", "attempts"), rows, "outbound.csv")
        return web.json_response({"items": rows})

    async def deadlines_route(request: web.Request) -> web.StreamResponse:
        """On-time rates: cases resolved in the period by their deadline, per
        organisation and topic (docs/organisations.md)."""
        need(request, "supervisor", "admin")
        q = _query(ctx, request)
        period = q.filter()
        async with ctx.db() as conn:
            rows = await deadlines.on_time(conn, period.start, period.end, q.timezone)
        if q.format == "csv":
            columns = ("organisation", "topic", "resolved", "on_time", "rate")
            return csv_response(columns, rows, "deadlines.csv")
        return web.json_response({"items": rows, "timezone": q.timezone})

    async def settings_route(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin", "integrator")
        zone = centre_zone(ctx.core)
        today = dt.datetime.now(ZoneInfo(zone)).date()
        return web.json_response({"timezone": zone, "today": today.isoformat()})

    return [
        web.get("/api/v1/reports/kpis", kpi_route),
        web.get("/api/v1/reports/occupancy", occupancy_route),
        web.get("/api/v1/reports/outbound", outbound_route),
        web.get("/api/v1/reports/deadlines", deadlines_route),
        web.get("/api/v1/reports/settings", settings_route),
    ]
