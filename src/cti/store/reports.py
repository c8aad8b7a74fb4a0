"""Report queries over the stored records: KPIs (offered, answered, abandoned, service
level, ASA, AHT) for the whole period or per interval (15 min, hour, day, month in the
centre's time zone), queue, topic, agent or dialled number; agents' time per state and occupancy.

Service level = answered within `sl_s` seconds / offered (abandoned calls count
against it), as the workload files define it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

_LOCAL = "(arrived_at AT TIME ZONE $3)"
INTERVALS = {
    "15min": f"to_char(date_trunc('hour', {_LOCAL}) + floor(extract(minute FROM {_LOCAL}) / 15)"
    " * interval '15 minutes', 'YYYY-MM-DD\"T\"HH24:MI')",
    "hour": f"to_char(date_trunc('hour', {_LOCAL}), 'YYYY-MM-DD\"T\"HH24:00')",
    "day": f"to_char(date_trunc('day', {_LOCAL}), 'YYYY-MM-DD')",
    "month": f"to_char(date_trunc('month', {_LOCAL}), 'YYYY-MM')",
}
GROUPS = {
    **INTERVALS,
    "queue": "coalesce(queue, '')",
    "topic": "coalesce(topic, '')",
    "agent": "coalesce(agent, '')",
    # The hotline number dialled (the IVR's CTI_CALLED); an agent's own call has none.
    "number": "CASE WHEN direction = 'inbound' THEN coalesce(called_number, '') ELSE '' END",
    "total": "'total'",
}
STATES = ("ready", "reserved", "on_call", "wrap_up", "not_ready")


@dataclass(frozen=True, slots=True)
class KpiFilter:
    group: str
    start: dt.datetime
    end: dt.datetime
    timezone: str
    sl_s: float
    queue: str | None = None
    topic: str | None = None  # a topic and everything under it
    number: str | None = None  # the calls to one hotline number


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


async def kpis(conn: Any, f: KpiFilter) -> list[dict[str, Any]]:
    """One row per key of the group; `total` is one row even for an empty period."""
    args: list[Any] = [f.start, f.end, f.timezone, f.sl_s]
    extra = ""
    if f.queue:
        args.append(f.queue)
        extra += f" AND queue = ${len(args)}"
    if f.topic:
        args.append(f.topic)
        extra += f" AND (topic = ${len(args)} OR topic LIKE ${len(args)} || '.%')"
    if f.number:
        args.append(f.number)
        extra += f" AND direction = 'inbound' AND called_number = ${len(args)}"
    group_by = "" if f.group == "total" else "GROUP BY 1 ORDER BY 1"
    rows = await conn.fetch(
        f"""
        SELECT {GROUPS[f.group]} AS key,
          count(*) FILTER (WHERE direction = 'inbound' AND outcome <> 'ivr_only') AS offered,
          count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
          count(*) FILTER (WHERE outcome = 'abandoned') AS abandoned,
          count(*) FILTER (WHERE answered_at IS NOT NULL AND wait_s <= $4) AS in_sl,
          avg(wait_s) FILTER (WHERE answered_at IS NOT NULL) AS asa_s,
          avg(coalesce(talk_s, 0) + coalesce(wrap_up_s, 0))
            FILTER (WHERE answered_at IS NOT NULL) AS aht_s
        FROM interactions
        WHERE arrived_at >= $1 AND arrived_at < $2 {extra} AND $3::text IS NOT NULL
        {group_by}
        """,
        *args,
    )
    return [
        {
            "key": r["key"],
            "offered": r["offered"],
            "answered": r["answered"],
            "abandoned": r["abandoned"],
            "service_level": _ratio(r["in_sl"], r["offered"]),
            "asa_s": _seconds(r["asa_s"]),
            "aht_s": _seconds(r["aht_s"]),
            "abandon_rate": _ratio(r["abandoned"], r["offered"]),
        }
        for r in rows
    ]


async def topic_names(conn: Any) -> dict[str, str]:
    """Each topic code's name in the classifier."""
    return {r["code"]: r["name"] for r in await conn.fetch("SELECT code, name FROM topics")}


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


def flat_occupancy(row: dict[str, Any]) -> dict[str, Any]:
    """An occupancy row with one column per state (for CSV: no nested cell)."""
    seconds = row["seconds"]
    flat = {f"{state}_s": seconds.get(state, 0.0) for state in STATES}
    return {"agent": row["agent"], **flat, "occupancy": row["occupancy"]}
