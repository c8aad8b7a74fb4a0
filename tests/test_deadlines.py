"""Deadlines of citizens' cases (issue 22) against real PostgreSQL and a real SMTP server
(aiosmtpd on 127.0.0.1): due soon and overdue found at the edges of the centre's day
(its time zone, with a fake clock), each alert raised, published and mailed once (two
rounds, two checkers at once, a standby that does not lead), the inboxes (organisation
users get their organisations' cases only, supervisors the overdue ones), the REST lists
within an organisation user's organisations, an SMTP server that is down (logged,
retried, the inbox entry kept), the on-time rates per organisation and topic, and the
supervisors' broadcasts reaching an organisation user."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from structlog.testing import capture_logs

from api_helpers import World, next_of, world
from cti.api import auth
from cti.api.deadline_watch import DeadlineWatch
from cti.bus import BusEvent
from cti.cli import main
from cti.config import DeadlineSettings, SmtpSettings
from cti.store import cases
from cti.store.embedded import free_port
from cti.store.models import CaseCreate

SOFIA = "Europe/Sofia"
# 00:30 on 11 March in Sofia (UTC+2), still 10 March in UTC.
NOW = dt.datetime(2026, 3, 10, 22, 30, tzinfo=dt.UTC)
TODAY = dt.date(2026, 3, 11)


class Inbox:
    """An SMTP server's handler that keeps what it was given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, in its own thread)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def _watch(w: World, smtp_port: int | None = None, **kw: Any) -> DeadlineWatch:
    settings = SmtpSettings(
        host="127.0.0.1" if smtp_port else "",
        port=smtp_port or 25,
        timeout_s=2.0,
        retry_after_s=0.05,
        max_attempts=3,
    )
    return DeadlineWatch(
        w.api.ctx,
        DeadlineSettings(due_soon_days=2, check_every_s=kw.pop("every_s", 60.0)),
        settings,
        lambda: SOFIA,
        clock=lambda: NOW,
        **kw,
    )


async def _case(conn: Any, topic: str, deadline: dt.date, status: str = "registered") -> Any:
    case = await cases.create_case(conn, CaseCreate(topic=topic, description="no heating"), "ann")
    await conn.execute(
        "UPDATE cases SET deadline = $2, status = $3 WHERE id = $1", case.id, deadline, status
    )
    return await cases.get_case(conn, case.id)


async def _people(conn: Any, w: World) -> None:
    """An asa clerk and a child clerk (both with e-mail), a supervisor with e-mail."""
    for name, role, orgs, email in (
        ("asa-clerk", "organisation", ("asa",), "asa@example.org"),
        ("child-clerk", "organisation", ("child",), "child@example.org"),
        ("boss", "supervisor", (), "boss@example.org"),
    ):
        await auth.create_user(conn, name, role, organisations=orgs, email=email)
        w.tokens[name] = await auth.issue_token(conn, name)


def _collect(w: World) -> list[BusEvent]:
    events: list[BusEvent] = []
    sub = w.core.bus.subscribe(lambda e: e.type in ("case.due_soon", "case.overdue"))
    sub.now = lambda e: events.append(e) is None  # taken at publish
    return events


async def test_due_soon_and_overdue_at_the_edges_of_the_centres_day_raised_once(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    conn = classified_db
    async with world(db_url, tmp_path) as w:
        await _people(conn, w)
        day = dt.timedelta(days=1)
        late = await _case(conn, "social.benefits", TODAY - day)  # UTC's today: not late there
        today = await _case(conn, "social.benefits", TODAY)
        edge = await _case(conn, "child_protection", TODAY + 2 * day)
        future = await _case(conn, "social.benefits", TODAY + 3 * day)  # not yet
        await _case(conn, "social.benefits", TODAY - 5 * day, "resolved")  # not worked any more
        await _case(conn, "social.benefits", TODAY - 5 * day, "closed")
        events = _collect(w)
        watch = _watch(w)
        assert watch.today() == TODAY
        raised = await watch.round()
        assert sorted((r["kind"], r["case"].number) for r in raised) == sorted(
            [
                ("overdue", late.number),
                ("due_soon", today.number),
                ("due_soon", edge.number),
            ]
        )
        assert sorted((e.type, e.data["number"]) for e in events) == sorted(
            (f"case.{r['kind']}", r["case"].number) for r in raised
        )
        assert {e.data["organisation"] for e in events if e.data["number"] == edge.number} == {
            "child"
        }
        # Run again, and twice at once (two CTIs): nothing is raised or published again.
        assert await watch.round() == []
        assert await asyncio.gather(watch.round(), _watch(w).round()) == [[], []]
        # A new late case, checked by two checkers at the same moment: raised once.
        newer = await _case(conn, "social.benefits.heating", TODAY - 2 * day)
        both = await asyncio.gather(watch.round(), _watch(w).round())
        assert sorted(r["case"].number for r in both[0] + both[1]) == [newer.number]
        assert len(events) == 4
        # A deadline passed: the case that was due soon is overdue now (a second kind).
        later = _watch(w)
        later._clock = lambda: NOW + dt.timedelta(days=1)  # 12 March in Sofia
        assert sorted((r["kind"], r["case"].number) for r in await later.round()) == [
            ("due_soon", future.number),
            ("overdue", today.number),
        ]

        # The inboxes: the asa clerk gets asa's cases, the child clerk child's, the
        # supervisor the overdue ones of every organisation (the escalation).
        got = {}
        for user in ("asa-clerk", "child-clerk", "boss"):
            status, box = await w.call("GET", "/api/v1/inbox", user)
            assert status == 200
            got[user] = sorted((e["kind"], e["case_number"]) for e in box["items"])
            assert box["unread"] == len(box["items"])
        assert got["asa-clerk"] == sorted(
            [
                ("overdue", late.number),
                ("due_soon", today.number),
                ("overdue", today.number),
                ("overdue", newer.number),
                ("due_soon", future.number),
            ]
        )
        assert got["child-clerk"] == [("due_soon", edge.number)]
        _, box = await w.call("GET", "/api/v1/inbox", "child-clerk")
        entry = box["items"][0]
        assert (entry["deadline"], entry["organisation"]) == (str(TODAY + 2 * day), "child")
        assert dt.datetime.fromisoformat(entry["raised_at"]).tzinfo is not None
        assert got["boss"] == sorted(
            [("overdue", late.number), ("overdue", newer.number), ("overdue", today.number)]
        )
        # Marking read: one, then all; another's entry is no entry at all.
        _, box = await w.call("GET", "/api/v1/inbox", "child-clerk")
        mine = box["items"][0]["id"]
        status, err = await w.call("POST", f"/api/v1/inbox/{mine}/read", "asa-clerk")
        assert (status, err["code"]) == (404, "inbox_entry_not_found")
        assert (await w.call("POST", f"/api/v1/inbox/{mine}/read", "child-clerk"))[0] == 200
        _, box = await w.call("GET", "/api/v1/inbox", "child-clerk")
        assert (box["unread"], box["items"][0]["read"]) == (0, True)
        status, done = await w.call("POST", "/api/v1/inbox/read", "asa-clerk")
        assert (status, done["marked"]) == (200, 5)
        _, box = await w.call("GET", "/api/v1/inbox?unread=true", "asa-clerk")
        assert (box["unread"], box["items"]) == (0, [])
        assert (await w.call("GET", "/api/v1/inbox", "agent"))[0] == 403


async def test_an_integrators_webhook_receives_the_overdue_case(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    from aiohttp import web as aioweb

    from cti.api.webhooks import Webhooks
    from cti.config import WebhookSettings

    received: list[tuple[str, dict[str, Any]]] = []

    async def hook(request: aioweb.Request) -> aioweb.Response:
        received.append((request.headers["X-CTI-Event"], await request.json()))
        return aioweb.Response(status=204)

    app = aioweb.Application()
    app.add_routes([aioweb.post("/hook", hook)])
    runner = aioweb.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with world(db_url, tmp_path) as w:
            settings = WebhookSettings(url=f"http://127.0.0.1:{port}/hook", secret="s3cret")  # type: ignore[arg-type]
            hooks = Webhooks([settings], w.core.bus)  # the default events: case.*
            await hooks.start()
            try:
                late = await _case(classified_db, "social", TODAY - dt.timedelta(days=1))
                await _watch(w).round()
                await _watch(w).round()
                for _ in range(100):
                    if received:
                        break
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.1)  # a second delivery would be here by now
            finally:
                await hooks.close()
    finally:
        await runner.cleanup()
    assert [(event, body["data"]["number"]) for event, body in received] == [
        ("case.overdue", late.number)
    ]
    assert received[0][1]["type"] == "case.overdue"


async def test_a_standby_does_not_check_and_the_leader_does(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        late = await _case(classified_db, "social", TODAY - dt.timedelta(days=1))
        leading = {"now": False}
        watch = _watch(w, may_act=lambda: leading["now"], every_s=0.02)
        await watch.start()
        try:
            await asyncio.sleep(0.2)
            count = "SELECT count(*) FROM deadline_alerts"
            assert await classified_db.fetchval(count) == 0
            leading["now"] = True
            for _ in range(100):
                if await classified_db.fetchval(count):
                    break
                await asyncio.sleep(0.02)
            row = await classified_db.fetchrow("SELECT case_id, kind FROM deadline_alerts")
            assert (row["case_id"], row["kind"]) == (late.id, "overdue")
        finally:
            await watch.close()


async def test_the_lists_keep_to_an_organisation_users_organisations(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    conn = classified_db
    today = dt.datetime.now(dt.UTC).date()  # the world's centre: UTC
    async with world(db_url, tmp_path) as w:
        await _people(conn, w)
        asa_late = await _case(conn, "social.benefits", today - dt.timedelta(days=3))
        child_late = await _case(conn, "child_protection", today - dt.timedelta(days=1))
        asa_soon = await _case(conn, "social", today + dt.timedelta(days=2))
        status, page = await w.call("GET", "/api/v1/deadlines/cases?state=overdue", "asa-clerk")
        assert (status, [c["number"] for c in page["items"]]) == (200, [asa_late.number])
        status, page = await w.call("GET", "/api/v1/deadlines/cases?state=overdue", "boss")
        assert [c["number"] for c in page["items"]] == [asa_late.number, child_late.number]
        query = "state=overdue&organisation=child"
        _, page = await w.call("GET", f"/api/v1/deadlines/cases?{query}", "asa-clerk")
        assert page["items"] == []
        _, page = await w.call("GET", "/api/v1/deadlines/cases?state=due_soon", "asa-clerk")
        assert [c["number"] for c in page["items"]] == [asa_soon.number]
        _, page = await w.call("GET", "/api/v1/deadlines/cases?state=due_soon&days=1", "admin")
        assert page["items"] == []
        _, page = await w.call("GET", "/api/v1/deadlines/cases?topic=social.benefits", "boss")
        assert [c["number"] for c in page["items"]] == [asa_late.number]
        status, summary = await w.call("GET", "/api/v1/deadlines/summary", "asa-clerk")
        assert status == 200
        assert [(r["organisation"], r["topic"], r["due_soon"], r["overdue"]) for r in summary[
            "items"
        ]] == [("asa", "social", 1, 0), ("asa", "social.benefits", 0, 1)]  # fmt: skip
        _, summary = await w.call("GET", "/api/v1/deadlines/summary", "supervisor")
        assert ("child", "child_protection", 0, 1) in [
            (r["organisation"], r["topic"], r["due_soon"], r["overdue"]) for r in summary["items"]
        ]
        status, err = await w.call("GET", "/api/v1/deadlines/cases?state=late", "boss")
        assert (status, err["fields"][0]["path"]) == (422, "state")
        for role in ("agent", "integrator"):
            assert (await w.call("GET", "/api/v1/deadlines/cases", role))[0] == 403
        # The lists' personal data reads are audited as the journal's.
        actions = await conn.fetch("SELECT action FROM audit_log WHERE actor = 'asa-clerk'")
        assert {r["action"] for r in actions} == {"deadline_list"}


async def test_alerts_are_mailed_once_through_the_smtp_server(
    db_url: str, tmp_path: Any, classified_db: Any, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    async with world(db_url, tmp_path) as w:
        await _people(classified_db, w)
        late = await _case(classified_db, "child_protection", TODAY - dt.timedelta(days=1))
        # Two checkers at once: every e-mail goes once.
        await asyncio.gather(_watch(w, port).round(), _watch(w, port).round())
        await _watch(w, port).round()
        got = sorted((m["To"], m["Subject"]) for m in inbox.messages)
        assert got == [
            ("boss@example.org", f"Case {late.number} is overdue (deadline 2026-03-10)"),
            ("child@example.org", f"Case {late.number} is overdue (deadline 2026-03-10)"),
        ]
        body = inbox.messages[0].get_payload(decode=True)
        assert late.number in body.decode()
        assert "no heating" in body.decode()
        rows = await classified_db.fetch(
            "SELECT username, email_status FROM alert_inbox ORDER BY username"
        )  # sue, a supervisor without an address, has it in her inbox only
        assert [tuple(r) for r in rows] == [
            ("boss", "sent"),
            ("child-clerk", "sent"),
            ("sue", "none"),
        ]


async def test_an_smtp_server_that_is_down_is_logged_retried_and_the_inbox_keeps_it(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    port = free_port()  # nothing listens there yet
    async with world(db_url, tmp_path) as w:
        await _people(classified_db, w)
        soon = await _case(classified_db, "social", TODAY + dt.timedelta(days=1))
        watch = _watch(w, port)
        with capture_logs() as logs:
            raised = await watch.round()
        assert [r["kind"] for r in raised] == ["due_soon"]
        failed = [e for e in logs if e["event"] == "deadlines.mail_failed"]
        assert [(e["case"], e["attempt"], e["status"]) for e in failed] == [
            (soon.number, 1, "pending")
        ]
        assert "Connection" in failed[0]["error"] or "refused" in failed[0]["error"]
        status, box = await w.call("GET", "/api/v1/inbox", "asa-clerk")
        assert (status, [e["case_number"] for e in box["items"]]) == (200, [soon.number])

        # The server comes up: the next try after the pause sends it.
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            assert await watch.send_mail() == {}  # not before its retry time
            await asyncio.sleep(0.1)
            assert await watch.send_mail() == {"sent": 1}
            assert [m["Subject"] for m in inbox.messages] == [
                f"Case {soon.number} is due on 2026-03-12"
            ]
        finally:
            controller.stop()
        row = await classified_db.fetchrow("SELECT email_attempts, email_status FROM alert_inbox")
        assert (row["email_attempts"], row["email_status"]) == (2, "sent")

        # Down for good: after max_attempts the e-mail is failed; the entry stays.
        await _case(classified_db, "social", TODAY)
        with capture_logs() as logs:
            await watch.round()
            for _ in range(3):
                await asyncio.sleep(0.25)
                await watch.send_mail()
        statuses = [e["status"] for e in logs if e["event"] == "deadlines.mail_failed"]
        assert statuses == ["pending", "pending", "failed"]
        _, box = await w.call("GET", "/api/v1/inbox", "asa-clerk")
        assert len(box["items"]) == 2


async def test_on_time_rates_per_organisation_and_topic(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    conn = classified_db
    deadline = dt.date(2026, 3, 11)
    # Resolved at 23:30 Sofia on the deadline day (on time) / at 00:30 the day after (late).
    on_time_at = dt.datetime(2026, 3, 11, 21, 30, tzinfo=dt.UTC)
    late_at = dt.datetime(2026, 3, 11, 22, 30, tzinfo=dt.UTC)
    async with world(db_url, tmp_path) as w:
        made = []
        for topic, at in (
            ("social.benefits", on_time_at),
            ("social.benefits", late_at),
            ("child_protection", on_time_at),
            ("child_protection", dt.datetime(2026, 2, 1, tzinfo=dt.UTC)),  # outside the period
        ):
            case = await _case(conn, topic, deadline)
            await cases.move_case(conn, case.id, "in_progress", "clerk")
            await cases.move_case(conn, case.id, "resolved", "clerk", "done")
            await conn.execute(
                "UPDATE case_history SET at = $2 WHERE case_id = $1 AND action = 'status'"
                " AND changes -> 'status' ->> 'new' = 'resolved'",
                case.id,
                at,
            )
            made.append(case)
        await cases.move_case(conn, made[0].id, "citizen_informed", "ann")  # still counted
        period = f"first_day=2026-03-01&last_day=2026-03-31&timezone={SOFIA}"
        status, report = await w.call("GET", f"/api/v1/reports/deadlines?{period}", "supervisor")
        assert status == 200
        assert report["items"] == [
            {
                "organisation": "asa",
                "topic": "social.benefits",
                "resolved": 2,
                "on_time": 1,
                "rate": 0.5,
            },
            {
                "organisation": "child",
                "topic": "child_protection",
                "resolved": 1,
                "on_time": 1,
                "rate": 1.0,
            },
        ]
        status, text = await w.call(
            "GET", f"/api/v1/reports/deadlines?{period}&format=csv", "admin"
        )
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["organisation", "topic", "resolved", "on_time", "rate"]
        assert rows[1] == ["asa", "social.benefits", "2", "1", "0.5"]
        # In UTC both asa cases were resolved on the deadline day: both on time.
        utc = period.replace(SOFIA, "UTC")
        _, report = await w.call("GET", f"/api/v1/reports/deadlines?{utc}", "admin")
        assert report["items"][0]["on_time"] == 2
        assert (await w.call("GET", f"/api/v1/reports/deadlines?{period}", "agent"))[0] == 403


async def test_supervisors_broadcasts_reach_organisation_users(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        await _people(classified_db, w)
        status, said = await w.call("GET", "/api/v1/broadcasts", "asa-clerk")
        assert (status, said["items"]) == (200, [])
        url = f"{w.base}/ws/supervisor?token={w.tokens['supervisor']}"
        async with w.http.ws_connect(url) as ws:
            await ws.receive_json()  # the snapshot
            for n, agents in ((1, None), (2, ["a1"])):  # the second is for one agent only
                text = f"Water off in Plovdiv until 18:00 ({n})"
                await ws.send_json(
                    {"type": "broadcast", "id": str(n), "text": text, "agents": agents}
                )
                assert (await next_of(ws, "ack"))["id"] == str(n)
        for _ in range(50):
            _, said = await w.call("GET", "/api/v1/broadcasts", "asa-clerk")
            if said["items"]:
                break
            await asyncio.sleep(0.02)
        assert [(b["text"], b["by"]) for b in said["items"]] == [
            ("Water off in Plovdiv until 18:00 (1)", "sue")
        ]
        assert (await w.call("GET", "/api/v1/broadcasts", None))[0] == 401


def test_the_command_line_adds_a_user_with_an_email(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    add = ["user", "add", "boss", "--role", "supervisor", "--email", "boss@example.org"]
    assert main(add) == 0
    assert main([*add[:2], "boss2", *add[3:5], "--email", "not an address"]) == 1
    assert "bad_email" in capsys.readouterr().err

    async def stored() -> Any:
        conn = await asyncpg.connect(db_url)
        try:
            return await conn.fetch("SELECT username, email FROM users ORDER BY username")
        finally:
            await conn.close()

    assert [tuple(r) for r in asyncio.run(stored())] == [("boss", "boss@example.org")]


@pytest.mark.slow
async def test_the_journal_shows_the_alerts_and_the_supervisors_message(
    db_url: str, tmp_path: Any, classified_db: Any
) -> None:
    from playwright.async_api import async_playwright, expect

    from page_helpers import PHONE, axe_violations, horizontal_overflow
    from test_pages import CHROMIUM_ARGS, chromium

    password = "correct horse battery"
    async with world(db_url, tmp_path) as w:
        await auth.create_user(
            classified_db, "clerk", "organisation", password=password, organisations=("asa",)
        )
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)  # the centre: UTC
        late = await _case(classified_db, "social.benefits", yesterday)
        await _case(classified_db, "child_protection", yesterday)  # another organisation's
        assert len(await w.api.deadlines.round()) == 2  # the server's own watch
        w.core.bus.publish(
            "supervisor.broadcast", {"text": "Water off in Plovdiv", "by": "sue", "agents": None}
        )
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 768})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(w.base + "/")
                await page.get_by_label("User name").fill("clerk")
                await page.get_by_label("Password").fill(password)
                await page.get_by_role("button", name="Log in").click()
                await expect(page).to_have_url(w.base + "/journal")
                await expect(page.get_by_test_id("inbox-count")).to_have_text("1")
                await expect(page.get_by_test_id("broadcasts")).to_contain_text(
                    "Message from the supervisor (from sue): Water off in Plovdiv"
                )
                await page.get_by_text("Deadline alerts").click()
                inbox = page.locator("#inbox-list")
                await expect(inbox).to_have_text(f"Overdue {late.number} · {_shown(yesterday)}")
                assert await axe_violations(page) == []
                await inbox.get_by_role("button", name=late.number).click()
                await expect(page.locator("#c-number")).to_have_text(late.number)
                await page.get_by_role("button", name="Mark all read").click()
                await expect(page.get_by_test_id("inbox-count")).to_have_text("0")
                await page.set_viewport_size(PHONE)
                assert await horizontal_overflow(page) is None
                # The supervisor's wallboard counts the overdue cases escalated to her (both
                # organisations'), unread, with a link to the journal.
                wall = await browser.new_page(viewport={"width": 1920, "height": 1080})
                wall.on("pageerror", lambda e: errors.append(str(e)))
                await wall.goto(f"{w.base}/wallboard#token={w.tokens['supervisor']}")
                await expect(wall.get_by_test_id("inbox-count")).to_have_text("2")
                link = wall.get_by_role("link", name="Deadline alerts 2")
                assert await link.get_attribute("href") == "/journal"
                assert errors == []
            finally:
                await browser.close()


def _shown(day: dt.date) -> str:
    """A date as the English pages show it (Intl, en-US): Mar 10, 2026."""
    return f"{day:%b} {day.day}, {day.year}"
