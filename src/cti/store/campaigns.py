"""Survey campaigns in the database (issue 21; the pure rules: `cti.campaigns.models`).

A campaign owns its numbers (each once); the runner takes due numbers (`claim_due`,
skipping and closing the opted-out), the IVR marks an answered call `surveying`, stores
each answer and the outcome (`record_outcome`, which also schedules the next attempt).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cti.campaigns.models import MOVES, OUTCOMES, Rules, after_attempt
from cti.store.errors import StoreError

_CAMPAIGN = (
    "c.id, c.name, c.organisation, c.questionnaire, c.calendar, c.max_attempts,"
    " c.retry_after_s, c.lines, c.state, c.created_by, c.created_at, c.updated_at"
)
_PROGRESS = (
    "(SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n"
    " FROM campaign_numbers WHERE campaign_id = c.id GROUP BY status) s) AS statuses,"
    " (SELECT jsonb_object_agg(last_outcome, n) FROM (SELECT last_outcome, count(*) AS n"
    " FROM campaign_numbers WHERE campaign_id = c.id AND last_outcome IS NOT NULL"
    " GROUP BY last_outcome) o) AS outcomes,"
    " (SELECT count(*) FROM campaign_numbers WHERE campaign_id = c.id) AS numbers,"
    " (SELECT coalesce(sum(attempts), 0) FROM campaign_numbers WHERE campaign_id = c.id)"
    " AS attempts"
)


def _campaign(row: Any) -> dict[str, Any]:
    out = dict(row)
    for key in ("questionnaire", "statuses", "outcomes"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    for key in ("statuses", "outcomes"):
        if key in out and out[key] is None:
            out[key] = {}
    return out


async def create(conn: Any, spec: dict[str, Any], actor: str) -> dict[str, Any]:
    """A new campaign in `draft` (no numbers yet)."""
    if spec.get("organisation") is not None:
        known = await conn.fetchval(
            "SELECT 1 FROM organisations WHERE code = $1", spec["organisation"]
        )
        if known is None:
            raise StoreError("unknown_organisation", f"no organisation {spec['organisation']!r}")
    cid = await conn.fetchval(
        "INSERT INTO campaigns (name, organisation, questionnaire, calendar, max_attempts,"
        " retry_after_s, lines, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " RETURNING id",
        spec["name"],
        spec.get("organisation"),
        json.dumps(spec["questionnaire"]),
        spec.get("calendar"),
        spec["max_attempts"],
        round(spec["retry_after_s"]),
        spec["lines"],
        actor,
    )
    return await get(conn, cid)


async def get(conn: Any, cid: int) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {_CAMPAIGN}, {_PROGRESS} FROM campaigns c WHERE id = $1", cid
    )
    if row is None:
        raise StoreError("campaign_not_found", f"no campaign {cid}")
    return _campaign(row)


async def listed(conn: Any, state: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_CAMPAIGN}, {_PROGRESS} FROM campaigns c"
        " WHERE ($1::text IS NULL OR state = $1) ORDER BY id DESC LIMIT 200",
        state,
    )
    return [_campaign(r) for r in rows]


async def move(conn: Any, cid: int, new: str, old: str | None = None) -> dict[str, Any]:
    """draft -> running, running <-> paused, running/paused -> done (from `old` only, when
    given: a resume is from paused); running needs numbers."""
    async with conn.transaction():
        row = await conn.fetchrow("SELECT state FROM campaigns WHERE id = $1 FOR UPDATE", cid)
        if row is None:
            raise StoreError("campaign_not_found", f"no campaign {cid}")
        if (row["state"], new) not in MOVES or old not in (None, row["state"]):
            raise StoreError("bad_campaign_state", f"campaign {cid} is {row['state']}, not {new}")
        if new == "running" and not await conn.fetchval(
            "SELECT 1 FROM campaign_numbers WHERE campaign_id = $1 LIMIT 1", cid
        ):
            raise StoreError("campaign_empty", f"campaign {cid} has no numbers to call")
        await conn.execute(
            "UPDATE campaigns SET state = $2, updated_at = now() WHERE id = $1", cid, new
        )
    return await get(conn, cid)


async def discard(conn: Any, cid: int) -> None:
    """Delete a draft (nobody was called for it) with its numbers; a campaign that ran
    keeps its record (StoreError `bad_campaign_state`)."""
    async with conn.transaction():
        state = await conn.fetchval("SELECT state FROM campaigns WHERE id = $1 FOR UPDATE", cid)
        if state is None:
            raise StoreError("campaign_not_found", f"no campaign {cid}")
        if state != "draft":
            raise StoreError("bad_campaign_state", f"campaign {cid} is {state}, not a draft")
        await conn.execute("DELETE FROM campaigns WHERE id = $1", cid)


async def _editable(conn: Any, cid: int) -> None:
    """In the caller's transaction: the campaign stays (a discard waits) until it ends."""
    state = await conn.fetchval("SELECT state FROM campaigns WHERE id = $1 FOR SHARE", cid)
    if state is None:
        raise StoreError("campaign_not_found", f"no campaign {cid}")
    if state == "done":
        raise StoreError("bad_campaign_state", f"campaign {cid} is done")


async def add_numbers(conn: Any, cid: int, phones: list[str]) -> tuple[int, int]:
    """Numbers of an uploaded list; returns (added, merged with ones already there)."""
    async with conn.transaction():
        await _editable(conn, cid)
        added = await conn.fetchval(
            "WITH ins AS (INSERT INTO campaign_numbers (campaign_id, phone)"
            " SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT count(*) FROM ins",
            cid,
            phones,
        )
    return int(added), len(phones) - int(added)


async def add_from(
    conn: Any,
    cid: int,
    source: str,
    start: dt.datetime,
    end: dt.datetime,
    topic: str | None,
    organisation: str | None,
) -> tuple[int, int]:
    """The citizens of the cases (`cases`, by creation) or calls (`calls`, by arrival)
    of a period, of a topic (and its sub-topics) and organisation; one row a number (its
    latest case or call, for results per topic and organisation)."""
    async with conn.transaction():
        await _editable(conn, cid)
        if source == "cases":
            select = (
                "SELECT DISTINCT ON (x.phone) x.phone, x.id AS case_id, NULL::text AS iid,"
                " x.topic, coalesce(x.organisation, t.organisation) AS org"
                " FROM cases x LEFT JOIN topics t ON t.code = x.topic"
                " WHERE x.phone IS NOT NULL AND x.created_at >= $2 AND x.created_at < $3"
            )
        else:
            select = (
                "SELECT DISTINCT ON (x.caller_number) x.caller_number AS phone,"
                " NULL::bigint AS case_id, x.id AS iid, x.topic, t.organisation AS org"
                " FROM interactions x LEFT JOIN topics t ON t.code = x.topic"
                " WHERE x.caller_number ~ '^\\+[1-9][0-9]{6,14}$'"
                " AND x.arrived_at >= $2 AND x.arrived_at < $3"
            )
        order = (
            "x.phone, x.created_at DESC"
            if source == "cases"
            else "x.caller_number, x.arrived_at DESC"
        )
        row = await conn.fetchrow(
            f"WITH src AS ({select}"
            " AND ($4::text IS NULL OR x.topic = $4 OR x.topic LIKE $4 || '.%')"
            " AND ($5::text IS NULL OR coalesce(t.organisation, '') = $5"
            + (" OR x.organisation = $5" if source == "cases" else "")
            + f") ORDER BY {order}),"
            " ins AS (INSERT INTO campaign_numbers (campaign_id, phone, case_id, interaction_id,"
            " topic, organisation) SELECT $1, phone, case_id, iid, topic, org FROM src"
            " ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT (SELECT count(*) FROM ins) AS added, (SELECT count(*) FROM src) AS found",
            cid,
            start,
            end,
            topic,
            organisation,
        )
    return int(row["added"]), int(row["found"]) - int(row["added"])


async def claim_due(conn: Any, cid: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` due numbers taken for a call (one attempt more, `calling`). Opted-out
    numbers are closed first (`opted_out`, no attempt): never called."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE campaign_numbers n SET status = 'opted_out', last_outcome = 'opted_out',"
            " updated_at = now() FROM survey_opt_outs o"
            " WHERE n.campaign_id = $1 AND n.status = 'pending' AND o.phone = n.phone",
            cid,
        )
        rows = await conn.fetch(
            "UPDATE campaign_numbers SET status = 'calling', attempts = attempts + 1,"
            " updated_at = now() WHERE id IN (SELECT id FROM campaign_numbers"
            " WHERE campaign_id = $1 AND status = 'pending' AND next_at <= now()"
            " AND NOT EXISTS (SELECT 1 FROM survey_opt_outs o"
            " WHERE o.phone = campaign_numbers.phone)"
            " ORDER BY next_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING id, campaign_id, phone, attempts",
            cid,
            limit,
        )
    return [dict(r) for r in rows]


async def finish_if_done(conn: Any, cid: int) -> bool:
    """A running campaign with no number left to call is `done`."""
    row = await conn.fetchrow(
        "UPDATE campaigns c SET state = 'done', updated_at = now() WHERE id = $1"
        " AND state = 'running' AND NOT EXISTS (SELECT 1 FROM campaign_numbers"
        " WHERE campaign_id = c.id AND status IN ('pending', 'calling', 'surveying'))"
        " RETURNING id",
        cid,
    )
    return row is not None


async def start_survey(conn: Any, nid: int) -> dict[str, Any] | None:
    """The IVR has the citizen on the line: the number is `surveying`; returns its
    campaign's questionnaire and the number, or None (not being called now)."""
    row = await conn.fetchrow(
        "UPDATE campaign_numbers n SET status = 'surveying', updated_at = now()"
        " FROM campaigns c WHERE n.id = $1 AND c.id = n.campaign_id AND n.status = 'calling'"
        " RETURNING n.id, n.phone, n.campaign_id, c.questionnaire",
        nid,
    )
    if row is None:
        return None
    out = dict(row)
    if isinstance(out["questionnaire"], str):
        out["questionnaire"] = json.loads(out["questionnaire"])
    return out


async def save_answer(
    conn: Any, nid: int, question: str, value: str, comment_file: str | None = None
) -> None:
    await conn.execute(
        "INSERT INTO campaign_answers (number_id, question, value, comment_file)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (number_id, question)"
        " DO UPDATE SET value = EXCLUDED.value, comment_file = EXCLUDED.comment_file, at = now()",
        nid,
        question,
        value,
        comment_file,
    )


async def opt_out(conn: Any, phone: str, cid: int | None) -> None:
    """Never called again, by any campaign."""
    await conn.execute(
        "INSERT INTO survey_opt_outs (phone, campaign_id) VALUES ($1, $2)"
        " ON CONFLICT (phone) DO NOTHING",
        phone,
        cid,
    )


async def record_outcome(conn: Any, nid: int, outcome: str) -> str | None:
    """The attempt in progress ended with `outcome`: recorded, and the number's status
    and next attempt set by the campaign's rules. None when no attempt was in progress
    (recorded already: the first outcome wins)."""
    if outcome not in OUTCOMES:
        raise StoreError("bad_outcome", f"no campaign outcome {outcome!r}")
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT n.attempts, c.max_attempts, c.retry_after_s FROM campaign_numbers n"
            " JOIN campaigns c ON c.id = n.campaign_id"
            " WHERE n.id = $1 AND n.status IN ('calling', 'surveying') FOR UPDATE OF n",
            nid,
        )
        if row is None:
            return None
        rules = Rules(row["max_attempts"], row["retry_after_s"])
        now = await conn.fetchval("SELECT now()")
        status, next_at = after_attempt(outcome, row["attempts"], rules, now)
        await conn.execute(
            "UPDATE campaign_numbers SET status = $2, last_outcome = $3, next_at = $4,"
            " updated_at = now() WHERE id = $1",
            nid,
            status,
            outcome,
            next_at,
        )
        await conn.execute(
            "INSERT INTO campaign_attempts (number_id, attempt, outcome) VALUES ($1, $2, $3)",
            nid,
            row["attempts"],
            outcome,
        )
    return str(status)


async def number_status(conn: Any, nid: int) -> str | None:
    return await conn.fetchval("SELECT status FROM campaign_numbers WHERE id = $1", nid)  # type: ignore[no-any-return]


async def release_calling(conn: Any) -> int:
    """At start: attempts a previous run left in progress are over (`failed`, retried)."""
    rows = await conn.fetch(
        "SELECT id FROM campaign_numbers WHERE status IN ('calling', 'surveying')"
    )
    for row in rows:
        await record_outcome(conn, row["id"], "failed")
    return len(rows)
