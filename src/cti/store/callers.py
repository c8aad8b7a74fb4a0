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


async def update_contact(conn: Any, phone: str, name: str | None, address: str | None) -> Caller:
    """A caller's name and address as an agent heard them; the rest of what is known
    about them (notes, consents) stays as it was."""
    row = await conn.fetchrow(
        "INSERT INTO callers (phone, name, address) VALUES ($1, $2, $3)"
        " ON CONFLICT (phone) DO UPDATE SET name = EXCLUDED.name, address = EXCLUDED.address,"
        f" updated_at = now() RETURNING {_CALLER_COLUMNS}",
        normalise(phone),
        name,
        address,
    )
    await conn.execute(
        "UPDATE cases SET caller_id = $1 WHERE phone = $2 AND caller_id IS NULL",
        row["id"],
        row["phone"],
    )
    return Caller.model_validate(dict(row))


async def screen_pop(conn: Any, number: str, interactions: int = 10) -> ScreenPop:
    """The caller, their last `interactions` contacts, their open cases and the results
    they are still to be told: one round trip, four index lookups (callers.phone,
    interactions (caller_number, arrived_at), cases (phone) where open, notifications
    (phone) where pending)."""
    phone = normalise(number)
    row = await conn.fetchrow(
        f"""
        SELECT
          (SELECT row_to_json(c) FROM (
             SELECT {_CALLER_COLUMNS} FROM callers WHERE phone = $1) c) AS caller,
          (SELECT coalesce(json_agg(i), '[]') FROM (
             SELECT id, direction, arrived_at, queue, topic, agent, outcome, talk_s,
               disposition, (SELECT string_agg(k.number, ', ' ORDER BY k.number)
                 FROM case_interactions ci JOIN cases k ON k.id = ci.case_id
                 WHERE ci.interaction_id = interactions.id) AS cases
             FROM interactions WHERE caller_number = $1
             ORDER BY arrived_at DESC LIMIT $2) i) AS interactions,
          (SELECT coalesce(json_agg(k), '[]') FROM (
             SELECT {CASE_COLUMNS} FROM cases WHERE phone = $1 AND status <> 'closed'
             ORDER BY created_at DESC LIMIT 50) k) AS open_cases,
          (SELECT coalesce(json_agg(n), '[]') FROM (
             SELECT n.id, k.number AS case_number, k.topic, n.result
             FROM notifications n JOIN cases k ON k.id = n.case_id
             WHERE n.phone = $1 AND n.status = 'pending' ORDER BY n.id LIMIT 10) n)
            AS results_to_tell
        """,
        phone,
        interactions,
    )
    return ScreenPop.model_validate_json(
        f'{{"phone": {json.dumps(phone)}, "caller": {row["caller"] or "null"},'
        f' "interactions": {row["interactions"]}, "open_cases": {row["open_cases"]},'
        f' "results_to_tell": {row["results_to_tell"]}}}'
    )
