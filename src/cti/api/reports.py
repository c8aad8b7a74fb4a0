"""KPIs from the stored records: offered, answered, abandoned, service level, ASA and
AHT per hour, day, month, queue, topic or agent; agents' occupancy from the state log.

Service level = answered within `sl_s` seconds / offered (abandoned calls count
against it), as the workload files define it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from cti.api.context import Context, csv_response, need
from cti.config import TimeZone

_GROUPS = {
    "hour": "to_char(date_trunc('hour', arrived_at AT TIME ZONE $3), 'YYYY-MM-DD\"T\"HH24:00')",
    "day": "to_char(date_trunc('day', arrived_at AT TIME ZONE $3), 'YYYY-MM-DD')",
    "month": "to_char(date_trunc('month', arrived_at AT TIME ZONE $3), 'YYYY-MM')",
    "queue": "coalesce(queue, '')",
    "topic": "coalesce(topic, '')",
    "agent": "coalesce(agent, '')",
}
KPI_COLUMNS = ("key", "offered", "answered", "abandoned", "service_level", "asa_s", "aht_s")


class KpiQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: Literal["hour", "day", "month", "queue", "topic", "agent"] = "day"
    start: AwareDatetime  # with its offset: a naive time means nothing to a server
    end: AwareDatetime
    queue: str | None = None
    topic: str | None = None
    sl_s: Annotated[float, Field(gt=0, le=3600)] = 20.0
    timezone: TimeZone = "UTC"
    format: Literal["json", "csv"] = "json"

    @model_validator(mode="after")
    def _period(self) -> KpiQuery:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > dt.timedelta(days=400):
            raise ValueError("at most 400 days at once")
        return self


async def kpis(conn: Any, q: KpiQuery) -> list[dict[str, Any]]:
    key = _GROUPS[q.group]
    args: list[Any] = [q.start, q.end, q.timezone, q.sl_s]
    extra = ""
    if q.queue:
        args.append(q.queue)
        extra += f" AND queue = ${len(args)}"
    if q.topic:
        args.append(q.topic)
        extra += f" AND (topic = ${len(args)} OR topic LIKE ${len(args)} || '.%')"
    rows = await conn.fetch(
        f"""
        SELECT {key} AS key,
          count(*) FILTER (WHERE direction = 'inbound' AND outcome <> 'ivr_only') AS offered,
          count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
          count(*) FILTER (WHERE outcome = 'abandoned') AS abandoned,
          count(*) FILTER (WHERE answered_at IS NOT NULL AND wait_s <= $4) AS in_sl,
          avg(wait_s) FILTER (WHERE answered_at IS NOT NULL) AS asa_s,
          avg(coalesce(talk_s, 0) + coalesce(wrap_up_s, 0))
            FILTER (WHERE answered_at IS NOT NULL) AS aht_s
        FROM interactions
        WHERE arrived_at >= $1 AND arrived_at < $2 {extra} AND $3::text IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """,
        *args,
    )
    out = []
    for r in rows:
        offered = r["offered"]
        out.append(
            {
                "key": r["key"],
                "offered": offered,
                "answered": r["answered"],
                "abandoned": r["abandoned"],
                "service_level": round(r["in_sl"] / offered, 4) if offered else None,
                "asa_s": None if r["asa_s"] is None else round(float(r["asa_s"]), 2),
                "aht_s": None if r["aht_s"] is None else round(float(r["aht_s"]), 2),
            }
        )
    return out


async def occupancy(conn: Any, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Per agent: seconds in each state (a row's previous_s belongs to the state before
    it) and occupancy = (reserved + on call + wrap-up) / (those + ready)."""
    rows = await conn.fetch(
        """
        WITH log AS (
          SELECT agent, previous_s, lag(state) OVER (PARTITION BY agent ORDER BY at) AS was
          FROM agent_state_log WHERE at >= $1 AND at < $2)
        SELECT agent, was, sum(previous_s) AS seconds FROM log
        WHERE was IS NOT NULL GROUP BY agent, was ORDER BY agent
        """,
        start,
        end,
    )
    agents: dict[str, dict[str, float]] = {}
    for r in rows:
        agents.setdefault(r["agent"], {})[r["was"]] = float(r["seconds"])
    out = []
    for agent, states in agents.items():
        busy = sum(states.get(s, 0.0) for s in ("reserved", "on_call", "wrap_up"))
        available = busy + states.get("ready", 0.0)
        out.append(
            {
                "agent": agent,
                "seconds": {k: round(v, 1) for k, v in sorted(states.items())},
                "occupancy": round(busy / available, 4) if available else None,
            }
        )
    return out


def routes(ctx: Context) -> list[web.RouteDef]:
    async def kpi_route(request: web.Request) -> web.StreamResponse:
        need(request, "supervisor", "admin", "integrator")
        q = KpiQuery.model_validate(dict(request.query))
        async with ctx.db() as conn:
            rows = await kpis(conn, q)
        if q.format == "csv":
            return csv_response(KPI_COLUMNS, rows, f"kpis-{q.group}.csv")
        return web.json_response({"items": rows, "group": q.group})

    async def occupancy_route(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin")
        q = KpiQuery.model_validate(dict(request.query))
        async with ctx.db() as conn:
            rows = await occupancy(conn, q.start, q.end)
        return web.json_response({"items": json.loads(json.dumps(rows))})

    return [
        web.get("/api/v1/reports/kpis", kpi_route),
        web.get("/api/v1/reports/occupancy", occupancy_route),
    ]
