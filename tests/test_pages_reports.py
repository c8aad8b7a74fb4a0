"""The manager's reports in a real headless Chromium against `cti demo` and a real
PostgreSQL: what the page shows (period totals, per interval, agent, topic and queue,
agents' time per state, CSV) equals what the test stored, counted in the centre's time
zone (the demo's IVR: Europe/Sofia); one day is 24 hourly bars, a year 12 months.
The screenshot docs/img/reports.png is taken here."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from playwright.async_api import Page, expect

from test_pages import ARTIFACTS, Demo, _page, demo

DOCS_IMG = Path(__file__).parent.parent / "docs" / "img"
SOFIA = ZoneInfo("Europe/Sofia")
A, B = "social_assistance-1", "employment-1"  # two of the demo's agents
# (local time on the test's day, queue, topic, agent, wait, talk, wrap-up, outcome)
CALLS = [
    ("00:10", "social_assistance", "social.benefits.heating", A, 5, 100, 20, "answered"),
    ("00:40", "social_assistance", "social.benefits.heating", B, 30, 200, 40, "answered"),
    ("00:50", "social_assistance", "social.benefits.heating", None, 45, None, None, "abandoned"),
    ("09:05", "employment", "employment.registration", A, 10, 300, 0, "answered"),
    ("09:20", "employment", "employment.registration", None, 60, None, None, "abandoned"),
    ("23:55", "employment", "employment.unemployment_benefit", B, 15, 60, 30, "answered"),
]


def _local(day: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), SOFIA)


async def _store(db_url: str, day: dt.date) -> None:
    """The test's day, a month back (the demo's own history is the last week), and a
    call just before and just after it, which the day must not count."""
    rows = [
        (f"rep-{i}", _local(day, at), q, topic, agent, float(wait), talk, wrap, outcome)
        for i, (at, q, topic, agent, wait, talk, wrap, outcome) in enumerate(CALLS)
    ]
    rows.append(("rep-before", _local(day, "00:00") - dt.timedelta(minutes=1), "employment",
                 "employment", A, 5.0, 60.0, 0.0, "answered"))  # fmt: skip
    rows.append(("rep-after", _local(day + dt.timedelta(days=1), "00:01"), "employment",
                 "employment", A, 5.0, 60.0, 0.0, "answered"))  # fmt: skip
    conn = await asyncpg.connect(db_url)
    try:
        await conn.executemany(
            "INSERT INTO interactions (id, direction, caller_number, arrived_at, queue, topic,"
            " agent, wait_s, talk_s, wrap_up_s, outcome, answered_at)"
            " VALUES ($1, 'inbound', '+359888000001', $2::timestamptz, $3, $4, $5, $6::real,"
            " $7, $8,"
            " $9::text, CASE WHEN $9::text = 'answered'"
            " THEN $2::timestamptz + make_interval(secs => $6::real) END)",
            rows,
        )
        log = [("08:00", "ready", 0.0), ("08:30", "on_call", 1800.0)]
        log += [
            ("08:40", "wrap_up", 600.0),
            ("08:45", "not_ready", 300.0),
            ("09:00", "ready", 900.0),
        ]
        await conn.executemany(
            "INSERT INTO agent_state_log (key, agent, state, reason, at, previous_s)"
            " VALUES ($1, $2, $3, NULL, $4, $5)",
            [(f"rep-{at}", A, state, _local(day, at), prev) for at, state, prev in log],
        )
    finally:
        await conn.close()


async def _csv(page: Page, button: str, tmp_path: Path) -> list[dict[str, str]]:
    async with page.expect_download() as info:
        await page.locator(button).first.click()
    saved = tmp_path / "download.csv"
    await (await info.value).save_as(saved)
    text = await asyncio.to_thread(saved.read_text)
    return list(csv.DictReader(io.StringIO(text)))


async def _cells(page: Page, table: str, key: str) -> dict[str, str]:
    row = page.locator(f'#{table} tr[data-key="{key}"]')
    await expect(row).to_have_count(1)
    cells: dict[str, str] = await row.evaluate(
        """(tr) => Object.fromEntries([["label", tr.querySelector("th").textContent],
             ...[...tr.querySelectorAll("td")].map((td) => [td.dataset.col, td.textContent])])"""
    )
    return cells


@pytest.mark.slow
async def test_reports_show_what_was_stored_in_the_centres_time_zone(
    db_url: str, tmp_path: Path
) -> None:
    today = dt.datetime.now(SOFIA).date()
    day = today - dt.timedelta(days=30)
    async with demo(db_url, tmp_path) as d:
        await _store(db_url, day)
        page = await _reports(d)
        # The default period: the last seven days as Sofia counts them.
        await expect(page.locator("#f-end")).to_have_value(today.isoformat())
        await expect(page.locator("#f-start")).to_have_value(
            (today - dt.timedelta(days=6)).isoformat()
        )
        await expect(page.locator("#zone")).to_have_text(
            "Time zone: Eastern European Time (Europe/Sofia)"
        )

        await page.locator("#f-start").fill(day.isoformat())
        await page.locator("#f-end").fill(day.isoformat())
        await page.get_by_role("button", name="Show", exact=True).click()
        totals = page.locator("#totals")
        # 6 calls that day in Sofia (the first at 00:10 is 22:10 UTC the day before):
        # 4 answered, 3 of them within 20 s; ASA (5+30+10+15)/4; AHT (120+240+300+90)/4.
        expected = {"offered": "6", "answered": "4", "abandoned": "2", "abandon_rate": "33%",
                    "service_level": "50%", "asa_s": "0:15", "aht_s": "3:08"}  # fmt: skip
        for kpi, text in expected.items():
            await expect(totals.locator(f'[data-kpi="{kpi}"] b')).to_have_text(text)

        # One day reads as 24 hourly groups of three bars, not a lone dot.
        await expect(page.locator("#ch-period rect.bar")).to_have_count(72)
        # 3 hours with calls: SL dots, ASA hollow squares (one never hides the other)
        await expect(page.locator("#ch-day circle.marker")).to_have_count(3)
        await expect(page.locator("#ch-day rect.marker")).to_have_count(3)
        # The ASA axis (on the right) has five different labels.
        ticks = await page.locator("#ch-day text[text-anchor=start]").all_text_contents()
        assert len(ticks) == 5
        assert len(set(ticks)) == 5, ticks

        # Per interval (the hour, in Sofia).
        hours = page.locator("#t-interval tbody tr")
        await expect(hours).to_have_count(3)
        first = await _cells(page, "t-interval", f"{day}T00:00")
        assert (first["offered"], first["answered"], first["abandoned"]) == ("3", "2", "1")
        assert first["service_level"] == "33%"
        late = await _cells(page, "t-interval", f"{day}T23:00")
        assert (late["offered"], late["answered"], late["aht_s"]) == ("1", "1", "1:30")

        # Per agent, with their names.
        acd = d.core.acd
        assert acd is not None
        names = {p.id: p.name for p in acd.acd.profiles()}
        a = await _cells(page, "t-agent", A)
        assert a["label"] == names[A]
        assert (a["offered"], a["answered"], a["asa_s"], a["aht_s"]) == ("2", "2", "0:08", "3:30")
        b = await _cells(page, "t-agent", B)
        assert (b["label"], b["answered"], b["service_level"]) == (names[B], "2", "50%")
        nobody = await _cells(page, "t-agent", "")
        assert (nobody["label"], nobody["abandoned"]) == ("none", "2")

        # Per topic and per queue, by name.
        heating = await _cells(page, "t-topic", "social.benefits.heating")
        assert (heating["label"], heating["offered"], heating["abandoned"]) == (
            "Heating allowance",
            "3",
            "1",
        )
        registration = await _cells(page, "t-topic", "employment.registration")
        assert (registration["label"], registration["abandon_rate"]) == (
            "Registration as a job seeker",
            "50%",
        )
        queue = await _cells(page, "t-queue", "employment")
        assert (queue["label"], queue["offered"], queue["answered"]) == ("Employment", "3", "2")

        # Agents' time per state: ready 30 min, on a call 10, wrap-up 5, not ready 15.
        occ = page.locator(f'#t-occupancy tr[data-key="{A}"]')
        await expect(occ).to_contain_text(names[A] or A)
        await expect(occ.locator("td")).to_have_text(
            ["30:00", "0:00", "10:00", "5:00", "15:00", "33%"]
        )
        await page.screenshot(path=str(DOCS_IMG / "reports.png"), full_page=True)

        # CSV: flat cells, the same figures, names next to codes.
        agents = await _csv(page, 'button[data-csv="agent"]', tmp_path)
        assert list(agents[0]) == [
            "key", "offered", "answered", "abandoned", "service_level", "asa_s", "aht_s",
            "abandon_rate", "name",
        ]  # fmt: skip
        by_key = {r["key"]: r for r in agents}
        assert by_key[A]["name"] == names[A]
        assert (by_key[A]["offered"], by_key[A]["answered"], by_key[A]["asa_s"]) == (
            "2",
            "2",
            "7.5",
        )
        occupancy = await _csv(page, 'button[data-csv="occupancy"]', tmp_path)
        assert list(occupancy[0]) == [
            "agent", "name", "ready_s", "reserved_s", "on_call_s", "wrap_up_s", "not_ready_s",
            "occupancy",
        ]  # fmt: skip
        mine = next(r for r in occupancy if r["agent"] == A)
        assert (mine["ready_s"], mine["on_call_s"], mine["wrap_up_s"]) == (
            "1800.0",
            "600.0",
            "300.0",
        )
        assert mine["occupancy"] == "0.3333"
        for rows in (agents, occupancy):
            for row in rows:
                assert not any(v.startswith(("{", "[")) for v in row.values()), row

        # 15-minute intervals of the same day.
        await page.locator("#f-interval").select_option("15min")
        await expect(page.locator("#t-interval tbody tr")).to_have_count(6)
        quarter = await _cells(page, "t-interval", f"{day}T00:30")
        assert (quarter["offered"], quarter["answered"]) == ("1", "1")
        await expect(page.locator("#ch-period rect.bar")).to_have_count(96 * 3)

        # A year: twelve months (or as many as have begun), each three bars.
        await page.locator("#f-interval").select_option("")
        await page.locator('button[data-period="year"]').click()
        await expect(page.locator("#f-start")).to_have_value(f"{today.year}-01-01")
        await expect(page.locator("#ch-period rect.bar")).to_have_count(3 * today.month)
        month = await _cells(page, "t-interval", day.strftime("%Y-%m"))
        assert int(month["offered"]) >= 6

        # A 1366x768 laptop, in English and in Bulgarian: no table is cut in its box.
        await page.set_viewport_size({"width": 1366, "height": 768})
        for lang in ("en", "bg"):
            await _switch_language(page, lang)
            assert await _clipped_tables(page) == [], lang
        await expect(page.locator("#zone")).to_have_text(
            re.compile(r"^Часова зона: .*Europe/Sofia")
        )
        await page.screenshot(path=str(ARTIFACTS / "reports-1366-bg.png"), full_page=True)

        # From after To: a message in the page's language, and no query.
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/reports/kpis" in r.url else None)
        await page.locator("#f-start").fill(today.isoformat())
        await page.locator("#f-end").fill((today - dt.timedelta(days=3)).isoformat())
        await page.get_by_role("button", name="Покажи", exact=True).click()
        await expect(page.locator("#f-error")).to_have_text(re.compile("Началната дата е след"))
        await expect(page.locator("#f-start")).to_have_attribute("aria-invalid", "true")
        await page.wait_for_timeout(300)
        assert asked == []
        await _switch_language(page, "en")
        await expect(page.locator("#f-error")).to_have_text(re.compile("“From” is after “To”"))
        assert d.errors == []


async def _switch_language(page: Page, lang: str) -> None:
    await page.locator("#lang").select_option(lang)
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await page.wait_for_timeout(200)


async def _clipped_tables(page: Page) -> list[str]:
    """Tables wider than their box (a column hidden behind a scroll bar), and column
    headings whose text sticks out of their cell."""
    found: list[str] = await page.evaluate(
        """() => {
          const out = [];
          document.querySelectorAll(".tables .scroll, .panel > .scroll").forEach((box) => {
            const table = box.querySelector("table");
            if (table && table.scrollWidth > box.clientWidth + 1)
              out.push(`${table.id}: ${table.scrollWidth} > ${box.clientWidth}`);
          });
          document.querySelectorAll("table th").forEach((th) => {
            if (th.scrollWidth > th.clientWidth + 1) out.push(`th ${th.textContent}`);
          });
          return out;
        }"""
    )
    return found


async def _reports(d: Demo) -> Page:
    page = await _page(d)
    await page.set_viewport_size({"width": 1600, "height": 1000})
    await page.goto(d.urls["reports"])
    await expect(page.locator("body[data-loaded]")).to_have_count(1)
    return page


def test_a_period_of_days_is_counted_in_the_given_time_zone() -> None:
    """Whole days in the centre's zone: a Sofia day starts at 22:00 UTC in winter, and
    the day summer time starts has 23 hours."""
    from pydantic import ValidationError

    from cti.api.reports import KpiQuery

    winter = KpiQuery.model_validate(
        {"first_day": "2026-12-01", "last_day": "2026-12-01", "timezone": "Europe/Sofia"}
    ).filter()
    assert winter.start == dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)
    assert winter.end - winter.start == dt.timedelta(hours=24)
    spring = KpiQuery.model_validate(
        {"first_day": "2026-03-29", "last_day": "2026-03-29", "timezone": "Europe/Sofia"}
    ).filter()
    assert spring.end - spring.start == dt.timedelta(hours=23)
    for bad in (
        {"first_day": "2026-12-02", "last_day": "2026-12-01"},  # ends before it starts
        {"first_day": "2026-12-01"},  # half a period
        {"first_day": "2026-12-01", "last_day": "2026-12-01", "start": "2026-12-01T00:00Z"},
        {},
    ):
        with pytest.raises(ValidationError):
            KpiQuery.model_validate(bad)
