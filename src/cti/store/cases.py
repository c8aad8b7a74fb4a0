"""Citizens' cases: numbered, classified, with a deadline from the topic's regulation,
a status lifecycle with allowed moves, and a full history. Every write is one
transaction: a refused change leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cti.store.errors import StoreError
from cti.store.models import CASE_MOVES, MAX_DESCRIPTION, Case, CaseCreate, CaseEvent, CaseUpdate
from cti.store.phone import normalise

CASE_COLUMNS = (
    "id, number, phone, caller_id, topic, organisation, description, status, deadline,"
    " created_by, created_at, updated_at"
)


def _case(row: Any) -> Case:
    return Case.model_validate(dict(row))


def _check_description(text: str | None) -> None:
    if text is not None and len(text) > MAX_DESCRIPTION:
        raise StoreError(
            "text_too_long", f"description has {len(text)} characters, at most {MAX_DESCRIPTION}"
        )


async def _topic(conn: Any, code: str) -> Any:
    row = await conn.fetchrow(
        "SELECT code, organisation, regulation_days, active FROM topics WHERE code = $1", code
    )
    if row is None:
        raise StoreError("unknown_topic", f"no topic {code!r} in the classifier")
    if not row["active"]:
        raise StoreError("inactive_topic", f"topic {code!r} is no longer in use")
    return row


async def _check_organisation(conn: Any, code: str | None) -> None:
    if code is not None and not await conn.fetchval(
        "SELECT true FROM organisations WHERE code = $1", code
    ):
        raise StoreError("unknown_organisation", f"no organisation {code!r}")


async def _next_number(conn: Any, year: int) -> str:
    n = await conn.fetchval(
        "INSERT INTO case_counters (year, last) VALUES ($1, 1)"
        " ON CONFLICT (year) DO UPDATE SET last = case_counters.last + 1 RETURNING last",
        year,
    )
    return f"{year}-{n:06d}"


async def _history(
    conn: Any, case_id: int, actor: str, action: str, changes: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO case_history (case_id, actor, action, changes) VALUES ($1, $2, $3, $4)",
        case_id,
        actor,
        action,
        json.dumps(changes, default=str),
    )


async def create_case(
    conn: Any, data: CaseCreate, actor: str, today: dt.date | None = None
) -> Case:
    """Register a case; its deadline is today + the topic's regulation days."""
    _check_description(data.description)
    phone = normalise(data.phone) if data.phone else None
    today = today or dt.date.today()
    async with conn.transaction():
        topic = await _topic(conn, data.topic)
        organisation = data.organisation or topic["organisation"]
        await _check_organisation(conn, organisation)
        caller_id = (
            await conn.fetchval("SELECT id FROM callers WHERE phone = $1", phone) if phone else None
        )
        number = await _next_number(conn, today.year)
        deadline = today + dt.timedelta(days=topic["regulation_days"] or 30)
        row = await conn.fetchrow(
            f"INSERT INTO cases (number, phone, caller_id, topic, organisation, description,"
            f" deadline, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            f" RETURNING {CASE_COLUMNS}",
            number,
            phone,
            caller_id,
            data.topic,
            organisation,
            data.description,
            deadline,
            actor,
        )
        case = _case(row)
        await _history(
            conn,
            case.id,
            actor,
            "created",
            {"topic": case.topic, "organisation": organisation, "deadline": deadline},
        )
        if data.interaction_id:
            await conn.execute(
                "INSERT INTO case_interactions (case_id, interaction_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                case.id,
                data.interaction_id,
            )
            await _history(conn, case.id, actor, "linked", {"interaction": data.interaction_id})
    return case


async def get_case(conn: Any, case_id: int) -> Case:
    row = await conn.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE id = $1", case_id)
    if row is None:
        raise StoreError("case_not_found", f"no case {case_id}")
    return _case(row)


async def case_by_number(conn: Any, number: str) -> Case:
    row = await conn.fetchrow(f"SELECT {CASE_COLUMNS} FROM cases WHERE number = $1", number)
    if row is None:
        raise StoreError("case_not_found", f"no case {number!r}")
    return _case(row)


async def update_case(conn: Any, case_id: int, data: CaseUpdate, actor: str) -> Case:
    """Change topic, description or organisation; a new topic recomputes the deadline
    from the day the case was registered."""
    _check_description(data.description)
    async with conn.transaction():
        current = await conn.fetchrow(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE id = $1 FOR UPDATE", case_id
        )
        if current is None:
            raise StoreError("case_not_found", f"no case {case_id}")
        if current["status"] == "closed":
            raise StoreError("case_closed", f"case {current['number']} is closed")
        new: dict[str, Any] = {}
        if data.topic is not None and data.topic != current["topic"]:
            topic = await _topic(conn, data.topic)
            new["topic"] = data.topic
            created: dt.date = current["created_at"].date()
            new["deadline"] = created + dt.timedelta(days=topic["regulation_days"] or 30)
        if data.organisation is not None and data.organisation != current["organisation"]:
            await _check_organisation(conn, data.organisation)
            new["organisation"] = data.organisation
        if data.description is not None and data.description != current["description"]:
            new["description"] = data.description
        if not new:
            return _case(current)
        sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(new, start=2))
        row = await conn.fetchrow(
            f"UPDATE cases SET {sets}, updated_at = now() WHERE id = $1 RETURNING {CASE_COLUMNS}",
            case_id,
            *new.values(),
        )
        changes = {k: {"old": current[k], "new": v} for k, v in new.items()}
        await _history(conn, case_id, actor, "updated", changes)
    return _case(row)


async def move_case(conn: Any, case_id: int, status: str, actor: str, note: str = "") -> Case:
    """Move a case along its lifecycle; a move the rules do not allow is refused."""
    if status not in CASE_MOVES:
        raise StoreError("unknown_status", f"no case status {status!r}")
    async with conn.transaction():
        current = await conn.fetchrow(
            "SELECT status, number FROM cases WHERE id = $1 FOR UPDATE", case_id
        )
        if current is None:
            raise StoreError("case_not_found", f"no case {case_id}")
        old = current["status"]
        if status not in CASE_MOVES[old]:
            allowed = ", ".join(sorted(CASE_MOVES[old])) or "none"
            raise StoreError(
                "illegal_status_move",
                f"case {current['number']}: {old} -> {status} is not allowed"
                f" (from {old}: {allowed})",
            )
        row = await conn.fetchrow(
            f"UPDATE cases SET status = $2, updated_at = now() WHERE id = $1"
            f" RETURNING {CASE_COLUMNS}",
            case_id,
            status,
        )
        changes: dict[str, Any] = {"status": {"old": old, "new": status}}
        if note:
            _check_description(note)
            changes["note"] = note
        await _history(conn, case_id, actor, "status", changes)
    return _case(row)


async def case_history(conn: Any, case_id: int) -> list[CaseEvent]:
    rows = await conn.fetch(
        "SELECT at, actor, action, changes FROM case_history WHERE case_id = $1 ORDER BY id",
        case_id,
    )
    return [
        CaseEvent(
            at=r["at"], actor=r["actor"], action=r["action"], changes=json.loads(r["changes"])
        )
        for r in rows
    ]


async def link_interaction(conn: Any, case_id: int, interaction_id: str, actor: str) -> bool:
    """Link a call to a case (idempotent); True if it was not linked yet."""
    async with conn.transaction():
        await get_case(conn, case_id)
        status = await conn.execute(
            "INSERT INTO case_interactions (case_id, interaction_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            case_id,
            interaction_id,
        )
        added: bool = status.endswith(" 1")
        if added:
            await _history(conn, case_id, actor, "linked", {"interaction": interaction_id})
    return added


SORTABLE = {"created_at", "updated_at", "deadline", "number", "status"}


async def search_cases(
    conn: Any,
    *,
    number: str | None = None,
    phone: str | None = None,
    status: str | None = None,
    topic: str | None = None,
    organisation: str | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Case], int]:
    """Cases matching every given filter (topic matches sub-topics too); a page of them
    and the total count."""
    where, args = [], []

    def add(clause: str, value: Any) -> None:
        args.append(value)
        where.append(clause.format(f"${len(args)}"))

    if number:
        add("number = {}", number)
    if phone:
        add("phone = {}", normalise(phone))
    if status:
        if status not in CASE_MOVES:
            raise StoreError("unknown_status", f"no case status {status!r}")
        add("status = {}", status)
    if topic:
        add("(topic = {0} OR topic LIKE {0} || '.%')", topic)
    if organisation:
        add("organisation = {}", organisation)
    if created_from:
        add("created_at >= {}", created_from)
    if created_to:
        add("created_at < {}", created_to)
    column = sort.lstrip("-")
    if column not in SORTABLE:
        raise StoreError("bad_sort", f"sort by one of {', '.join(sorted(SORTABLE))}, got {sort!r}")
    if not (1 <= limit <= 500) or offset < 0:
        raise StoreError("bad_page", "limit must be 1..500 and offset >= 0")
    direction = "DESC" if sort.startswith("-") else "ASC"
    condition = " AND ".join(where) or "true"
    total = await conn.fetchval(f"SELECT count(*) FROM cases WHERE {condition}", *args)
    rows = await conn.fetch(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE {condition}"
        f" ORDER BY {column} {direction}, id {direction} LIMIT {limit} OFFSET {offset}",
        *args,
    )
    return [_case(r) for r in rows], int(total)
