"""The desktop's "Calls owed to citizens" in a real headless Chromium, used at human
pace against `cti demo`: a case the organisation resolved is listed with the result to
read out; she calls, answers her own phone, the citizen answers, she reads it and
records "Informed"; the case moves to `citizen_informed` with the attempt in its
history. A citizen who calls in while a result waits for them is told it in that call.
The panel passes axe-core and does not widen a phone's screen."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import expect

from cti.demo import PERSON
from cti.store import cases
from cti.store.models import CaseCreate
from page_helpers import axe_violations, horizontal_overflow, shot
from test_pages import demo
from test_pages_desktop import SPEED, _answered, _call, _desk, _log_in_ready

RESULT = "Отпусната ви е целева помощ за отопление от 1 януари; ще я получите по банков път."


async def _resolved_case(db_url: str, phone: str = "0888 555 140") -> str:
    conn = await asyncpg.connect(db_url)
    try:
        data = CaseCreate(topic="social.benefits.heating", phone=phone, description="heating")
        case = await cases.create_case(conn, data, "clerk")
        await cases.move_case(conn, case.id, "in_progress", "clerk")
        await cases.move_case(conn, case.id, "resolved", "asa-clerk", RESULT)
        return case.number
    finally:
        await conn.close()


@pytest.mark.slow
async def test_she_tells_a_citizen_the_result_of_the_request(db_url: str, tmp_path: Path) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        number = await _resolved_case(db_url)
        desk = await _desk(d)
        state = desk.get_by_test_id("state")
        tell = desk.get_by_test_id("tell")
        await expect(tell).to_be_hidden()  # logged out: nothing to call
        await desk.get_by_role("button", name="Log in", exact=True).click()
        await expect(state).to_have_text("Not ready")
        await expect(tell).to_be_visible()
        row = tell.get_by_role("row").filter(has_text=number)
        await expect(row).to_contain_text(RESULT)
        await expect(row).to_contain_text("+359888555140")
        assert await axe_violations(desk) == []
        await shot(desk, "desktop-tell-list")

        d.server.pbx.dialplan.callback_talk_s = 600.0  # the citizen listens until she ends it
        await row.get_by_role("button", name="Call +359888555140").click()
        await expect(state).to_have_text("Ringing")
        await expect(tell.locator("#tell-result")).to_have_text(RESULT)
        await expect(tell.get_by_role("button", name="Informed")).to_be_disabled()
        await desk.get_by_role("button", name="Answer", exact=True).click()
        await expect(state).to_have_text("On call", timeout=20_000)
        await tell.get_by_role("button", name="Informed").click()
        await expect(desk.locator(".toast").last).to_have_text("Recorded in the case")
        await expect(tell).to_be_hidden()
        await shot(desk, "desktop-tell-informed")
        await desk.get_by_role("button", name="Hang up").click()
        await expect(state).to_have_text("Wrap-up")

        conn = await asyncpg.connect(db_url)
        try:
            case = await conn.fetchrow("SELECT id, status FROM cases WHERE number = $1", number)
            told = await conn.fetch(
                "SELECT actor, changes FROM case_history WHERE case_id = $1"
                " AND action = 'notification'",
                case["id"],
            )
        finally:
            await conn.close()
        assert case["status"] == "citizen_informed"
        assert [r["actor"] for r in told] == ["you"]

        # On a phone's width the panel wraps instead of widening the page.
        await _resolved_case(db_url, "0888 555 141")
        await desk.set_viewport_size({"width": 390, "height": 844})
        await desk.get_by_label("No case").check()
        await desk.locator("#disposition").select_option("information")
        await desk.get_by_role("button", name="Finish wrap-up").click()
        await expect(state).to_have_text("Not ready")  # the break she was on
        await expect(tell).to_be_visible(timeout=35_000)
        assert await horizontal_overflow(desk) is None

        # That citizen calls in first: she is told it in this call, and it is recorded.
        await desk.set_viewport_size({"width": 1366, "height": 768})
        await desk.keyboard.press("Alt+Shift+R")  # Ready
        _call(d, "+359888555141")
        await _answered(d, desk)
        await expect(tell.locator("#tell-result")).to_have_text(RESULT)
        await expect(tell.get_by_role("button", name="No answer")).to_be_hidden()
        await shot(desk, "desktop-tell-in-the-citizens-call")
        await tell.get_by_role("button", name="Informed").click()
        await expect(desk.locator(".toast").last).to_have_text("Recorded in the case")
        await expect(tell).to_be_hidden()
        assert d.errors == []


@pytest.mark.slow
async def test_ready_she_is_offered_a_result_to_tell_and_it_dials_when_the_countdown_ends(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        desk = await _desk(d)
        state = desk.get_by_test_id("state")
        await _log_in_ready(desk)
        await _resolved_case(db_url, "0888 555 142")
        tell = desk.get_by_test_id("tell")
        countdown = desk.get_by_test_id("tell-countdown")
        await expect(countdown).to_contain_text("Dials in", timeout=15_000)  # within a round
        await expect(tell.locator("#tell-result")).to_have_text(RESULT)
        await expect(tell.get_by_role("button", name="Call now")).to_be_visible()
        assert await axe_violations(desk) == []
        await shot(desk, "desktop-tell-preview")
        await expect(state).to_have_text("Ringing", timeout=25_000)  # dialled by itself
        await expect(tell.get_by_role("button", name="Call now")).to_be_hidden()
        assert d.errors == []


@pytest.mark.slow
async def test_she_promises_a_callback_during_a_call_and_it_comes_back_to_her(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        desk = await _desk(d)
        state = desk.get_by_test_id("state")
        await _log_in_ready(desk)
        _call(d, "+359888555143")
        await _answered(d, desk)
        await desk.locator("#notes").fill("Wants the decision read to him again")
        # Now, in her browser's time (the form's minutes: due at once).
        now = await desk.evaluate(
            "(() => { const d = new Date(Date.now() - new Date().getTimezoneOffset() * 60000);"
            " return d.toISOString().slice(0, 16); })()"
        )
        await desk.get_by_label("Call back at").fill(now)
        await desk.get_by_role("button", name="Schedule callback").click()
        await expect(desk.locator(".toast").last).to_contain_text("Callback promised for")
        await desk.get_by_role("button", name="Hang up").click()
        await expect(state).to_have_text("Wrap-up")
        await desk.locator("#disposition").select_option("callback_needed")
        await desk.get_by_label("No case").check()
        await desk.get_by_role("button", name="Finish wrap-up").click()
        await expect(state).to_have_text("Ready")
        # Due: it comes back to her as a preview, with what she noted.
        tell = desk.get_by_test_id("tell")
        await expect(desk.get_by_test_id("tell-countdown")).to_contain_text(
            "Dials in", timeout=15_000
        )
        await expect(tell.locator("#tell-case")).to_have_text("Callback")
        await expect(tell.locator("#tell-result")).to_have_text(
            "Wants the decision read to him again"
        )
        await shot(desk, "desktop-callback-preview")
        await tell.get_by_role("button", name="Skip").click()
        await expect(tell.locator("#tell-current")).to_be_hidden()
        row = tell.get_by_role("row").filter(has_text="+359888555143")  # still due: listed
        await expect(row).to_contain_text("Callback")
        await expect(row).to_contain_text("Wants the decision read to him again")
        conn = await asyncpg.connect(db_url)
        try:
            row = await conn.fetchrow("SELECT * FROM notifications WHERE kind = 'callback'")
        finally:
            await conn.close()
        assert (row["phone"], row["status"], row["prefer_agent"]) == (
            "+359888555143",
            "pending",
            PERSON,
        )
        assert d.errors == []


@pytest.mark.slow
async def test_the_manager_sees_the_calls_owed_to_citizens_in_the_reports(
    db_url: str, tmp_path: Path
) -> None:
    """Opened today: two results to tell (one told, one open) and a callback; the
    reports' table counts them by kind and where they stand, and its CSV says the same."""
    from test_pages_reports import _csv, _reports

    async with demo(db_url, tmp_path, speed=SPEED) as d:
        told = await _resolved_case(db_url, "0888 555 144")
        await _resolved_case(db_url, "0888 555 145")
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(
                "UPDATE notifications SET status = 'informed', attempts = 2"
                " WHERE case_id = (SELECT id FROM cases WHERE number = $1)",
                told,
            )
            await conn.execute(
                "INSERT INTO notifications (kind, phone, result, prefer_agent)"
                " VALUES ('callback', '+359888555146', 'asks again', $1)",
                PERSON,
            )
        finally:
            await conn.close()
        page = await _reports(d)
        table = page.locator("#t-outbound")
        result = table.locator("tr[data-key=result]")
        await expect(result).to_contain_text("Results to tell")
        cells = await result.locator("td").all_inner_texts()
        # tasks, open, informed, refused, wrong number, spent, cancelled, attempts
        assert cells == ["2", "1", "1", "0", "0", "0", "0", "2"]
        callback = await table.locator("tr[data-key=callback] td").all_inner_texts()
        assert callback == ["1", "1", "0", "0", "0", "0", "0", "0"]
        rows = await _csv(page, "[data-csv=outbound]", tmp_path)
        assert sorted((r["kind"], r["status"], r["tasks"]) for r in rows) == [
            ("callback", "pending", "1"),
            ("result", "informed", "1"),
            ("result", "pending", "1"),
        ]
        assert d.errors == []
