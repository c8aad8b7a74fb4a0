"""The whole path of a request through an organisation, in a real headless Chromium
against `cti demo`: a clerk of the Agency for Social Assistance takes the citizen's
case in the journal and resolves it with the result the citizen is to be told; the
citizen then calls the hotline, and the agent's screen-pop shows that result on the
case. Screenshot: docs/img/desktop-org-result.png."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import expect

from cti.api import auth
from test_pages import _page, demo
from test_pages_desktop import _answered, _call, _desk, _log_in_ready, _shot

RESULT = "Помощта за отопление ви е отпусната от 1 януари; ще я получите по банков път."
PASSWORD = "correct horse battery"
CASE = "2026-009001"  # the demo's citizen's open case (test_pages._history), organisation asa


@pytest.mark.slow
async def test_a_clerk_resolves_the_case_and_the_agent_sees_the_result_when_the_citizen_calls(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        conn = await asyncpg.connect(db_url)
        try:
            await auth.create_user(
                conn, "asa-clerk", "organisation", password=PASSWORD, organisations=("asa",)
            )
        finally:
            await conn.close()
        base = d.urls["wallboard"].split("/wallboard")[0]

        clerk = await _page(d)
        await clerk.goto(base + "/")
        await clerk.get_by_label("User name").fill("asa-clerk")
        await clerk.get_by_label("Password").fill(PASSWORD)
        await clerk.get_by_role("button", name="Log in").click()
        await expect(clerk).to_have_url(base + "/journal")
        await clerk.get_by_role("button", name=CASE).click()
        case = clerk.get_by_test_id("journal-case")
        await expect(case.locator("#c-status")).to_have_text("In progress")
        await case.get_by_role("button", name="Take").click()
        await expect(case.locator("#c-assignee")).to_have_text("asa-clerk")
        await case.get_by_label("Move to").select_option("resolved")
        await case.get_by_label("Result the citizen is told").fill(RESULT)
        await case.get_by_role("button", name="Save").click()
        await expect(case.locator("#c-status")).to_have_text("Resolved")

        desk = await _desk(d)
        await _log_in_ready(desk)
        _call(d)  # the citizen of that case calls
        await _answered(d, desk)
        history = desk.locator("#history")
        await expect(history).to_contain_text(CASE)
        await expect(history).to_contain_text(f"Result: {RESULT}")
        await _shot(desk, "desktop-org-result")
        assert d.errors == []
