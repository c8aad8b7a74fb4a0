"""A survey campaign's results: outcomes, answers per question (counts; mean for
scales), and per topic and organisation of the case or call the number came from."""

from __future__ import annotations

import json
from typing import Any

from cti.store.campaigns import get


async def results(conn: Any, cid: int) -> dict[str, Any]:
    campaign = await get(conn, cid)
    kinds = {q["id"]: q["kind"] for q in campaign["questionnaire"]["questions"]}
    rows = await conn.fetch(
        "SELECT a.question, a.value, count(*) AS n FROM campaign_answers a"
        " JOIN campaign_numbers n ON n.id = a.number_id WHERE n.campaign_id = $1"
        " GROUP BY a.question, a.value ORDER BY a.question, a.value",
        cid,
    )
    questions: dict[str, dict[str, Any]] = {
        q: {"question": q, "kind": k, "answers": 0, "counts": {}, "mean": None}
        for q, k in kinds.items()
    }
    for r in rows:
        q = questions.setdefault(
            r["question"], {"question": r["question"], "kind": "", "answers": 0, "counts": {}}
        )
        q["counts"][r["value"]] = int(r["n"])
        q["answers"] += int(r["n"])
    for q in questions.values():
        if q["kind"] == "scale" and q["answers"]:
            total = sum(int(v) * n for v, n in q["counts"].items())
            q["mean"] = round(total / q["answers"], 2)
    groups = await conn.fetch(
        "SELECT coalesce(n.topic, '') AS topic, coalesce(n.organisation, '') AS organisation,"
        " a.question, count(*) AS answers,"
        " avg(CASE WHEN a.value ~ '^[1-5]$' THEN a.value::int END) AS mean"
        " FROM campaign_answers a JOIN campaign_numbers n ON n.id = a.number_id"
        " WHERE n.campaign_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        cid,
    )
    by_source = [
        {
            "topic": g["topic"],
            "organisation": g["organisation"],
            "question": g["question"],
            "answers": int(g["answers"]),
            "mean": None
            if g["mean"] is None or kinds.get(g["question"]) != "scale"
            else round(float(g["mean"]), 2),
        }
        for g in groups
    ]
    return {
        "campaign": campaign["id"],
        "name": campaign["name"],
        "numbers": campaign["numbers"],
        "statuses": campaign["statuses"],
        "outcomes": campaign["outcomes"],
        "questions": list(questions.values()),
        "by_topic": by_source,
    }


async def answer_rows(conn: Any, cid: int) -> tuple[list[str], list[list[Any]]]:
    """One CSV line per number: its outcome, attempts, source, and each question's answer."""
    campaign = await get(conn, cid)
    ids = [q["id"] for q in campaign["questionnaire"]["questions"]]
    rows = await conn.fetch(
        "SELECT n.id, n.phone, n.status, n.last_outcome, n.attempts, n.topic, n.organisation,"
        " coalesce(jsonb_object_agg(a.question, a.value) FILTER (WHERE a.question IS NOT NULL),"
        " '{}') AS answers"
        " FROM campaign_numbers n LEFT JOIN campaign_answers a ON a.number_id = n.id"
        " WHERE n.campaign_id = $1 GROUP BY n.id ORDER BY n.id",
        cid,
    )
    header = ["phone", "status", "last_outcome", "attempts", "topic", "organisation", *ids]
    out = []
    for r in rows:
        answers = r["answers"]
        if isinstance(answers, str):
            answers = json.loads(answers)
        out.append(
            [
                r["phone"],
                r["status"],
                r["last_outcome"] or "",
                r["attempts"],
                r["topic"] or "",
                r["organisation"] or "",
                *(answers.get(i, "") for i in ids),
            ]
        )
    return header, out
