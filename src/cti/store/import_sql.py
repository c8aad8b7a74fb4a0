"""How `cti import` writes each kind of line: one statement per line that inserts the row
as our own code would have written it, its history where it has one, and its key in
`import_keys`; plus the look-ups of keys and cases a batch needs."""

from __future__ import annotations

import json
import re
from typing import Any

from cti.store.import_models import (
    OUR_NUMBER,
    CallerLine,
    CallLine,
    CaseEventLine,
    CaseLine,
    Context,
    Line,
)

SOURCE = re.compile(r"^[a-z0-9_.-]{1,32}$")

_KEY = (
    "INSERT INTO import_keys (kind, source, external_id, target, data)"
    " SELECT '{kind}', $1, $2, {target}, ${data}::jsonb FROM {row}"
)

# A phone already ours: the imported caller joins it, filling only what we do not know
# (name, address, notes); consents stay as our records have them.
CALLER = f"""
WITH c AS (
  INSERT INTO callers (phone, name, address, notes, consent_recording, consent_contact, source)
  VALUES ($3, $4, $5, $6, $7, $8, $1)
  ON CONFLICT (phone) DO UPDATE SET name = coalesce(callers.name, EXCLUDED.name),
    address = coalesce(callers.address, EXCLUDED.address),
    notes = coalesce(callers.notes, EXCLUDED.notes), updated_at = now()
  RETURNING id, phone, (xmax = 0) AS inserted),
k AS ({_KEY.format(kind="caller", target="c.id::text", data=9, row="c")}),
u AS (UPDATE cases SET caller_id = c.id FROM c
      WHERE cases.phone = c.phone AND cases.caller_id IS NULL)
SELECT inserted FROM c
"""

# The old number is kept ($5); without one, the next of the year it was registered in.
# A kept number of our own form (2024-000123) moves that year's counter past it, so
# no case registered later gets it again.
CASE = f"""
WITH n AS (
  INSERT INTO case_counters (year, last) VALUES ($3, $4)
  ON CONFLICT (year) DO UPDATE SET last = CASE WHEN $5::text IS NULL
    THEN case_counters.last + 1 ELSE greatest(case_counters.last, EXCLUDED.last) END
  RETURNING last),
c AS (
  INSERT INTO cases (number, phone, caller_id, topic, organisation, description, status,
    deadline, created_by, created_at, updated_at, address, address_key, emergency, paid,
    channel, source)
  SELECT coalesce($5, $3::text || '-' || CASE WHEN n.last < 1000000
    THEN lpad(n.last::text, 6, '0') ELSE n.last::text END),
    $6::text, (SELECT id FROM callers WHERE phone = $6), $7, $8, $9, $10, $11, $12, $13, $13,
    $14, $15, $16, $17, $18, $1
  FROM n RETURNING id),
k AS ({_KEY.format(kind="case", target="c.id::text", data=19, row="c")}),
h AS (INSERT INTO case_history (case_id, at, actor, action, changes)
      SELECT c.id, $13, $12, 'created', $20::jsonb FROM c)
SELECT true AS inserted FROM c
"""

CASE_EVENT = f"""
WITH h AS (INSERT INTO case_history (case_id, at, actor, action, changes)
           VALUES ($3, $4, $5, $6, $7::jsonb) RETURNING id),
k AS ({_KEY.format(kind="case_event", target="h.id::text", data=8, row="h")})
SELECT true AS inserted FROM h
"""

CALL = f"""
WITH i AS (
  INSERT INTO interactions (id, direction, caller_number, called_number, queue, topic, agent,
    arrived_at, queued_at, answered_at, ended_at, wait_s, talk_s, hold_s, wrap_up_s,
    outcome, end_reason, hangup_side, disposition, source)
  VALUES ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
    $21, $1)
  RETURNING id),
k AS ({_KEY.format(kind="call", target="i.id", data=22, row="i")}),
l AS (INSERT INTO case_interactions (case_id, interaction_id, linked_at)
      SELECT $23::bigint, i.id, $10 FROM i WHERE $23::bigint IS NOT NULL)
SELECT true AS inserted FROM i
"""

_STATEMENTS = {"caller": CALLER, "case": CASE, "case_event": CASE_EVENT, "call": CALL}


def statement(kind: str) -> str:
    return _STATEMENTS[kind]


def interaction_id(source: str, external_id: str) -> str:
    """An imported call's id: never one of Asterisk's (`1700000000.12@boot`)."""
    return f"{source}:{external_id}"


def arguments(
    item: Line, data: dict[str, Any], source: str, case_id: int | None, context: Context
) -> list[Any]:
    """The statement's arguments for one validated line ($1 source, $2 its id)."""
    head: list[Any] = [source, item.id]
    if isinstance(item, CallerLine):
        return [
            *head,
            item.phone,
            item.name,
            item.address,
            item.notes,
            item.consent_recording,
            item.consent_contact,
            json.dumps(data),
        ]
    if isinstance(item, CaseLine):
        year = item.created_at.astimezone(context.zone).year
        first = 1
        if item.number is not None:
            ours = OUR_NUMBER.match(item.number)
            year, first = (int(ours[1]), int(ours[2])) if ours else (year, 0)
        organisation, deadline = item.defaults(context)
        created = {
            "topic": item.topic,
            "organisation": organisation,
            "deadline": deadline.isoformat(),
            "status": item.status,
            "imported_from": source,
            "external_id": item.id,
        }
        return [
            *head,
            year,
            first,
            item.number,
            item.phone,
            item.topic,
            organisation,
            item.description,
            item.status,
            deadline,
            item.created_by or f"import:{source}",
            item.created_at,
            item.address,
            item.address.casefold(),
            item.emergency,
            item.paid,
            item.channel,
            json.dumps(data),
            json.dumps(created),
        ]
    if isinstance(item, CaseEventLine):
        changes: dict[str, Any] = {"imported_from": source}
        if item.status is not None:
            changes["status"] = {"new": item.status}
        if item.note:
            changes["note"] = item.note
        return [
            *head,
            case_id,
            item.at,
            item.actor or f"import:{source}",
            item.action,
            json.dumps(changes),
            json.dumps(data),
        ]
    assert isinstance(item, CallLine)
    record = item.record()
    citizen = item.caller or ""
    called = item.called or (citizen if item.direction == "outbound" else "")
    return [
        *head,
        interaction_id(source, item.id),
        item.direction,
        citizen,
        called,
        item.queue,
        item.topic,
        item.agent,
        item.arrived_at,
        record["queued_at"],
        record["answered_at"],
        record["ended_at"],
        item.wait_s,
        item.talk_s,
        item.hold_s,
        item.wrap_up_s,
        item.outcome,
        record["end_reason"],
        item.hangup_side,
        item.disposition,
        json.dumps(data),
        case_id,
    ]


async def known(conn: Any, kind: str, source: str, batch: list[Any]) -> dict[str, Any]:
    """The keys of this batch's ids already imported: id -> the line as imported."""
    rows = await conn.fetch(
        "SELECT external_id, data FROM import_keys"
        " WHERE kind = $1 AND source = $2 AND external_id = ANY($3::text[])",
        kind,
        source,
        list({p.item.id for p in batch}),
    )
    return {r["external_id"]: json.loads(r["data"]) for r in rows}


async def case_ids(conn: Any, source: str, batch: list[Any]) -> dict[str, int]:
    """Our case id of each old case id the batch's lines name (imported before)."""
    wanted = list({c for p in batch if (c := getattr(p.item, "case", None)) is not None})
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT external_id, target FROM import_keys"
        " WHERE kind = 'case' AND source = $1 AND external_id = ANY($2::text[])",
        source,
        wanted,
    )
    return {r["external_id"]: int(r["target"]) for r in rows}


_CONSTRAINTS = {
    "cases_number_key": ("number", "the case number is already another case's"),
    "interactions_pkey": ("id", "a call with this id is already stored"),
}


def why(exc: Exception) -> tuple[str, str]:
    """(column, reason) for a line the database refused."""
    constraint = getattr(exc, "constraint_name", None) or ""
    if constraint in _CONSTRAINTS:
        return _CONSTRAINTS[constraint]
    column = getattr(exc, "column_name", None) or ""
    return column, f"refused by the database: {exc}"
