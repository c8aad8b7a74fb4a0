"""How each kind of outbox record is written. Every write is idempotent: an upsert by
the record's natural key, or an insert that ignores a key already there."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

from cti.store.outbox import Record

INTERACTION_COLUMNS = (
    "direction",
    "caller_number",
    "called_number",
    "ivr_path",
    "queue",
    "topic",
    "agent",
    "arrived_at",
    "queued_at",
    "offered_at",
    "answered_at",
    "ended_at",
    "wait_s",
    "ring_s",
    "talk_s",
    "hold_s",
    "wrap_up_s",
    "outcome",
    "end_reason",
    "hangup_side",
    "hangup_cause",
    "disposition",
)
_TIMES = {"arrived_at", "queued_at", "offered_at", "answered_at", "ended_at", "started_at", "at"}
# What a later update may set on an interaction row: the agent's wrap-up, a callback's
# answer, and any figure a late fact from Asterisk changes (cti.store.cdr).
UPDATABLE = {
    "wrap_up_s",
    "disposition",
    "queue",
    "agent",
    "queued_at",
    "offered_at",
    "answered_at",
    "wait_s",
    "ring_s",
    "talk_s",
    "hold_s",
    "outcome",
    "end_reason",
    "hangup_side",
    "hangup_cause",
}


def _ts(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(float(value), dt.UTC)


def _value(column: str, value: Any) -> Any:
    if column in _TIMES:
        return _ts(value)
    if column == "ivr_path":
        return json.dumps(value or [])
    return value


async def _interaction(conn: Any, r: Record) -> None:
    d = r.data
    cols = ["id", *INTERACTION_COLUMNS]
    values = [r.key, *(_value(c, d.get(c)) for c in INTERACTION_COLUMNS)]
    values[cols.index("direction")] = d.get("direction", "inbound")
    values[cols.index("caller_number")] = d.get("caller_number", "")
    values[cols.index("called_number")] = d.get("called_number", "")
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    # A replay rewrites the same values; fields set by later updates are kept, except
    # over a row a restarted CTI wrote from what was known (the call's own record wins).
    guessed = "interactions.end_reason = 'ended_while_disconnected'"
    updates = ", ".join(
        f"{c} = CASE WHEN {guessed} THEN COALESCE(EXCLUDED.{c}, interactions.{c})"
        f" ELSE COALESCE(interactions.{c}, EXCLUDED.{c}) END"
        if c in UPDATABLE
        else f"{c} = EXCLUDED.{c}"
        for c in INTERACTION_COLUMNS
    )
    await conn.execute(
        f"INSERT INTO interactions ({', '.join(cols)}) VALUES ({placeholders})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}",
        *values,
    )
    await conn.execute("DELETE FROM open_interactions WHERE id = $1", r.key)
    legs = d.get("legs", [])
    if legs:
        await conn.executemany(
            "INSERT INTO legs (id, interaction_id, channel, role, agent, started_at,"
            " answered_at, ended_at, cause) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (id) DO UPDATE SET answered_at = EXCLUDED.answered_at,"
            " ended_at = EXCLUDED.ended_at, cause = EXCLUDED.cause, agent = EXCLUDED.agent",
            [
                (
                    leg["id"],
                    r.key,
                    leg["channel"],
                    leg["role"],
                    leg.get("agent"),
                    _ts(leg["started_at"]),
                    _ts(leg.get("answered_at")),
                    _ts(leg.get("ended_at")),
                    leg.get("cause"),
                )
                for leg in legs
            ],
        )


# What is known of a call in progress and never changes once known: the interaction's
# columns up to its answer, without the IVR path (known only at the end).
OPEN_COLUMNS = tuple(
    c for c in INTERACTION_COLUMNS[: INTERACTION_COLUMNS.index("ended_at")] if c != "ivr_path"
)


# At most this many calls in progress are read back at a start (a hotline has dozens).
EARLIER_OPEN_LIMIT = 20_000


async def earlier_open(conn: Any) -> list[dict[str, Any]]:
    """What an earlier CTI wrote of the calls then in progress (open_interactions), times
    as Unix seconds: a CTI that starts (or takes over) joins those calls from these facts
    instead of from what it happens to see of their end (cti.store.cdr)."""
    rows = await conn.fetch(
        f"SELECT id, {', '.join(OPEN_COLUMNS)} FROM open_interactions"
        f" ORDER BY arrived_at DESC LIMIT {EARLIER_OPEN_LIMIT}"
    )
    return [
        {k: (v.timestamp() if k in _TIMES and v is not None else v) for k, v in row.items()}
        for row in rows
    ]


async def _interaction_open(conn: Any, r: Record) -> None:
    """What is known of a call in progress (a fact once known stays; never for a call
    whose interaction is written already)."""
    d = r.data
    values = [r.key, *(_value(c, d.get(c)) for c in OPEN_COLUMNS)]
    values[1 + OPEN_COLUMNS.index("caller_number")] = d.get("caller_number", "")
    values[1 + OPEN_COLUMNS.index("called_number")] = d.get("called_number", "")
    cols = ", ".join(OPEN_COLUMNS)
    params = ", ".join(f"${i}" for i in range(2, len(OPEN_COLUMNS) + 2))
    keep = ", ".join(f"{c} = COALESCE(EXCLUDED.{c}, open_interactions.{c})" for c in OPEN_COLUMNS)
    await conn.execute(
        f"INSERT INTO open_interactions (id, {cols}) SELECT $1, {params}"
        " WHERE NOT EXISTS (SELECT 1 FROM interactions WHERE id = $1)"
        f" ON CONFLICT (id) DO UPDATE SET {keep}, written_at = now()",
        *values,
    )


async def _interaction_dropped(conn: Any, r: Record) -> None:
    """A call that is not stored as an interaction (a supervisor's spy call)."""
    await conn.execute("DELETE FROM open_interactions WHERE id = $1", r.key)


async def _interactions_vanished(conn: Any, r: Record) -> None:
    """After a CTI restart: the calls a previous CTI had open that Asterisk no longer
    has (`live`: the interactions it has now) ended while no CTI was watching. They
    become interactions with what was known: end_reason `ended_while_disconnected`,
    `ended_at` the moment they were found gone (an upper bound), `outcome` answered
    when an agent had answered, else unknown (NULL); talk and hold unknown."""
    live, at = list(r.data["live"]), _ts(r.data["at"])
    await conn.execute(
        f"INSERT INTO interactions (id, {', '.join(OPEN_COLUMNS)}, ended_at, wait_s,"
        " outcome, end_reason)"
        f" SELECT id, {', '.join(OPEN_COLUMNS)}, $2,"
        " EXTRACT(EPOCH FROM answered_at - queued_at),"
        " CASE WHEN answered_at IS NOT NULL THEN 'answered' END, 'ended_while_disconnected'"
        " FROM open_interactions WHERE id <> ALL($1::text[]) AND arrived_at < $2"
        " ON CONFLICT (id) DO NOTHING",
        live,
        at,
    )
    await conn.execute(
        "DELETE FROM open_interactions WHERE id <> ALL($1::text[]) AND arrived_at < $2",
        live,
        at,
    )


async def _interaction_update(conn: Any, r: Record) -> None:
    d = r.data
    fields = {k: _value(k, v) for k, v in d["fields"].items() if k in UPDATABLE}
    bad = set(d["fields"]) - UPDATABLE
    if bad:
        raise ValueError(f"interaction_update: fields {sorted(bad)} may not be updated")
    if not fields:
        return
    sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(fields, start=2))
    await conn.execute(f"UPDATE interactions SET {sets} WHERE id = $1", d["id"], *fields.values())


async def _case_link(conn: Any, r: Record) -> None:
    """A call filed under a case; its recordings (if already stored) come with it."""
    case_id, interaction = int(r.data["case_id"]), r.data["interaction_id"]
    await conn.execute(
        "INSERT INTO case_interactions (case_id, interaction_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        case_id,
        interaction,
    )
    await conn.execute(
        "INSERT INTO case_recordings (case_id, recording_id)"
        " SELECT $1, id FROM recordings WHERE interaction_id = $2 ON CONFLICT DO NOTHING",
        case_id,
        interaction,
    )


async def _agent_state(conn: Any, r: Record) -> None:
    d = r.data
    await conn.execute(
        "INSERT INTO agent_state_log (key, agent, state, reason, at, previous_s)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
        r.key,
        d["agent"],
        d["state"],
        d.get("reason"),
        _ts(d["at"]),
        float(d["previous_s"]),
    )


async def _survey(conn: Any, r: Record) -> None:
    d = r.data
    await conn.execute(
        "INSERT INTO survey_answers (key, interaction_id, question, score, at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
        r.key,
        d["interaction_id"],
        d["question"],
        int(d["score"]),
        _ts(d["at"]),
    )


async def _callback(conn: Any, r: Record) -> None:
    """A callback the citizen accepted (scheduled), or its later status."""
    d = r.data
    await conn.execute(
        "INSERT INTO callbacks (key, interaction_id, number, queue, due_at, status, attempts)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO UPDATE"
        " SET status = EXCLUDED.status, attempts = EXCLUDED.attempts",
        r.key,
        d["interaction_id"],
        d["number"],
        d.get("queue"),
        _ts(d["due_at"]),
        d.get("status", "scheduled"),
        int(d.get("attempts", 0)),
    )


async def _ivr_callback(conn: Any, r: Record) -> None:
    """A callback at a time the citizen picked in the IVR: a scheduled-callback task for
    the queue (no agent talked yet), merged into an open one for the number. Written
    once: a record replayed finds its note already on a task of the number."""
    from cti.store.notifications import schedule_callback

    d = r.data
    note = f"Picked in the IVR (call {d['interaction_id']})"
    seen = await conn.fetchval(
        "SELECT true FROM notifications WHERE kind = 'callback' AND phone = $1"
        " AND strpos(result, $2) > 0 LIMIT 1",
        d["number"],
        note,
    )
    if seen:
        return
    at = _ts(d["at"])
    assert at is not None
    await schedule_callback(conn, d["number"], at, None, 0.0, note, d.get("queue"), "ivr")


async def _recording(conn: Any, r: Record) -> None:
    """A finished recording: the file is checked (size, duration, checksum) and stored,
    and linked to the cases its interaction is already linked to."""
    from pathlib import Path

    from cti.store.recordings import save_recording

    d = r.data
    started = _ts(d["started_at"])
    assert started is not None
    rec = await save_recording(
        conn, d["interaction_id"], d.get("leg_id"), Path(d["path"]), started, _ts(d.get("ended_at"))
    )
    await conn.execute(
        "INSERT INTO case_recordings (case_id, recording_id)"
        " SELECT case_id, $1 FROM case_interactions WHERE interaction_id = $2"
        " ON CONFLICT DO NOTHING",
        rec.id,
        rec.interaction_id,
    )


APPLY: dict[str, Callable[[Any, Record], Awaitable[None]]] = {
    "interaction": _interaction,
    "interaction_update": _interaction_update,
    "interaction_open": _interaction_open,
    "interaction_dropped": _interaction_dropped,
    "interactions_vanished": _interactions_vanished,
    "case_link": _case_link,
    "agent_state": _agent_state,
    "survey": _survey,
    "callback": _callback,
    "ivr_callback": _ivr_callback,
    "recording": _recording,
}


async def apply_record(conn: Any, record: Record) -> None:
    fn = APPLY.get(record.kind)
    if fn is None:
        raise ValueError(f"unknown outbox record kind {record.kind!r}")
    await fn(conn, record)
