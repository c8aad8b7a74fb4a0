"""Deadlines of citizens' cases (issue 22): which cases still being worked are due soon
(their deadline from the centre's today to `days` ahead) or overdue (past it), the
alerts raised once per case and kind, each user's inbox of them with its e-mail state,
and the on-time rates of resolved cases.

"Today" is the caller's: the centre's day (settings.timezone), never the database's.
A reader's organisations (`within`, as in `cti.store.cases`) bound every list: an
organisation user sees only its organisations' cases and alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from cti.store.cases import CASE_COLUMNS, Within
from cti.store.errors import StoreError
from cti.store.models import Case

Kind = Literal["due_soon", "overdue"]
KINDS: tuple[Kind, ...] = ("due_soon", "overdue")
_WORKING = "status IN ('registered', 'forwarded', 'in_progress')"


def _when(kind: Kind, today: str, days: str) -> str:
    """The condition on `deadline` for a kind (`today` and `days`: SQL arguments)."""
    if kind == "overdue":
        return f"deadline < {today}"
    return f"deadline >= {today} AND deadline <= {today} + {days}::int"


async def due_cases(
    conn: Any,
    kind: Kind,
    today: dt.date,
    days: int = 2,
    *,
    organisation: str | None = None,
    topic: str | None = None,
    within: Within = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Case], int]:
    """The cases still being worked that are `kind` today (deadline order), a page and
    the total; `topic` takes its sub-topics too."""
    args: list[Any] = [today] + ([days] if kind == "due_soon" else [])  # only those used
    where = [_WORKING, _when(kind, "$1", "$2")]
    for value, clause in (
        (organisation, "organisation = {}"),
        (topic, "(topic = {0} OR topic LIKE {0} || '.%')"),
        (None if within is None else sorted(within), "cti_within(organisation, {}::text[])"),
    ):
        if value is not None:
            args.append(value)
            where.append(clause.format(f"${len(args)}"))
    condition = " AND ".join(where)
    total = await conn.fetchval(f"SELECT count(*) FROM cases WHERE {condition}", *args)
    rows = await conn.fetch(
        f"SELECT {CASE_COLUMNS} FROM cases WHERE {condition}"
        f" ORDER BY deadline, id LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    return [Case.model_validate(dict(r)) for r in rows], int(total)


async def due_summary(
    conn: Any, today: dt.date, days: int = 2, within: Within = None
) -> list[dict[str, Any]]:
    """Per organisation and topic: how many cases are due soon and how many overdue."""
    scope = "" if within is None else " AND cti_within(organisation, $3::text[])"
    args: list[Any] = [today, days] + ([] if within is None else [sorted(within)])
    rows = await conn.fetch(
        f"""
        SELECT coalesce(organisation, '') AS organisation, topic,
          count(*) FILTER (WHERE {_when("due_soon", "$1", "$2")}) AS due_soon,
          count(*) FILTER (WHERE {_when("overdue", "$1", "$2")}) AS overdue
        FROM cases WHERE {_WORKING} AND deadline <= $1 + $2::int{scope}
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        *args,
    )
    return [dict(r) for r in rows]


async def raise_alerts(
    conn: Any, today: dt.date, due_soon_days: int, email: bool
) -> list[dict[str, Any]]:
    """Raise the alerts not raised yet (one per case and kind, ever) and put them in
    the inboxes: an organisation user's for its organisations' cases, a supervisor's for
    overdue ones (the escalation); with `email`, users with an address get it mailed.
    Idempotent and safe for two checkers at once (INSERT ... ON CONFLICT DO NOTHING on
    (case, kind): the second waits for the first and inserts nothing). Returns the new
    alerts with their cases, for the events."""
    raised: list[dict[str, Any]] = []
    async with conn.transaction():
        for kind in KINDS:
            rows = await conn.fetch(
                f"""
                INSERT INTO deadline_alerts (case_id, kind, deadline)
                SELECT id, $2, deadline FROM cases
                WHERE {_WORKING} AND {_when(kind, "$1", "$3")}
                ORDER BY deadline, id
                ON CONFLICT (case_id, kind) DO NOTHING
                RETURNING id, case_id, kind, deadline
                """,
                today,
                kind,
                *([due_soon_days] if kind == "due_soon" else []),  # only the arguments used
            )
            raised.extend(dict(r) for r in rows)
        if not raised:
            return []
        ids = [r["id"] for r in raised]
        await conn.execute(
            """
            INSERT INTO alert_inbox (alert_id, username, email_status)
            SELECT a.id, u.username,
                   CASE WHEN $2 AND u.email IS NOT NULL THEN 'pending' ELSE 'none' END
            FROM deadline_alerts a JOIN cases c ON c.id = a.case_id
            JOIN users u ON NOT u.disabled AND (
                (u.role = 'organisation' AND EXISTS (
                    SELECT 1 FROM user_organisations o
                    WHERE o.username = u.username
                    AND cti_within(c.organisation, ARRAY[o.organisation])))
                OR (a.kind = 'overdue' AND u.role = 'supervisor'))
            WHERE a.id = ANY($1::bigint[])
            ORDER BY a.id, u.username
            ON CONFLICT (alert_id, username) DO NOTHING
            """,
            ids,
            email,
        )
        cases = await conn.fetch(
            f"SELECT {CASE_COLUMNS} FROM cases WHERE id = ANY($1::bigint[])",
            [r["case_id"] for r in raised],
        )
    by_id = {c["id"]: Case.model_validate(dict(c)) for c in cases}
    return [{**r, "case": by_id[r["case_id"]]} for r in raised]


_ENTRY = """
    SELECT i.id, a.kind, a.raised_at, i.read_at IS NOT NULL AS read, c.id AS case_id,
           c.number AS case_number, c.topic, c.organisation, c.deadline, c.status
    FROM alert_inbox i JOIN deadline_alerts a ON a.id = i.alert_id
    JOIN cases c ON c.id = a.case_id
"""


async def inbox(
    conn: Any, username: str, within: Within, unread_only: bool = False, limit: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """A user's alerts, newest first, and how many are unread. An organisation user's
    keep to the cases still of its organisations (a case handed over leaves them)."""
    scope = "" if within is None else " AND cti_within(c.organisation, $2::text[])"
    args: list[Any] = [username] + ([] if within is None else [sorted(within)])
    unread = await conn.fetchval(
        "SELECT count(*) FROM alert_inbox i JOIN deadline_alerts a ON a.id = i.alert_id"
        f" JOIN cases c ON c.id = a.case_id WHERE i.username = $1 AND i.read_at IS NULL{scope}",
        *args,
    )
    only = " AND i.read_at IS NULL" if unread_only else ""
    rows = await conn.fetch(
        f"{_ENTRY} WHERE i.username = $1{scope}{only} ORDER BY i.id DESC LIMIT {int(limit)}",
        *args,
    )
    return [dict(r) for r in rows], int(unread)


async def mark_read(conn: Any, username: str, entry_id: int | None, within: Within) -> int:
    """Mark one of the user's entries read (None: all of them); how many changed. An
    entry not the user's (or of a case it no longer sees) is `inbox_entry_not_found`."""
    scope = "" if within is None else " AND cti_within(c.organisation, $3::text[])"
    args: list[Any] = [username, entry_id] + ([] if within is None else [sorted(within)])
    found = await conn.fetch(
        f"""
        UPDATE alert_inbox i SET read_at = coalesce(i.read_at, now())
        FROM deadline_alerts a JOIN cases c ON c.id = a.case_id
        WHERE a.id = i.alert_id AND i.username = $1 AND ($2::bigint IS NULL OR i.id = $2)
          {scope}
        RETURNING i.id
        """,
        *args,
    )
    if entry_id is not None and not found:
        raise StoreError("inbox_entry_not_found", f"no entry {entry_id} in your inbox")
    return len(found)


async def claim_mail(conn: Any, limit: int, lease_s: float) -> list[dict[str, Any]]:
    """E-mails due now, claimed for `lease_s` (a checker that dies mid-send leaves them
    to the next round); two checkers never claim one (FOR UPDATE SKIP LOCKED)."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
          SELECT id FROM alert_inbox WHERE email_status = 'pending' AND email_next_at <= now()
          ORDER BY email_next_at, id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED)
        UPDATE alert_inbox i
        SET email_attempts = i.email_attempts + 1,
            email_next_at = now() + make_interval(secs => $1)
        FROM due WHERE i.id = due.id
        RETURNING i.id
        """,
        lease_s,
    )
    if not rows:
        return []
    found = await conn.fetch(
        f"""
        SELECT e.*, u.email, i.email_attempts AS attempts, c.description
        FROM ({_ENTRY} WHERE i.id = ANY($1::bigint[])) e
        JOIN alert_inbox i ON i.id = e.id JOIN users u ON u.username = i.username
        JOIN cases c ON c.id = e.case_id ORDER BY e.id
        """,
        [r["id"] for r in rows],
    )
    return [dict(r) for r in found]


async def mail_done(
    conn: Any, entry_id: int, error: str | None, attempts: int, max_attempts: int, retry_s: float
) -> str:
    """The outcome of an e-mail: sent, or failed (retried after `retry_s` doubled per
    attempt until `max_attempts`). The inbox entry stays whatever happens."""
    if error is None:
        status, delay = "sent", 0.0
    else:
        status = "failed" if attempts >= max_attempts else "pending"
        delay = retry_s * 2 ** (attempts - 1)
    await conn.execute(
        "UPDATE alert_inbox SET email_status = $2, email_error = $3,"
        " email_next_at = now() + make_interval(secs => $4) WHERE id = $1",
        entry_id,
        status,
        (error or "")[:500],
        delay,
    )
    return status


async def on_time(
    conn: Any, start: dt.datetime, end: dt.datetime, timezone: str
) -> list[dict[str, Any]]:
    """Per organisation and topic, the cases resolved in the period (their last move to
    `resolved`, whatever came after) and how many by their deadline (the day of the
    resolve in the centre's time zone at most the deadline); rate = on time / resolved."""
    rows = await conn.fetch(
        """
        WITH resolved AS (
          SELECT case_id, max(at) AS at FROM case_history
          WHERE action = 'status' AND changes -> 'status' ->> 'new' = 'resolved'
          GROUP BY case_id)
        SELECT coalesce(c.organisation, '') AS organisation, c.topic,
          count(*) AS resolved,
          count(*) FILTER (WHERE (r.at AT TIME ZONE $3)::date <= c.deadline) AS on_time
        FROM resolved r JOIN cases c ON c.id = r.case_id
        WHERE r.at >= $1 AND r.at < $2 AND c.deadline IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        start,
        end,
        timezone,
    )
    return [
        {**dict(r), "rate": round(r["on_time"] / r["resolved"], 4) if r["resolved"] else None}
        for r in rows
    ]
