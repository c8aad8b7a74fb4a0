"""The survey campaigns page in a real headless Chromium: campaigns with their state,
progress and outcomes as the simulated calls come in; a supervisor starts, pauses and
resumes one. It passes axe-core at 1366x768 and does not widen a 390 px screen."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
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


@pytest.mark.slow
async def test_a_supervisor_writes_a_campaign_on_the_page_and_its_list_is_checked(
    db_url: str, tmp_path: Path
) -> None:
    async with survey_world(db_url, tmp_path) as w:
        await w.execute(
            "INSERT INTO organisations (code, name, names) VALUES ('water', 'Water works',"
            ' \'{"bg": "ВиК"}\');'
            "INSERT INTO topics (code, name, organisation) VALUES ('utility', 'Utility', 'water')"
        )
        listed = tmp_path / "residents.csv"
        listed.write_text("phone\n0888600501\n12ab\n+359 888 600 502\n0888600501\n")
        broken = tmp_path / "broken.csv"
        broken.write_bytes(b"0888600501\n\x00\x00\n")
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            await page.goto(f"{w.base}/campaigns#token={w.tokens['supervisor']}")
            await page.get_by_text("New campaign").click()
            form = page.locator("#cp-form")
            await form.get_by_label("Name").fill("Water quality 2026")
            await form.get_by_label("For the organisation").select_option(label="Water works")
            await form.get_by_label("Language of the calls").select_option("bg")
            # Saved without a prompt and without a file: the page says which, at once.
            await form.get_by_role("button", name="Save as a draft").click()
            error = page.locator("#cp-form-error")
            await expect(error).to_contain_text("question 1")
            await expect(error).to_contain_text("CSV file")
            first = form.get_by_test_id("question").nth(0)
            await expect(first.get_by_label("Prompt (sound file)")).to_be_focused()
            # A prompt no PBX could play: the server refuses, naming the question.
            await first.get_by_label("Prompt (sound file)").fill("../../etc/passwd")
            await form.get_by_label("CSV file", exact=True).set_input_files(str(listed))
            await form.get_by_role("button", name="Save as a draft").click()
            await expect(error).to_contain_text("question 1")
            await expect(first.get_by_label("Prompt (sound file)")).to_have_attribute(
                "aria-invalid", "true"
            )
            assert await w.rows("SELECT id FROM campaigns") == []
            await first.get_by_label("Column in the results").fill("taste")
            await first.get_by_label("Prompt (sound file)").fill("poll/taste")
            await form.get_by_role("button", name="Add a question").click()
            second = form.get_by_test_id("question").nth(1)
            await expect(second.get_by_label("Column in the results")).to_be_focused()
            await second.get_by_label("Answer").select_option("yes_no")
            await second.get_by_label("Prompt (sound file)").fill("poll/pressure")
            # Two questions with one results column: named before anything is sent.
            await second.get_by_label("Column in the results").fill("taste")
            await form.get_by_role("button", name="Save as a draft").click()
            await expect(error).to_have_text(
                "Two questions have the same results column · Check the field: question 2"
            )
            await second.get_by_label("Column in the results").fill("q2")
            # A list the server cannot read: the new draft is not left behind.
            await form.get_by_label("CSV file", exact=True).set_input_files(str(broken))
            await form.get_by_role("button", name="Save as a draft").click()
            await expect(error).to_contain_text("The list is not a readable text file")
            assert await w.rows("SELECT id FROM campaigns") == []
            await form.get_by_label("CSV file", exact=True).set_input_files(str(listed))
            await form.get_by_label("Attempts per number").fill("2")
            await form.get_by_label("Minutes between attempts").fill("30")
            assert await axe_violations(page) == []
            await shot(page, "campaign-new")
            await form.get_by_role("button", name="Save as a draft").click()
            created = page.get_by_test_id("created")
            await expect(created).to_contain_text("“Water quality 2026” is saved as a draft.")
            await expect(created).to_contain_text("2 added, 1 already there or repeated, 1 refused")
            await expect(page.get_by_test_id("refused-lines")).to_have_text(
                "Line 3 (12ab): Not a valid phone number"
            )
            rows = await w.rows(
                "SELECT id, name, organisation, questionnaire, max_attempts, retry_after_s,"
                " state FROM campaigns"
            )
            assert len(rows) == 1
            row = rows[0]
            questionnaire = json.loads(row["questionnaire"])
            assert [(q["id"], q["kind"], q["prompt"]) for q in questionnaire["questions"]] == [
                ("taste", "scale", "poll/taste"),
                ("q2", "yes_no", "poll/pressure"),
            ]
            assert questionnaire["language"] == "bg"
            assert (row["organisation"], row["max_attempts"], row["retry_after_s"]) == (
                "water",
                2,
                1800.0,
            )
            assert row["state"] == "draft"
            numbers = await w.rows(
                "SELECT phone FROM campaign_numbers WHERE campaign_id = $1 ORDER BY phone",
                row["id"],
            )
            assert numbers == [{"phone": "+359888600501"}, {"phone": "+359888600502"}]
            draft = page.get_by_test_id(f"campaign-{row['id']}")
            await expect(draft.get_by_test_id("state")).to_have_text("Draft")
            await expect(draft.get_by_test_id("progress")).to_contain_text("0 / 2")
            await shot(page, "campaign-created")
            # The form is empty again, ready for the next one: the citizens of the
            # period's cases of a topic (the browser's days; the last one whole).
            await expect(form.get_by_label("Name")).to_have_value("")
            case = {"topic": "utility", "phone": "0888600503", "description": "no water"}
            assert (await w.call("POST", "/api/v1/cases", "supervisor", json=case))[0] == 201
            await form.get_by_label("Name").fill("Utility callers")
            await first.get_by_label("Prompt (sound file)").fill("poll/taste")
            await form.get_by_label("Numbers from").select_option("cases")
            today = dt.date.today()
            await form.get_by_label("From", exact=True).fill(
                (today - dt.timedelta(days=7)).isoformat()
            )
            await form.get_by_label("To (inclusive)").fill(today.isoformat())
            await form.locator("select[name=topic]").select_option(label="Utility")
            await form.get_by_role("button", name="Save as a draft").click()
            await expect(created).to_contain_text("“Utility callers” is saved as a draft.")
            await expect(created).to_contain_text("1 added, 0 already there or repeated, 0 refused")
            later = await w.rows(
                "SELECT n.phone, n.topic FROM campaign_numbers n JOIN campaigns c"
                " ON c.id = n.campaign_id WHERE c.name = 'Utility callers'"
            )
            assert later == [{"phone": "+359888600503", "topic": "utility"}]
            # A draft nobody wants is discarded, after a question.
            utility = page.get_by_role("row").filter(has_text="Utility callers")
            page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await utility.get_by_role("button", name="Discard").click()
            await expect(utility).to_have_count(0)
            assert await w.rows("SELECT name FROM campaigns") == [{"name": "Water quality 2026"}]
            # In Bulgarian: the form and what it last said.
            await page.select_option("#lang", "bg")
            await expect(page.get_by_text("Нова анкета")).to_be_visible()
            await expect(created).to_contain_text("„Utility callers“ е запазена като чернова.")
            await page.set_viewport_size({"width": 390, "height": 844})
            assert await horizontal_overflow(page) is None
            await shot(page, "campaign-new-phone")
            await browser.close()
