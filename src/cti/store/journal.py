"""The responsible organisations' journal (issue 22): the cases of a reader's
organisations (`within`, see `cti.store.cases`) with the personal data each needs (the
number, the caller's name, the address the case is about), and what an organisation
does with them: take one, write internal notes, hand it to another organisation with a
reason. Status moves and the result the citizen is told go through `cases.move_case`,
as an agent's do (so resolving opens the task "tell the citizen" the same way).

A case outside `within` does not exist for the reader: `case_not_found`."""

from __future__ import annotations

from typing import Any

from cti.store import cases
from cti.store.cases import CASE_COLUMNS, WORKING, Within, in_scope, scope_args
from cti.store.errors import StoreError
from cti.store.models import MAX_DESCRIPTION, Case, CaseEvent, JournalCase


async def with_callers(conn: Any, found: list[Case]) -> list[JournalCase]:
    """The cases with their callers' names (one query for the page)."""
    ids = sorted({c.caller_id for c in found if c.caller_id is not None})
    rows = await conn.fetch("SELECT id, name FROM callers WHERE id = ANY($1::bigint[])", ids)
    names = {r["id"]: r["name"] for r in rows}
    return [
        JournalCase.model_validate({**c.model_dump(), "caller_name": names.get(c.caller_id)})
        for c in found
    ]


async def journal_case(
    conn: Any, case_id: int, within: Within
) -> tuple[JournalCase, list[CaseEvent]]:
    """One case of the reader's organisations with its caller's name and its history."""
    case = await cases.get_case(conn, case_id, within)
    history = await cases.case_history(conn, case_id, within)
    return (await with_callers(conn, [case]))[0], history


async def _working(conn: Any, case_id: int, within: Within, doing: str) -> Any:
    """The case locked for a change an organisation makes while it is being worked."""
    row = await conn.fetchrow(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE id = $1{in_scope(within, 2)} FOR UPDATE",
        case_id,
        *scope_args(within),
    )
    if row is None:
        raise StoreError("case_not_found", f"no case {case_id}")
    if row["status"] not in WORKING:
        raise StoreError(
            "case_not_workable",
            f"case {row['number']} is {row['status']}: it is {doing} only while being worked"
            f" ({', '.join(WORKING)})",
        )
    return row


async def take_case(conn: Any, case_id: int, actor: str, within: Within) -> Case:
    """`actor` works the case from now on (its assignee); a case not yet being worked
    (registered, forwarded) moves to `in_progress`."""
    async with conn.transaction():
        row = await _working(conn, case_id, within, "taken")
        if row["assignee"] != actor:
            await conn.execute(
                "UPDATE cases SET assignee = $2, updated_at = now() WHERE id = $1",
                case_id,
                actor,
            )
            changes = {"assignee": {"old": row["assignee"], "new": actor}}
            await cases.record(conn, case_id, actor, "taken", changes)
        if row["status"] != "in_progress":
            await cases.move_case(conn, case_id, "in_progress", actor)
        return await cases.get_case(conn, case_id)


async def add_note(conn: Any, case_id: int, note: str, actor: str, within: Within) -> CaseEvent:
    """An internal note in the case's history: for the organisations and the hotline's
    staff, never read to the citizen (that is the result)."""
    if len(note) > MAX_DESCRIPTION:
        raise StoreError("text_too_long", f"a note is at most {MAX_DESCRIPTION} characters")
    async with conn.transaction():
        await cases.get_case(conn, case_id, within)
        await conn.execute("UPDATE cases SET updated_at = now() WHERE id = $1", case_id)
        await cases.record(conn, case_id, actor, "note", {"note": note, "internal": True})
    return (await cases.case_history(conn, case_id))[-1]


async def hand_over(
    conn: Any, case_id: int, organisation: str, reason: str, actor: str, within: Within
) -> Case:
    """The case goes to `organisation` (it answers for it from now on, nobody of it has
    taken it yet) and is `forwarded`; the history keeps who, when and why. The first
    organisation no longer sees it."""
    if len(reason) > MAX_DESCRIPTION:
        raise StoreError("text_too_long", f"a reason is at most {MAX_DESCRIPTION} characters")
    async with conn.transaction():
        row = await _working(conn, case_id, within, "handed over")
        if organisation == row["organisation"]:
            raise StoreError(
                "same_organisation", f"case {row['number']} is with {organisation} already"
            )
        if not await conn.fetchval("SELECT true FROM organisations WHERE code = $1", organisation):
            raise StoreError("unknown_organisation", f"no organisation {organisation!r}")
        await conn.execute(
            "UPDATE cases SET organisation = $2, assignee = NULL, updated_at = now() WHERE id = $1",
            case_id,
            organisation,
        )
        changes = {
            "organisation": {"old": row["organisation"], "new": organisation},
            "reason": reason,
        }
        if row["assignee"] is not None:
            changes["assignee"] = {"old": row["assignee"], "new": None}
        await cases.record(conn, case_id, actor, "handed_over", changes)
        if row["status"] != "forwarded":
            await cases.move_case(conn, case_id, "forwarded", actor)
        return await cases.get_case(conn, case_id)
