"""Organisation users and their journal (issue 22), over REST against real PostgreSQL: a
clerk of one organisation lists, reads and changes only its organisation's cases (the
others are 404 `case_not_found`, like an id that does not exist, on every route), sees
the caller's name and the case's address but not the caller's other cases or calls, and
every read is in the audit log; taking, moving (a bad move has its code), resolving with
the result (the task "tell the citizen" opens as for an agent's resolve, and the agent's
screen-pop shows the result), internal notes, handing over (the history keeps who, when
and why; the first organisation no longer sees it); bad input names the field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from api_helpers import World, world
from cti.api import auth
from cti.cli import main
from cti.store import cases
from cti.store.callers import upsert_caller
from cti.store.models import CallerIn, CaseCreate

RESULT = "Помощта за отопление ви е отпусната от 1 януари."
ASA_PHONE, CHILD_PHONE = "+359888555170", "+359888555171"


async def _clerks(w: World, db_url: str) -> dict[str, Any]:
    """Two organisation users (asa, child) with tokens, a caller with a name, and three
    cases: two of the Agency for Social Assistance, one of child protection (the same
    caller's: the asa clerk must not learn of it)."""
    conn = await asyncpg.connect(db_url)
    try:
        for name, org in (("asa-clerk", "asa"), ("child-clerk", "child")):
            await auth.create_user(conn, name, "organisation", organisations=(org,))
            w.tokens[name] = await auth.issue_token(conn, name)
        await upsert_caller(conn, CallerIn(phone=ASA_PHONE, name="Мария Иванова"))
        today = dt.date.today()
        asa = await cases.create_case(
            conn,
            CaseCreate(
                topic="social.benefits",
                phone=ASA_PHONE,
                description="heating allowance not paid",
                address="Пловдив, ул. Гладстон 5",
                emergency=True,
            ),
            "ann",
        )
        late = await cases.create_case(
            conn, CaseCreate(topic="social"), "ann", today=today - dt.timedelta(days=30)
        )
        child = await cases.create_case(
            conn, CaseCreate(topic="child_protection", phone=CHILD_PHONE), "ann"
        )
        mine = await cases.create_case(
            conn, CaseCreate(topic="child_protection", phone=ASA_PHONE), "ann"
        )
    finally:
        await conn.close()
    return {"asa": asa, "late": late, "child": child, "callers_other": mine}


async def _audit(db_url: str, actor: str) -> list[tuple[str, str, dict[str, Any]]]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT action, target, detail FROM audit_log WHERE actor = $1 ORDER BY id", actor
        )
    finally:
        await conn.close()
    return [(r["action"], r["target"], json.loads(r["detail"])) for r in rows]


async def test_a_clerk_sees_only_its_organisations_cases_on_every_route_and_reads_are_audited(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        made = await _clerks(w, db_url)
        asa, child, other = made["asa"], made["child"], made["callers_other"]
        status, page = await w.call("GET", "/api/v1/journal/cases", "asa-clerk")
        assert status == 200
        assert sorted(c["number"] for c in page["items"]) == sorted(
            [asa.number, made["late"].number]
        )
        (shown,) = [c for c in page["items"] if c["id"] == asa.id]
        assert (shown["phone"], shown["caller_name"], shown["address"]) == (
            ASA_PHONE,
            "Мария Иванова",
            "Пловдив, ул. Гладстон 5",
        )
        # The filters of every case list, within the organisation.
        for query, expected in (
            ("emergency=true", [asa.number]),
            ("overdue=true", [made["late"].number]),
            ("due_within_days=30", [asa.number]),
            ("address=гладстон", [asa.number]),
            ("phone=0888555170", [asa.number]),  # not the caller's child-protection case
            (f"number={asa.number}", [asa.number]),
            (f"number={child.number}", []),
            ("topic=child_protection", []),
            ("organisation=child", []),
            ("status=registered&topic=social.benefits", [asa.number]),
            ("created_from=2000-01-01T00:00:00Z&created_to=2000-01-02T00:00:00Z", []),
        ):
            status, found = await w.call("GET", f"/api/v1/journal/cases?{query}", "asa-clerk")
            assert status == 200, (query, found)
            assert [c["number"] for c in found["items"]] == expected, query

        # Another organisation's case is no case at all for this clerk: the same 404 as
        # an id that does not exist, for reading and for every change.
        for case_id in (child.id, other.id, 999_999):
            base = f"/api/v1/journal/cases/{case_id}"
            for method, path, body in (
                ("GET", base, None),
                ("POST", f"{base}/take", None),
                ("POST", f"{base}/status", {"status": "in_progress"}),
                ("POST", f"{base}/notes", {"note": "seen"}),
                ("POST", f"{base}/handover", {"organisation": "asa", "reason": "ours"}),
            ):
                status, err = await w.call(method, path, "asa-clerk", json=body)
                assert (status, err["code"]) == (404, "case_not_found"), (method, path)
        # The child clerk sees its own (the caller's other case), with no trace of asa's.
        status, theirs = await w.call("GET", f"/api/v1/journal/cases/{other.id}", "child-clerk")
        assert status == 200
        assert theirs["number"] == other.number

        # Every route of the server, as the asa clerk: none shows the child cases.
        hidden = (child.number, other.number, CHILD_PHONE)
        walked = set()
        for route in w.api.app.router.routes():
            path = route.resource.canonical if route.resource is not None else ""
            if route.method == "HEAD" or path in ("/api/v1/logout", "") or "static" in path:
                continue
            for value in (str(child.id), str(other.id)):
                concrete = path
                for name in ("{case_id}", "{phone}", "{number}"):
                    concrete = concrete.replace(name, CHILD_PHONE if name == "{phone}" else value)
                concrete = concrete.replace("{", "x").replace("}", "x")
                body = {} if route.method in ("POST", "PUT", "PATCH") else None
                status, reply = await w.call(route.method, concrete, "asa-clerk", json=body)
                walked.add((route.method, path))
                text = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
                assert not any(h in text for h in hidden), (route.method, concrete, status)
                if "{case_id}" in path:
                    assert status in (403, 404, 405, 422), (route.method, concrete, status)
        assert len(walked) > 40
        assert ("GET", "/api/v1/journal/cases/{case_id}") in walked
        # The hotline's own case routes are not for organisation users at all.
        for path in (f"/api/v1/cases/{asa.id}", f"/api/v1/cases/{asa.id}/history"):
            assert (await w.call("GET", path, "asa-clerk"))[0] == 403
        assert (await w.call("GET", f"/api/v1/callers/{ASA_PHONE}", "asa-clerk"))[0] == 403

        # The reads of personal data are in the audit log: the list, and the case read.
        status, one = await w.call("GET", f"/api/v1/journal/cases/{asa.id}", "asa-clerk")
        assert status == 200
        assert [e["action"] for e in one["history"]] == ["created"]
        logged = await _audit(db_url, "asa-clerk")
        assert logged[0][:2] == ("journal_list", "asa")
        assert sorted(logged[0][2]["cases"]) == sorted([asa.number, made["late"].number])
        assert ("case_read", asa.number) in [row[:2] for row in logged]
        assert not [row for row in logged if row[1] in (child.number, other.number)]


async def test_a_clerk_takes_resolves_with_the_result_and_the_citizen_is_to_be_told_it(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        made = await _clerks(w, db_url)
        base = f"/api/v1/journal/cases/{made['asa'].id}"
        status, taken = await w.call("POST", f"{base}/take", "asa-clerk")
        assert status == 200, taken
        assert (taken["assignee"], taken["status"]) == ("asa-clerk", "in_progress")

        # A move the status machine does not allow, bad input: each with its code.
        status, err = await w.call("POST", f"{base}/status", "asa-clerk", json={"status": "closed"})
        assert (status, err["code"]) == (422, "illegal_status_move")
        status, err = await w.call("POST", f"{base}/status", "asa-clerk", json={"status": "done"})
        assert (status, err["code"]) == (422, "invalid_request")
        assert [f["path"] for f in err["fields"]] == ["status"]
        status, err = await w.call(
            "POST", f"{base}/status", "asa-clerk", json={"status": "resolved"}
        )
        assert (status, [f["path"] for f in err["fields"]]) == (422, ["result"])
        status, err = await w.call("POST", f"{base}/notes", "asa-clerk", json={"note": ""})
        assert (status, [f["path"] for f in err["fields"]]) == (422, ["note"])
        status, err = await w.call(
            "POST",
            f"{base}/status",
            "asa-clerk",
            json={"status": "resolved", "result": "x" * 10_001},
        )
        assert (status, [f["path"] for f in err["fields"]]) == (422, ["result"])

        note = "Checked with the regional office: paid on the 3rd"
        status, event = await w.call("POST", f"{base}/notes", "asa-clerk", json={"note": note})
        assert status == 201
        assert event["changes"] == {"note": note, "internal": True}
        move = {"status": "resolved", "result": RESULT, "note": "decision 17/2026"}
        status, resolved = await w.call("POST", f"{base}/status", "asa-clerk", json=move)
        assert status == 200, resolved
        assert (resolved["status"], resolved["result"]) == ("resolved", RESULT)

        # The task "tell the citizen" as an agent's resolve opens it: the result, not
        # the internal notes.
        _, due = await w.call("GET", "/api/v1/notifications", "agent")
        (task,) = [t for t in due["items"] if t["case_id"] == made["asa"].id]
        assert (task["kind"], task["phone"], task["result"], task["status"]) == (
            "result",
            ASA_PHONE,
            RESULT,
            "pending",
        )
        status, by_agent = await w.call(
            "POST", "/api/v1/cases", "agent", json={"topic": "social", "phone": "0888555172"}
        )
        for step in ({"status": "in_progress"}, {"status": "resolved", "note": RESULT}):
            path = f"/api/v1/cases/{by_agent['id']}/status"
            assert (await w.call("POST", path, "agent", json=step))[0] == 200
        _, due = await w.call("GET", "/api/v1/notifications", "agent")
        (agents,) = [t for t in due["items"] if t["case_id"] == by_agent["id"]]
        same = ("kind", "result", "status", "attempts")
        assert {k: agents[k] for k in same} == {k: task[k] for k in same}

        # The agent's screen-pop when the citizen calls: the case with the result.
        status, pop = await w.call("GET", f"/api/v1/callers/{ASA_PHONE}", "agent")
        assert status == 200
        (case,) = [c for c in pop["open_cases"] if c["id"] == made["asa"].id]
        assert case["result"] == RESULT
        assert [r["result"] for r in pop["results_to_tell"]] == [RESULT]

        status, one = await w.call("GET", base, "asa-clerk")
        actions = [(e["actor"], e["action"]) for e in one["history"]]
        assert actions == [
            ("ann", "created"),
            ("asa-clerk", "taken"),
            ("asa-clerk", "status"),
            ("asa-clerk", "note"),
            ("asa-clerk", "status"),
        ]
        assert one["history"][-1]["changes"]["result"] == RESULT
        # Resolved, it is no longer taken or handed over.
        status, err = await w.call("POST", f"{base}/take", "asa-clerk")
        assert (status, err["code"]) == (422, "case_not_workable")


async def test_a_case_handed_to_another_organisation_leaves_the_first_and_keeps_why(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        made = await _clerks(w, db_url)
        base = f"/api/v1/journal/cases/{made['asa'].id}"
        assert (await w.call("POST", f"{base}/take", "asa-clerk"))[0] == 200
        for body, code, fields in (
            ({"organisation": "child", "reason": ""}, "invalid_request", ["reason"]),
            ({"organisation": "child"}, "invalid_request", ["reason"]),
            ({"organisation": "nobody", "reason": "r"}, "unknown_organisation", None),
            ({"organisation": "asa", "reason": "r"}, "same_organisation", None),
        ):
            status, err = await w.call("POST", f"{base}/handover", "asa-clerk", json=body)
            assert (status, err["code"]) == (422, code), body
            assert [f["path"] for f in err.get("fields", [])] == (fields or [])
        reason = "A child lives in the flat: child protection answers this"
        body = {"organisation": "child", "reason": reason}
        status, moved = await w.call("POST", f"{base}/handover", "asa-clerk", json=body)
        assert status == 200, moved
        assert (moved["organisation"], moved["status"]) == ("child", "forwarded")

        status, err = await w.call("GET", base, "asa-clerk")
        assert (status, err["code"]) == (404, "case_not_found")
        _, page = await w.call("GET", "/api/v1/journal/cases", "asa-clerk")
        assert made["asa"].number not in [c["number"] for c in page["items"]]
        status, theirs = await w.call("GET", base, "child-clerk")
        assert status == 200
        assert (theirs["organisation"], theirs["assignee"], theirs["status"]) == (
            "child",
            None,
            "forwarded",
        )
        (handed,) = [e for e in theirs["history"] if e["action"] == "handed_over"]
        assert handed["actor"] == "asa-clerk"
        assert handed["at"]
        assert handed["changes"]["reason"] == reason
        assert handed["changes"]["organisation"] == {"old": "asa", "new": "child"}
        # A supervisor sees every organisation's journal.
        _, all_of_them = await w.call("GET", "/api/v1/journal/cases", "supervisor")
        assert all_of_them["total"] == 4
        _, orgs = await w.call("GET", "/api/v1/journal/organisations", "child-clerk")
        assert [o["code"] for o in orgs["items"] if o["mine"]] == ["child"]


def test_the_command_line_adds_an_organisation_user(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    classifier = Path(__file__).parent.parent / "deploy" / "classifier.yaml"
    assert main(["load-classifier", str(classifier)]) == 0
    add = ["user", "add", "clerk", "--role", "organisation"]
    assert main([*add, "--organisation", "asa", "--organisation", "labour"]) == 0
    assert "clerk (organisation, organisations asa, labour) added" in capsys.readouterr().out
    assert main([*add[:2], "clerk2", *add[3:]]) == 1  # an organisation user needs one
    assert "organisation_required" in capsys.readouterr().err
    assert main([*add[:2], "clerk3", *add[3:], "--organisation", "nobody"]) == 1
    assert "unknown_organisation" in capsys.readouterr().err
