"""Citizens' cases: numbered, classified, with a deadline from the topic's regulation,
a status lifecycle with allowed moves, and a full history. Every write is one
transaction: a refused change leaves nothing behind.

Reads and changes take `within`: the organisations whose cases the reader may see (an
organisation user's, `cti.store.journal`), or None for the hotline's own staff. A case
outside them does not exist for that reader: `case_not_found`, the same as a wrong id."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from typing import Any

from cti.store import notifications
from cti.store.errors import StoreError
from cti.store.models import CASE_MOVES, MAX_DESCRIPTION, Case, CaseCreate, CaseEvent, CaseUpdate
from cti.store.phone import normalise

CASE_COLUMNS = (
    "id, number, phone, caller_id, topic, organisation, description, status, deadline,"
    " created_by, created_at, updated_at, address, emergency, paid, channel, assignee, result"
)
# Statuses of a case still being worked (before its result is known).
WORKING = ("registered", "forwarded", "in_progress")
# The organisations a reader may see; None: all (the hotline's own staff).
Within = Collection[str] | None
# Fields an update sets as given (topic and organisation are checked first).
_PLAIN = ("description", "address", "emergency", "paid", "channel")


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


async def record(conn: Any, case_id: int, actor: str, action: str, changes: dict[str, Any]) -> None:
    """One entry in a case's history (inside the caller's transaction)."""
    await _history(conn, case_id, actor, action, changes)


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
            f" deadline, created_by, address, emergency, paid, channel, address_key)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            f" RETURNING {CASE_COLUMNS}",
            number,
            phone,
            caller_id,
            data.topic,
            organisation,
            data.description,
            deadline,
            actor,
            data.address,
            data.emergency,
            data.paid,
            data.channel,
            data.address.casefold(),
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


def in_scope(within: Within, arg: int) -> str:
    """The SQL condition that keeps to `within` and their units (its list the query's
    argument `arg`; `cti_within`, migration 0018)."""
    return "" if within is None else f" AND cti_within(organisation, ${arg}::text[])"


def belongs(organisation: str | None, within: Collection[str]) -> bool:
    """`organisation` is one of `within` or a unit of one (a code extended with a dot:
    asa.plovdiv is a unit of asa), as `cti_within` says in SQL."""
    if organisation is None:
        return False
    return any(organisation == o or organisation.startswith(o + ".") for o in within)


def scope_args(within: Within) -> list[Any]:
    return [] if within is None else [sorted(within)]


async def get_case(conn: Any, case_id: int, within: Within = None) -> Case:
    row = await conn.fetchrow(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE id = $1{in_scope(within, 2)}",
        case_id,
        *scope_args(within),
    )
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
        for name in _PLAIN:
            value = getattr(data, name)
            if value is not None and value != current[name]:
                new[name] = value
        if not new:
            return _case(current)
        columns = dict(new)
        if "address" in new:
            columns["address_key"] = new["address"].casefold()
        sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(columns, start=2))
        row = await conn.fetchrow(
            f"UPDATE cases SET {sets}, updated_at = now() WHERE id = $1 RETURNING {CASE_COLUMNS}",
            case_id,
            *columns.values(),
        )
        changes = {k: {"old": current[k], "new": v} for k, v in new.items()}
        await _history(conn, case_id, actor, "updated", changes)
    return _case(row)


async def move_case(
    conn: Any,
    case_id: int,
    status: str,
    actor: str,
    note: str = "",
    by_task: bool = False,
    *,
    within: Within = None,
    result: str | None = None,
) -> Case:
    """Move a case along its lifecycle; a move the rules do not allow is refused.
    `by_task`: its task "tell the citizen" recorded them informed (the task is closed
    already; any other move out of `resolved` cancels it). On `resolved` the case keeps
    the result the citizen is told: `result` if given (an organisation's journal), else
    the move's note (an agent's resolve); reopened, it has none."""
    if status not in CASE_MOVES:
        raise StoreError("unknown_status", f"no case status {status!r}")
    async with conn.transaction():
        current = await conn.fetchrow(
            f"SELECT status, number, result FROM cases WHERE id = $1{in_scope(within, 2)}"
            " FOR UPDATE",
            case_id,
            *scope_args(within),
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
        _check_description(note)
        _check_description(result)
        told = current["result"]
        if status == "resolved":
            told = note if result is None else result
        elif status in WORKING:  # reopened: the old result no longer holds (history has it)
            told = ""
        row = await conn.fetchrow(
            f"UPDATE cases SET status = $2, result = $3, updated_at = now() WHERE id = $1"
            f" RETURNING {CASE_COLUMNS}",
            case_id,
            status,
            told,
        )
        changes: dict[str, Any] = {"status": {"old": old, "new": status}}
        if note:
            changes["note"] = note
        if status == "resolved" and told != note:
            changes["result"] = told
        await _history(conn, case_id, actor, "status", changes)
        await notifications.case_moved(conn, case_id, old, status, told, by_task)
    return _case(row)


async def notification_outcome(
    conn: Any,
    nid: int,
    outcome: str,
    actor: str,
    rules: notifications.RetryRules,
    agent: str | None = None,
    in_call: bool = False,
) -> dict[str, Any]:
    """An attempt to tell the citizen the result, recorded on the task and in the case's
    history; `informed` moves the case to `citizen_informed`. One transaction."""
    async with conn.transaction():
        case_id, changes = await notifications.record_outcome(
            conn, nid, outcome, rules, agent, in_call
        )
        if case_id is not None:  # a scheduled callback may have no case
            await _history(conn, case_id, actor, "notification", changes)
            status = await conn.fetchval("SELECT status FROM cases WHERE id = $1", case_id)
            if outcome == "informed" and changes["kind"] == "result" and status == "resolved":
                await move_case(conn, case_id, "citizen_informed", actor, by_task=True)
    return await notifications.get(conn, nid)


async def case_history(conn: Any, case_id: int, within: Within = None) -> list[CaseEvent]:
    if within is not None:  # outside the reader's organisations: no such case
        await get_case(conn, case_id, within)
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
    address: str | None = None,
    emergency: bool | None = None,
    paid: bool | None = None,
    channel: str | None = None,
    overdue: bool | None = None,
    due_within_days: int | None = None,
    today: dt.date | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
    within: Within = None,
) -> tuple[list[Case], int]:
    """Cases matching every given filter (topic matches sub-topics too) among those of
    the organisations `within`; a page of them and the total count."""
    where, args = [], []

    def add(clause: str, value: Any) -> None:
        args.append(value)
        where.append(clause.format(f"${len(args)}"))

    if within is not None:
        add("cti_within(organisation, {}::text[])", sorted(within))
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
    if address:  # a part of it, any case: "гладстон" finds "Пловдив, ул. Гладстон 5"
        folded = address.casefold()
        escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        add("address_key LIKE {}", f"%{escaped}%")
    if emergency is not None:
        add("emergency = {}", emergency)
    if paid is not None:
        add("paid = {}", paid)
    if channel:
        add("channel = {}", channel)
    # Deadlines watch the cases still being worked (before the result is known).
    working = "status IN ('registered', 'forwarded', 'in_progress')"
    day = today or dt.date.today()
    if overdue is not None:
        add(f"(({working} AND deadline < {{}}) IS {'TRUE' if overdue else 'NOT TRUE'})", day)
    if due_within_days is not None:
        add(f"{working} AND deadline >= {{0}} AND deadline <= {{0}} + {due_within_days:d}", day)
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
