"""The agent desktop, the wallboard and the reports in a real headless Chromium (Debian's
`chromium`, driven by Playwright) against the `cti demo` stack: the simulated PBX, the
CTI with its ACD and IVR, and a real PostgreSQL. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from cti.app import Core
from cti.config import Settings
from cti.demo import DEFAULT_CLASSIFIER, PERSON, DemoOptions, run_demo
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Citizen
from cti.sim.traffic import Traffic
from cti.sim.workload import default_workload_path
from cti.store.callers import upsert_caller
from cti.store.classifier import load_classifier
from cti.store.models import CallerIn
from cti.store.service import StoreService

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
# As the machine notes say: without the background-networking flags Chromium keeps
# trying hosts this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CALLER = "+359888555123"


def chromium() -> str:
    path = os.environ.get("CTI_CHROMIUM") or shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is needed (apt-get install chromium; .ci/run does it)")
    return path


@dataclass
class Demo:
    core: Core
    server: SimAmiServer
    traffic: Traffic
    urls: dict[str, str]
    browser: Browser
    errors: list[str] = field(default_factory=list)
    printed: str = ""  # what the demo printed at start (URLs, credentials)


@asynccontextmanager
async def demo(db_url: str, tmp_path: Path, speed: float = 1.0) -> AsyncIterator[Demo]:
    """`cti demo` in real time with almost no traffic of its own: the test places the
    calls. The bots take a break so that the person at the desktop gets the call. With
    a known caller, a week of history, and a headless Chromium."""
    workload = tmp_path / "quiet.yaml"
    text = default_workload_path().read_text()
    workload.write_text(text.replace("calls_per_hour: 300", "calls_per_hour: 0.01"))
    stop = asyncio.Event()
    out = io.StringIO()
    seen: dict[str, Any] = {}

    def ready(core: Core, server: SimAmiServer, traffic: Traffic) -> None:
        seen.update(core=core, server=server, traffic=traffic)
        server.pbx.endpoints[PERSON].answer_after_s = None  # answered from the desktop
        acd = core.acd
        assert acd is not None
        for profile in acd.acd.profiles():
            if profile.id != PERSON:
                acd.apply(acd.acd.set_not_ready(profile.id, "break", acd.now()))

    classifier = load_classifier(DEFAULT_CLASSIFIER)
    store = StoreService(db_url, tmp_path / "outbox", classifier=classifier)
    options = DemoOptions(workload=workload, refresh_s=0.5, speed=speed)
    task = asyncio.create_task(
        run_demo(Settings(), options, db_url, stop, out=out, on_ready=ready, store=store)
    )
    try:
        for _ in range(400):
            if "Ctrl-C to stop" in out.getvalue() or task.done():
                break
            await asyncio.sleep(0.05)
        if task.done():
            task.result()
        printed = out.getvalue()
        urls = {
            name: printed.split(f"{name}: ", 1)[1].split()[0] for name in ("wallboard", "reports")
        }
        urls["desktop"] = printed.split(f"agent '{PERSON}': ", 1)[1].split()[0]
        await _history(db_url)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                yield Demo(
                    seen["core"], seen["server"], seen["traffic"], urls, browser, printed=printed
                )
            finally:
                await browser.close()
    finally:
        stop.set()
        await task


async def _history(db_url: str) -> None:
    """A known citizen with an open case, and a week of stored calls and agent states
    for the reports (as the CDR writer stores them)."""
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(100):  # the demo's store loads the classifier as it connects
            if await conn.fetchval("SELECT count(*) FROM topics"):
                break
            await asyncio.sleep(0.1)
        caller = await upsert_caller(
            conn, CallerIn(phone=CALLER, name="Мария Иванова", address="Пловдив, ул. Гладстон 5")
        )
        await conn.execute(
            "INSERT INTO cases (number, phone, caller_id, topic, organisation, description,"
            " status, deadline, created_by) VALUES ('2026-009001', $1, $2,"
            " 'social.benefits.heating', 'asa', 'Heating allowance not paid', 'in_progress',"
            " current_date + 5, 'ann')",
            CALLER,
            caller.id,
        )
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        rows = []
        for i in range(7 * 24):
            at = now - dt.timedelta(hours=i)
            for n in range(i % 5 + 1):
                answered = n % 4 != 3
                rows.append(
                    (
                        f"seed-{i}-{n}",
                        at + dt.timedelta(minutes=n * 7),
                        "social_assistance" if n % 2 else "employment",
                        "social" if n % 2 else "employment",
                        "bot-1" if answered else None,
                        float(5 + 9 * n),
                        60.0 + 30 * n if answered else None,
                        "answered" if answered else "abandoned",
                    )
                )
        await conn.executemany(
            "INSERT INTO interactions (id, direction, caller_number, arrived_at, queue, topic,"
            " agent, wait_s, talk_s, outcome, answered_at)"
            " VALUES ($1, 'inbound', '+359888000000', $2::timestamptz, $3, $4, $5, $6::real,"
            " $7, $8::text, CASE WHEN $8::text = 'answered'"
            " THEN $2::timestamptz + make_interval(secs => $6::real) END)",
            rows,
        )
        base = now - dt.timedelta(hours=5)
        log = [("ready", 0.0), ("reserved", 600.0), ("on_call", 5.0), ("wrap_up", 300.0)]
        log += [("ready", 20.0), ("not_ready", 400.0), ("ready", 900.0)]
        await conn.executemany(
            "INSERT INTO agent_state_log (key, agent, state, reason, at, previous_s)"
            " VALUES ($1, 'bot-1', $2, NULL, $3, $4)",
            [
                (f"seed-{i}", state, base + dt.timedelta(minutes=i * 10), prev)
                for i, (state, prev) in enumerate(log)
            ],
        )
    finally:
        await conn.close()


async def _page(d: Demo, lang: str = "en") -> Page:
    context = await d.browser.new_context(viewport={"width": 1400, "height": 1000}, locale=lang)
    page = await context.new_page()
    page.on("pageerror", lambda exc: d.errors.append(str(exc)))
    page.on(
        "response",
        lambda r: d.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.on("console", lambda msg: d.errors.append(msg.text) if msg.type == "error" else None)
    return page


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.slow
async def test_an_agent_takes_a_call_files_a_case_and_a_supervisor_whispers(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        desk = await _page(d)
        await desk.goto(d.urls["desktop"])
        state = desk.get_by_test_id("state")
        await expect(state).to_have_text("Logged out")
        wall = await _page(d)
        await wall.goto(d.urls["wallboard"])
        tile = wall.locator(f'.tile[data-agent="{PERSON}"]')
        await expect(tile).to_have_class("tile st-logged_out")
        await expect(wall.locator(".tile")).to_have_count(26)

        # The agent logs in and goes ready; the wallboard follows.
        await desk.get_by_role("button", name="Log in", exact=True).click()
        await expect(state).to_have_text("Not ready")
        await desk.get_by_role("button", name="Ready", exact=True).click()
        await expect(state).to_have_text("Ready")
        await expect(tile).to_have_class("tile st-ready")

        # A citizen calls: the screen-pop shows who it is and what is open.
        keys = list(d.traffic.keys.get("social_assistance", []))
        d.server.pbx.inbound_call(Citizen(CALLER, "social_assistance", talk_s=600, keys=keys))
        await expect(state).to_have_text("Ringing", timeout=15_000)
        await expect(desk.locator("#pop-number")).to_have_text(CALLER)
        await expect(desk.locator("#pop-name")).to_have_text("Мария Иванова")
        await expect(desk.locator("#pop-address")).to_contain_text("Пловдив")
        await expect(desk.locator("#cases")).to_contain_text("2026-009001")
        await expect(desk.locator("#pop-ivr span").first).to_be_visible()
        await desk.get_by_role("button", name="Answer").click()
        await expect(state).to_have_text("On call")
        await expect(tile).to_have_class("tile st-on_call")
        await _shot(desk, "desktop-on-call")

        # The supervisor whispers from their phone.
        await tile.locator('button[data-action="whisper"]').click()
        await expect(wall.locator(".toast").last).to_contain_text("Whisper")
        spies = [a for a in d.server.received if a.get("Application") == "ChanSpy"]
        assert [(a["Channel"], a["Data"]) for a in spies] == [
            ("PJSIP/supervisor", f"PJSIP/{PERSON}-,qEw")
        ]
        await wall.locator("#bc-text").fill("Planned water outage in Plovdiv until 18:00")
        await wall.get_by_role("button", name="Send").click()
        await expect(desk.locator(".broadcast")).to_contain_text("water outage")
        await _shot(wall, "wallboard")

        # A reload (a new websocket) keeps what the desktop shows.
        await desk.reload()
        await expect(state).to_have_text("On call")
        await expect(desk.locator("#pop-name")).to_have_text("Мария Иванова")
        await expect(desk.locator(".broadcast")).to_contain_text("water outage")

        # Hold and resume, then hang up: wrap-up with a new case.
        await desk.get_by_role("button", name="Hold", exact=True).click()
        await expect(state).to_have_text("On call · on hold")
        await desk.get_by_role("button", name="Resume", exact=True).click()
        await expect(state).to_have_text("On call")
        await desk.get_by_role("button", name="Hang up").click()
        await expect(state).to_have_text("Wrap-up")
        await desk.locator("#c-topic").select_option("social.benefits.heating")
        await expect(desk.locator("#c-org")).to_have_value("asa")
        await expect(desk.locator("#c-deadline")).to_contain_text("7 days")
        await desk.locator("#c-desc").fill("Asks again about the heating allowance")
        await desk.locator("#disposition").select_option("case_registered")
        await _shot(desk, "desktop-wrap-up")
        await desk.get_by_role("button", name="Finish wrap-up").click()
        await expect(desk.locator(".toast").last).to_contain_text("filed")
        await expect(state).to_have_text("Ready")
        await expect(tile).to_have_class("tile st-ready")

        conn = await asyncpg.connect(db_url)
        try:
            case = await conn.fetchrow(
                "SELECT number, topic, organisation, description, deadline FROM cases"
                " WHERE phone = $1 AND number <> '2026-009001'",
                CALLER,
            )
        finally:
            await conn.close()
        assert case is not None
        assert (case["topic"], case["organisation"]) == ("social.benefits.heating", "asa")
        assert case["deadline"] == dt.date.today() + dt.timedelta(days=7)
        assert d.errors == []


@pytest.mark.slow
async def test_reports_render_charts_and_the_pages_speak_the_users_language(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        page = await _page(d)
        await page.goto(d.urls["reports"])
        await expect(page.locator("body[data-loaded]")).to_have_count(1)
        # 24 hours of the day x three series, 7 days of SL and ASA.
        await expect(page.locator("#ch-hour rect.bar")).to_have_count(72)
        await expect(page.locator("#ch-day path.line")).to_have_count(2)
        await expect(page.locator("#ch-topic rect.bar")).to_have_count(2)
        # The seeded agent, and the demo's own agents from their state log.
        await expect(page.locator("#ch-occupancy")).to_contain_text("bot-1")
        assert await page.locator("#ch-occupancy rect.bar").count() > 1
        async with page.expect_download() as info:
            await page.locator('button[data-csv="topic"]').click()
        saved = tmp_path / "topics.csv"
        await (await info.value).save_as(saved)
        csv = await asyncio.to_thread(saved.read_text)
        assert csv.splitlines()[0] == (
            "key,offered,answered,abandoned,service_level,asa_s,aht_s,abandon_rate,name"
        )
        await _shot(page, "reports")
        # A queue filter narrows every chart.
        await page.locator("#f-queue").select_option("employment")
        await page.get_by_role("button", name="Show").click()
        await expect(page.locator("#ch-topic rect.bar")).to_have_count(1)

        # Bulgarian, chosen by this user, stays with the user (a fresh page speaks it).
        await page.locator("#lang").select_option("bg")
        await expect(page.locator("h1")).to_have_text("Отчети")
        other = await _page(d)
        await other.goto(d.urls["wallboard"])
        await expect(other.locator("h1")).to_have_text("Табло")
        await expect(other.locator("#totals")).to_contain_text("Чакащи")
        for lang, title in (("ru", "Табло"), ("hu", "Falitábla"), ("en", "Wallboard")):
            await other.locator("#lang").select_option(lang)
            await expect(other.locator("h1")).to_have_text(title)
        # Numbers and dates follow the language: a date in Russian has its month name.
        await other.locator("#lang").select_option("ru")
        await page.reload()
        await expect(page.locator("h1")).to_have_text("Отчёты")
        assert d.errors == []
