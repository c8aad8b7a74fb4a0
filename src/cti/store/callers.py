"""Callers (known citizens) and the screen-pop: who is calling and what came before."""

from __future__ import annotations

import json
from typing import Any

from cti.store.cases import CASE_COLUMNS
from cti.store.models import Caller, CallerIn, ScreenPop
from cti.store.phone import normalise

_CALLER_COLUMNS = "id, phone, name, address, notes, consent_recording, consent_contact"


async def upsert_caller(conn: Any, data: CallerIn) -> Caller:
    """Create or update the caller with this phone number."""
    phone = normalise(data.phone)
    row = await conn.fetchrow(
        "INSERT INTO callers (phone, name, address, notes, consent_recording, consent_contact)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (phone) DO UPDATE SET name = EXCLUDED.name, address = EXCLUDED.address,"
        " notes = EXCLUDED.notes, consent_recording = EXCLUDED.consent_recording,"
        " consent_contact = EXCLUDED.consent_contact, updated_at = now()"
        f" RETURNING {_CALLER_COLUMNS}",
        phone,
        data.name,
        data.address,
        data.notes,
        data.consent_recording,
        data.consent_contact,
    )
    # Cases filed for this number before the caller was known now belong to them.
    await conn.execute(
        "UPDATE cases SET caller_id = $1 WHERE phone = $2 AND caller_id IS NULL", row["id"], phone
    )
    return Caller.model_validate(dict(row))


async def screen_pop(conn: Any, number: str, interactions: int = 10) -> ScreenPop:
    """The caller, their last `interactions` contacts and their open cases: one round
    trip, three index lookups (callers.phone, interactions (caller_number, arrived_at),
    cases (phone) where open)."""
    phone = normalise(number)
    row = await conn.fetchrow(
        f"""
        SELECT
          (SELECT row_to_json(c) FROM (
             SELECT {_CALLER_COLUMNS} FROM callers WHERE phone = $1) c) AS caller,
          (SELECT coalesce(json_agg(i), '[]') FROM (
             SELECT id, direction, arrived_at, queue, topic, agent, outcome, talk_s
             FROM interactions WHERE caller_number = $1
             ORDER BY arrived_at DESC LIMIT $2) i) AS interactions,
          (SELECT coalesce(json_agg(k), '[]') FROM (
             SELECT {CASE_COLUMNS} FROM cases WHERE phone = $1 AND status <> 'closed'
             ORDER BY created_at DESC LIMIT 50) k) AS open_cases
        """,
        phone,
        interactions,
    )
    return ScreenPop.model_validate_json(
        f'{{"phone": {json.dumps(phone)}, "caller": {row["caller"] or "null"},'
        f' "interactions": {row["interactions"]}, "open_cases": {row["open_cases"]}}}'
    )
