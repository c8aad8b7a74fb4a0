"""The organisations' journal in a real headless Chromium: a clerk of the Agency for
Social Assistance logs in and lands on the journal, sees her organisation's cases and
not another's, filters the emergencies, takes one and resolves it with the result the
citizen is told; the task "tell the citizen" opens with that result. The page passes
axe-core and fits a laptop (1366x768) and a phone (390 px)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import async_playwright, expect

from api_helpers import world
from cti.api import auth
from cti.store import cases
from cti.store.callers import upsert_caller
from cti.store.models import CallerIn, CaseCreate
from page_helpers import (
    PHONE,
    PSEUDO,
    axe_violations,
    horizontal_overflow,
    install_pseudo_locale,
    shot,
    untranslated,
)
from test_pages import CHROMIUM_ARGS, chromium

RESULT = "Помощта за отопление ви е отпусната от 1 януари; ще я получите по банков път."
PASSWORD = "correct horse battery"


async def _cases(db_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(db_url)
    try:
        await auth.create_user(
            conn, "asa-clerk", "organisation", password=PASSWORD, organisations=("asa",)
        )
        await upsert_caller(conn, CallerIn(phone="0888 555 180", name="Мария Иванова"))
        urgent = await cases.create_case(
            conn,
            CaseCreate(
                topic="social.benefits",
                phone="0888 555 180",
                description="Heating allowance not paid since November",
                address="Пловдив, ул. Гладстон 5",
                emergency=True,
            ),
            "ann",
        )
        plain = await cases.create_case(
            conn, CaseCreate(topic="social", address="София, бул. Витоша 1"), "ann"
        )
        other = await cases.create_case(conn, CaseCreate(topic="child_protection"), "ann")
    finally:
        await conn.close()
    return {"urgent": urgent.number, "plain": plain.number, "other": other.number}


@pytest.mark.slow
async def test_a_clerk_filters_takes_and_resolves_a_case_with_its_result(
    db_url: str, tmp_path: Path, classified_db: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        numbers = await _cases(db_url)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 768})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(w.base + "/")
                await page.get_by_label("User name").fill("asa-clerk")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await expect(page).to_have_url(w.base + "/journal")

                table = page.get_by_test_id("journal-cases")
                await expect(table).to_contain_text(numbers["urgent"])
                await expect(table).to_contain_text(numbers["plain"])
                await expect(table).not_to_contain_text(numbers["other"])
                await expect(page.locator("#count")).to_have_text("Cases: 2")

                await page.get_by_label("Emergency only").check()
                await page.get_by_role("button", name="Show").click()
                await expect(page.locator("#count")).to_have_text("Cases: 1")
                await expect(table).not_to_contain_text(numbers["plain"])
                await page.get_by_label("Search").fill("гладстон")
                await page.get_by_role("button", name="Show").click()
                await expect(table).to_contain_text("Мария Иванова · +359888555180")

                await page.get_by_role("button", name=numbers["urgent"]).click()
                case = page.get_by_test_id("journal-case")
                await expect(case.locator("#c-status")).to_have_text("Registered")
                await case.get_by_role("button", name="Take").click()
                await expect(case.locator("#c-status")).to_have_text("In progress")
                await expect(case.locator("#c-assignee")).to_have_text("asa-clerk")

                await case.get_by_label("Move to").select_option("resolved")
                await case.get_by_role("button", name="Save").click()  # no result yet
                result = case.get_by_label("Result the citizen is told")
                assert await result.evaluate("(e) => !e.validity.valid")
                await result.fill(RESULT)
                await case.get_by_label("Note on the move (internal)").fill("decision 17/2026")
                await case.get_by_role("button", name="Save").click()
                await expect(case.locator("#c-status")).to_have_text("Resolved")
                await expect(case.locator("#c-result")).to_have_text(RESULT)
                await expect(case.locator("#c-history")).to_contain_text("decision 17/2026")
                await expect(table).to_contain_text("Resolved")
                assert await axe_violations(page) == []
                assert await horizontal_overflow(page) is None
                await shot(page, "journal")

                await page.set_viewport_size(PHONE)
                assert await horizontal_overflow(page) is None
                await shot(page, "journal-phone")
                assert errors == []

                # Every word of the page comes from the chosen language (a pseudo-locale).
                context = await browser.new_context(viewport={"width": 1366, "height": 768})
                await install_pseudo_locale(context)
                pseudo = await context.new_page()
                await pseudo.goto(w.base + "/")
                await pseudo.locator("#username").fill("asa-clerk")
                await pseudo.locator("#password").fill(PASSWORD)
                await pseudo.locator("#password").press("Enter")
                await expect(pseudo).to_have_url(w.base + "/journal")
                await expect(pseudo.locator("#count")).to_have_text("Cases: 2")
                await pseudo.locator("#lang").select_option(PSEUDO)
                await expect(pseudo.locator("html")).to_have_attribute("lang", PSEUDO)
                await pseudo.get_by_role("button", name=numbers["urgent"]).click()
                await expect(pseudo.locator("#c-result")).to_have_text(RESULT)
                data = [*numbers.values(), "asa-clerk", "ann", "Мария Иванова", "+359888555180"]
                data += ["Пловдив, ул. Гладстон 5", "София, бул. Витоша 1", RESULT]
                data += ["Heating allowance not paid since November", "decision 17/2026"]
                assert await untranslated(pseudo, data) == []
            finally:
                await browser.close()

        conn = await asyncpg.connect(db_url)
        try:
            told = await conn.fetchrow(
                "SELECT n.result, n.status FROM notifications n JOIN cases c ON c.id = n.case_id"
                " WHERE c.number = $1",
                numbers["urgent"],
            )
        finally:
            await conn.close()
        assert (told["result"], told["status"]) == (RESULT, "pending")
