"""Our stored records (`interactions` and their `legs`) of a period, as `Call`s."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cti.reconcile.models import Call, Leg, Period


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _s(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)  # `real`: 4-byte floats


async def load_calls(conn: Any, period: Period, also: Iterable[str] = ()) -> dict[str, Call]:
    """The interactions that arrived in the period, and those of `also` (the calls
    Asterisk saw arrive in it: a call at the edge is compared, not lost on one side)."""
    rows = await conn.fetch(
        "SELECT id, arrived_at, outcome, agent, queue, queued_at, answered_at, ended_at,"
        " wait_s, ring_s, talk_s, hold_s, hangup_side FROM interactions"
        " WHERE (arrived_at >= $1 AND arrived_at < $2) OR id = ANY($3::text[])"
        " ORDER BY arrived_at",
        period.start,
        period.end,
        list(also),
    )
    calls = {
        r["id"]: Call(
            id=r["id"],
            arrived_at=r["arrived_at"].timestamp(),
            outcome=r["outcome"],
            agent=r["agent"],
            queue=r["queue"],
            queued_at=_ts(r["queued_at"]),
            answered_at=_ts(r["answered_at"]),
            ended_at=_ts(r["ended_at"]),
            wait_s=_s(r["wait_s"]),
            ring_s=_s(r["ring_s"]),
            talk_s=_s(r["talk_s"]),
            hold_s=_s(r["hold_s"]),
            hangup_side=r["hangup_side"],
        )
        for r in rows
    }
    legs = await conn.fetch(
        "SELECT id, interaction_id, channel, role, agent, started_at, answered_at, ended_at"
        " FROM legs WHERE interaction_id = ANY($1::text[]) ORDER BY started_at",
        list(calls),
    )
    for leg in legs:
        calls[leg["interaction_id"]].legs.append(
            Leg(
                leg["id"],
                leg["channel"],
                leg["role"],
                leg["agent"],
                leg["started_at"].timestamp(),
                _ts(leg["answered_at"]),
                _ts(leg["ended_at"]),
            )
        )
    return calls
