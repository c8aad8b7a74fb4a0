"""Calls the centre owes citizens (issue 21), as tasks of one kind or another:

- `result`: a case that reaches `resolved` gets a task "tell the citizen", with the
  result text; leaving `resolved` any other way cancels it;
- `callback`: an agent promised to call a citizen back at a time (`schedule_callback`);
  she gets it first until `prefer_until`, then anyone of its queue; a second request
  for the same number is merged into the open one.

An agent calls (one attempt: `start_attempt`, then the ACD's outbound call) and records
what came of it (`record_outcome`): every attempt of a case's task goes into the case's
history, `informed` (reached) closes it (a result's case moves to `citizen_informed`),
no answer or busy tries again later until the attempts are spent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cti.store.errors import StoreError

OUTCOMES = ("informed", "no_answer", "busy", "wrong_number", "refused")
_FINAL = {"informed": "informed", "wrong_number": "wrong_number", "refused": "refused"}
STATUSES = ("pending", "calling", "informed", "refused", "wrong_number", "failed", "cancelled")
_COLUMNS = (
    "n.id, n.kind, n.case_id, c.number AS case_number, c.topic, n.phone, n.result, n.status,"
    " n.attempts, n.next_at, n.agent, n.call_id, n.last_outcome, n.prefer_agent,"
    " n.prefer_until, n.queue, n.created_by, n.created_at, n.updated_at"
)
_FROM = "FROM notifications n LEFT JOIN cases c ON c.id = n.case_id"
MAX_NOTE = 2000


@dataclass(frozen=True)
class RetryRules:
    max_attempts: int = 3
    retry_after_s: float = 3600.0


async def case_moved(
    conn: Any, case_id: int, old: str, new: str, note: str, by_task: bool = False
) -> None:
    """Inside a case's status move: `resolved` opens the task (the move's note is the
    result the citizen is told); leaving `resolved` any way but through the task itself
    (`by_task`) cancels it — a case moved on by hand is not called about again. A case
    without a phone number gets no task."""
    if new == "resolved":
        await conn.execute(
            "INSERT INTO notifications (case_id, phone, result)"
            " SELECT id, phone, $2 FROM cases WHERE id = $1 AND phone IS NOT NULL"
            " ON CONFLICT (case_id) WHERE status IN ('pending', 'calling') DO NOTHING",
            case_id,
            note,
        )
    elif old == "resolved" and not by_task:
        await conn.execute(
            "UPDATE notifications SET status = 'cancelled', updated_at = now()"
            " WHERE case_id = $1 AND status IN ('pending', 'calling')",
            case_id,
        )


async def schedule_callback(
    conn: Any,
    phone: str,
    at: dt.datetime,
    agent: str | None,
    grace_s: float,
    note: str,
    queue: str | None,
    actor: str,
) -> tuple[dict[str, Any], bool]:
    """A callback promised for `at` (`phone` in E.164): `agent` gets it first until
    `grace_s` after `at`, then anyone of `queue`. A pending callback for the number takes
    this one in (the earlier time, both notes, the newest promise's agent; one being
    called now does not); returns the task and whether it was merged."""
    if len(note) > MAX_NOTE:
        raise StoreError("note_too_long", f"a callback's note is at most {MAX_NOTE} characters")
    until = at + dt.timedelta(seconds=grace_s) if agent else None
    row = await conn.fetchrow(
        "INSERT INTO notifications AS n (kind, phone, result, next_at, prefer_agent,"
        " prefer_until, queue, created_by) VALUES ('callback', $1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (phone) WHERE kind = 'callback' AND status = 'pending'"
        " DO UPDATE SET next_at = least(n.next_at, EXCLUDED.next_at),"
        " result = left(concat_ws(E'\\n', nullif(n.result, ''), nullif(EXCLUDED.result, '')),"
        " 10000),"
        " prefer_agent = coalesce(EXCLUDED.prefer_agent, n.prefer_agent),"
        " prefer_until = coalesce(EXCLUDED.prefer_until, n.prefer_until),"
        " queue = coalesce(EXCLUDED.queue, n.queue), updated_at = now()"
        " RETURNING n.id, (xmax <> 0) AS merged",
        phone,
        note,
        at,
        agent,
        until,
        queue,
        actor,
    )
    return await get(conn, row["id"]), bool(row["merged"])


async def listed(conn: Any, status: str | None, due_only: bool, limit: int) -> list[dict[str, Any]]:
    """Tasks by status (all: None), oldest due first; `due_only`: pending and due now."""
    if status is not None and status not in STATUSES:
        raise StoreError("unknown_status", f"no notification status {status!r}")
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} {_FROM}"
        " WHERE ($1::text IS NULL OR n.status = $1)"
        " AND (NOT $2 OR (n.status = 'pending' AND n.next_at <= now()))"
        " ORDER BY n.next_at, n.id LIMIT $3",
        "pending" if due_only else status,
        due_only,
        limit,
    )
    return [dict(r) for r in rows]


async def get(conn: Any, nid: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} {_FROM} WHERE n.id = $1",
        nid,
    )
    if row is None:
        raise StoreError("notification_not_found", f"no notification {nid}")
    return dict(row)


async def start_attempt(conn: Any, nid: int, agent: str) -> dict[str, Any]:
    """Take a due task for `agent`'s call: one attempt more, `calling`. Refused when it
    is not pending and due (someone else took it, it is done, or its retry is later)."""
    row = await conn.fetchrow(
        "UPDATE notifications SET status = 'calling', attempts = attempts + 1, agent = $2,"
        " call_id = NULL, updated_at = now()"
        " WHERE id = $1 AND status = 'pending' AND next_at <= now() RETURNING id",
        nid,
        agent,
    )
    if row is None:
        task = await get(conn, nid)
        raise StoreError(
            "notification_not_due",
            f"notification {nid} is {task['status']}"
            + (
                f", next attempt at {task['next_at']:%Y-%m-%d %H:%M} UTC"
                if task["status"] == "pending"
                else ""
            ),
        )
    return await get(conn, nid)


async def call_placed(conn: Any, nid: int, call_id: str) -> None:
    await conn.execute("UPDATE notifications SET call_id = $2 WHERE id = $1", nid, call_id)


async def attempt_not_placed(conn: Any, nid: int) -> None:
    """The call could not be placed (the agent was busy, say): as if never taken."""
    await conn.execute(
        "UPDATE notifications SET status = 'pending', attempts = attempts - 1, agent = NULL,"
        " updated_at = now() WHERE id = $1 AND status = 'calling'",
        nid,
    )


async def record_outcome(
    conn: Any,
    nid: int,
    outcome: str,
    rules: RetryRules,
    agent: str | None = None,
    in_call: bool = False,
) -> tuple[int | None, dict[str, Any]]:
    """What came of the attempt, on the task (inside the caller's transaction: cases.py
    `notification_outcome` writes the case's side): no answer or busy, pending again
    after `retry_after_s`, or `failed` when the attempts are spent. `agent` (None: a
    supervisor) may record only her own attempt, or, `in_call` with that citizen, that
    she told a pending one. Returns the case and the change for its history."""
    if outcome not in OUTCOMES:
        raise StoreError("bad_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
    task = await conn.fetchrow(
        "SELECT case_id, kind, status, attempts, agent, phone FROM notifications"
        " WHERE id = $1 FOR UPDATE",
        nid,
    )
    if task is None:
        raise StoreError("notification_not_found", f"no notification {nid}")
    # Pending and told: the citizen called in and heard it in that call (no attempt).
    told_inbound = task["status"] == "pending" and outcome == "informed"
    if task["status"] != "calling" and not told_inbound:
        raise StoreError(
            "notification_not_calling",
            f"notification {nid} is {task['status']}: no attempt to record",
        )
    mine = task["agent"] == agent if task["status"] == "calling" else in_call
    if agent is not None and not mine:
        raise StoreError(
            "notification_not_yours",
            f"notification {nid}: only the agent who called, or one talking with the citizen,"
            " records what came of it",
        )
    status = _FINAL.get(outcome)
    next_at = None
    if status is None:
        spent = task["attempts"] >= rules.max_attempts
        status = "failed" if spent else "pending"
        if not spent:
            next_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=rules.retry_after_s)
        if (
            not spent
            and task["kind"] == "callback"
            and await conn.fetchval(
                "SELECT true FROM notifications WHERE kind = 'callback' AND status = 'pending'"
                " AND phone = $1 AND id <> $2",
                task["phone"],
                nid,
            )
        ):
            status = "cancelled"  # a newer promise to call this citizen back stands
    await conn.execute(
        "UPDATE notifications SET status = $2, last_outcome = $3,"
        " next_at = coalesce($4, next_at), updated_at = now() WHERE id = $1",
        nid,
        status,
        outcome,
        next_at,
    )
    changes: dict[str, Any] = {
        "notification": nid,
        "outcome": outcome,
        "attempt": task["attempts"],
        "status": status,
        "kind": task["kind"],
    }
    if next_at is not None:
        changes["next_at"] = next_at.isoformat()
    if told_inbound:
        changes["in_the_citizens_call"] = True
    return task["case_id"], changes


async def report(conn: Any, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Tasks opened in [start, end) by kind and where they stand, with their attempts."""
    rows = await conn.fetch(
        "SELECT kind, status, count(*) AS tasks, sum(attempts) AS attempts FROM notifications"
        " WHERE created_at >= $1 AND created_at < $2 GROUP BY kind, status ORDER BY kind, status",
        start,
        end,
    )
    return [dict(r) for r in rows]


async def release_stale(
    conn: Any, live_calls: list[str], older_than_s: float, rules: RetryRules
) -> int:
    """Attempts left `calling` with no outcome recorded (a desktop closed mid-call), whose
    call is over and that have not changed for `older_than_s`: pending again at once, or
    `failed` when their attempts are spent (a callback with a newer promise pending:
    cancelled); `last_outcome` says `unrecorded`. Returns how many."""
    stale = (
        "status = 'calling' AND updated_at < now() - make_interval(secs => $1)"
        " AND NOT (coalesce(call_id, '') = ANY($2::text[]))"
    )
    async with conn.transaction():
        superseded = await conn.fetch(
            "UPDATE notifications n SET status = 'cancelled', last_outcome = 'unrecorded',"
            f" updated_at = now() WHERE {stale} AND kind = 'callback' AND EXISTS ("
            " SELECT 1 FROM notifications o WHERE o.kind = 'callback'"
            " AND o.status = 'pending' AND o.phone = n.phone) RETURNING id",
            older_than_s,
            live_calls,
        )
        released = await conn.fetch(
            "UPDATE notifications SET last_outcome = 'unrecorded', updated_at = now(),"
            " status = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,"
            f" next_at = now() WHERE {stale} RETURNING id",
            older_than_s,
            live_calls,
            rules.max_attempts,
        )
    return len(superseded) + len(released)
