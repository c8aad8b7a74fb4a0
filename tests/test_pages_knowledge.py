"""The desktop's knowledge panel in a real headless Chromium against `cti demo` (its
seeded articles and directory): on a citizen's call about social assistance she sees
the call script and three suggested articles, opens one and marks it helpful (counted
on the server), finds an article by an inflected Bulgarian form and an office in the
directory of services. The panel passes axe-core."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import expect

from page_helpers import axe_violations, shot
from test_pages import demo
from test_pages_desktop import SPEED, _answered, _call, _desk, _log_in_ready


@pytest.mark.slow
async def test_she_reads_the_script_and_suggestions_and_searches(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        desk = await _desk(d)
        kb = desk.get_by_test_id("knowledge")
        await _log_in_ready(desk)
        _call(d)
        await _answered(d, desk)
        await kb.get_by_text("Call script").click()  # folded until she unfolds it
        await expect(desk.get_by_test_id("kb-script")).to_contain_text("Социална линия")
        await kb.get_by_text("Suggested for this call").click()
        suggested = desk.get_by_test_id("kb-suggested").get_by_role("button")
        await expect(suggested).to_have_count(3)
        first = await suggested.first.text_content()
        await suggested.first.click()
        article = desk.get_by_test_id("kb-article")
        await expect(article.locator("h3")).to_have_text(first or "?")
        await article.get_by_role("button", name="Helpful").click()
        await expect(desk.get_by_test_id("kb-counts")).to_have_text("helpful 1 · outdated 0")
        conn = await asyncpg.connect(db_url)
        try:
            marked = await conn.fetchval(
                "SELECT username FROM kb_feedback f JOIN kb_articles a ON a.id = f.article_id"
                " WHERE a.title = $1 AND f.verdict = 'helpful'",
                first,
            )
        finally:
            await conn.close()
        assert marked == "you"

        await kb.get_by_label("Search the knowledge base").fill("помощи за отоплението")
        await kb.get_by_role("button", name="Search").click()
        results = desk.get_by_test_id("kb-results")
        await expect(results).to_contain_text("Целева помощ за отопление")
        await expect(results).not_to_contain_text("2024/2025")  # expired: not offered
        await kb.get_by_label("Where to search").select_option("directory")
        await kb.get_by_label("Search the knowledge base").fill("обезщетения за безработица")
        await kb.get_by_role("button", name="Search").click()
        await expect(results.locator("li").first).to_contain_text(
            "Национален осигурителен институт"
        )
        assert await axe_violations(desk) == []
        await shot(desk, "desktop-knowledge")
        assert d.errors == []
