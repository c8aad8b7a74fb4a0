"""The survey campaigns page in a real headless Chromium: campaigns with their state,
progress and outcomes as the simulated calls come in; a supervisor starts, pauses and
resumes one. It passes axe-core at 1366x768 and does not widen a 390 px screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from campaign_helpers import QUESTIONNAIRE, survey_world, until
from cti.sim.survey_calls import SurveyCitizen
from page_helpers import axe_violations, horizontal_overflow, shot
from test_pages import CHROMIUM_ARGS, chromium


@pytest.mark.slow
async def test_a_supervisor_follows_campaigns_and_pauses_one(db_url: str, tmp_path: Path) -> None:
    async with survey_world(db_url, tmp_path) as w:
        w.calls.citizens["+359888600401"] = SurveyCitizen(keys=["5", "1", "33#"])
        w.calls.citizens["+359888600402"] = SurveyCitizen(amd="MACHINE")
        first = await w.campaign(["+359888600401", "+359888600402"], max_attempts=1)
        spec = {"name": "Health care", "questionnaire": QUESTIONNAIRE, "retry_after_s": 600}
        _, second = await w.call("POST", "/api/v1/campaigns", "supervisor", json=spec)
        path = f"/api/v1/campaigns/{second['id']}/numbers"
        assert (await w.call("POST", path, "supervisor", data="0888600403\n"))[0] == 200

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            await page.goto(f"{w.base}/campaigns#token={w.tokens['supervisor']}")
            done = page.get_by_test_id(f"campaign-{first}")
            await expect(done.get_by_test_id("state")).to_have_text("Done", timeout=15_000)
            await expect(done.get_by_test_id("progress")).to_contain_text("2 / 2")
            await expect(done.get_by_test_id("outcome-completed")).to_have_text("Completed: 1")
            await expect(done.get_by_test_id("outcome-machine")).to_have_text(
                "Answering machine: 1"
            )
            other = page.get_by_test_id(f"campaign-{second['id']}")
            await expect(other.get_by_test_id("state")).to_have_text("Draft")
            await other.get_by_role("button", name="Start").click()
            await expect(other.get_by_test_id("state")).to_have_text("Running")
            await other.get_by_role("button", name="Pause").click()
            await expect(other.get_by_test_id("state")).to_have_text("Paused")
            rows = await w.rows("SELECT state FROM campaigns WHERE id = $1", second["id"])
            assert rows == [{"state": "paused"}]
            assert await axe_violations(page) == []
            await shot(page, "campaigns")
            await other.get_by_role("button", name="Resume").click()
            await expect(other.get_by_test_id("state")).to_have_text("Running")
            await page.set_viewport_size({"width": 390, "height": 844})
            assert await horizontal_overflow(page) is None
            await shot(page, "campaigns-phone")
            await browser.close()

        async def no_answer_recorded() -> bool:
            rows = await w.rows(
                "SELECT last_outcome FROM campaign_numbers WHERE campaign_id = $1", second["id"]
            )
            return rows == [{"last_outcome": "no_answer"}]

        await until(no_answer_recorded)
