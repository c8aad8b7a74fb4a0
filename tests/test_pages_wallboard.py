"""The supervisor's wallboard in a real headless Chromium on a 1080p screen, against
`cti demo` (simulated PBX, the CTI's ACD, real PostgreSQL): 30 agents with their names
fit the screen, live updates never take the focus from a control, listen / stop marks
and unmarks the tile and leaves no leg behind, long calls and not-readies turn tiles
amber and red. The screenshot the README shows is taken here (docs/img/wallboard.png)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from cti.queues.models import AgentProfile
from cti.queues.service import AcdService
from cti.sim.models import Citizen
from page_helpers import axe_violations
from test_pages import ARTIFACTS, Demo, _page, demo

DOCS_IMG = Path(__file__).parent.parent / "docs" / "img"
TV = {"width": 1920, "height": 1080}


def _acd(d: Demo) -> AcdService:
    acd = d.core.acd
    assert acd is not None
    return acd


def _bots(d: Demo) -> list[str]:
    return [p.id for p in _acd(d).acd.profiles() if p.id != "you" and "extra" not in p.id]


def _state(d: Demo, agent: str) -> str:
    return next(str(a.state) for a in _acd(d).acd.agents() if a.id == agent)


def _add_agents(d: Demo, n: int) -> None:
    """More agents, with names, up to the centre's 30."""
    acd = _acd(d)
    for i in range(n):
        profile = AgentProfile(
            id=f"extra-{i + 1}",
            endpoint=f"PJSIP/extra-{i + 1}",
            name=f"Extra Agent {i + 1}",
            skills={"employment": 5},
            queues=("employment",),
        )
        acd.apply(acd.acd.upsert_agent(profile, acd.now()))


def _ready(d: Demo, agents: list[str]) -> None:
    acd = _acd(d)
    for agent in agents:
        if _state(d, agent) == "not_ready":
            acd.apply(acd.acd.set_ready(agent, acd.now()))


def _call(d: Demo, n: int, talk_s: float, queue: str = "social_assistance") -> None:
    keys = list(d.traffic.keys.get(queue, []))
    d.server.pbx.inbound_call(Citizen(f"+35988810{n:04d}", queue, talk_s=talk_s, keys=keys))


async def _tv(d: Demo) -> Page:
    page = await _page(d)
    await page.set_viewport_size(TV)
    await page.goto(d.urls["wallboard"])
    await expect(page.locator("body[data-loaded]")).to_have_count(1)
    return page


@pytest.mark.slow
async def test_thirty_agents_fit_a_1080p_screen_and_force_keeps_focus(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        _add_agents(d, 4)
        wall = await _tv(d)
        tiles = wall.locator(".tile")
        await expect(tiles).to_have_count(30)

        # Every tile, every queue row and the live calls panel lie inside the screen,
        # and the page itself does not scroll.
        for i in range(30):
            box = await tiles.nth(i).bounding_box()
            assert box is not None
            assert box["x"] >= 0, i
            assert box["y"] >= 0, i
            assert box["x"] + box["width"] <= TV["width"], i
            assert box["y"] + box["height"] <= TV["height"], (i, box)
        rows = wall.locator("#queues tr")
        assert await rows.count() >= 5
        for i in range(await rows.count()):
            box = await rows.nth(i).bounding_box()
            assert box is not None
            assert box["y"] + box["height"] <= TV["height"]
        panel = await wall.locator(".calls-panel").bounding_box()
        assert panel is not None
        assert panel["y"] + 120 < TV["height"]
        scroll = await wall.evaluate(
            "[document.scrollingElement.scrollHeight, document.scrollingElement.scrollWidth]"
        )
        assert scroll[0] <= TV["height"]
        assert scroll[1] <= TV["width"]

        # Names, not ids.
        acd = _acd(d)
        bot = _bots(d)[0]
        name = acd.acd.profile(bot).name  # type: ignore[union-attr]
        assert name
        assert name != bot
        await expect(wall.locator(f'.tile[data-agent="{bot}"] .name')).to_have_text(name)
        await expect(wall.locator('.tile[data-agent="extra-1"] .name')).to_have_text(
            "Extra Agent 1"
        )

        # A supervisor opens "Force" on one tile while the board changes all the time:
        # bots go ready and not ready, citizens call and are answered.
        target = _bots(d)[-1]
        force = wall.locator(f'.tile[data-agent="{target}"] select[data-action="force"]')
        await force.focus()
        await wall.evaluate(
            """() => { window.changes = 0;
              document.querySelectorAll(".tile, .tile select, .tile button")
                .forEach((n) => { n.dataset.before = "1"; });
              new MutationObserver((m) => { window.changes += m.length; })
                .observe(document.getElementById("agents"), {subtree: true, childList: true,
                  characterData: true, attributes: true}); }"""
        )
        rng = random.Random(20)
        churn = [b for b in _bots(d) if b != target][:12]
        lost = 0
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < 30:
            agent = rng.choice(churn)
            if _state(d, agent) == "ready":
                acd.apply(acd.acd.set_not_ready(agent, "break", acd.now()))
            elif _state(d, agent) == "not_ready":
                acd.apply(acd.acd.set_ready(agent, acd.now()))
            if n % 3 == 0:
                _call(d, n, talk_s=rng.uniform(3, 12))
            n += 1
            focused = await force.evaluate("(el) => document.activeElement === el")
            lost += not focused
            await asyncio.sleep(0.5)
        await wall.screenshot(path=str(ARTIFACTS / "wallboard-busy.png"))
        assert lost == 0
        assert await wall.evaluate("window.changes") > 200  # it did update, in place:
        # the same tiles and controls as before, none rebuilt
        fresh = await wall.evaluate(
            """[...document.querySelectorAll(".tile, .tile select, .tile button")]
                .filter((n) => n.dataset.before !== "1").length"""
        )
        assert fresh == 0
        assert await wall.locator(".tile").count() == 30
        # The control still works from the keyboard-held focus: the agent is forced ready.
        assert _state(d, target) == "not_ready"
        await force.select_option("ready")
        await expect(wall.locator(f'.tile[data-agent="{target}"]')).to_have_class("tile st-ready")
        assert _state(d, target) == "ready"
        await expect(force).to_be_focused()
        # A 1366x768 laptop shows the same board, zoomed out: all 30 agents still.
        await wall.set_viewport_size({"width": 1366, "height": 768})
        await expect(wall.locator(".tile").nth(29)).to_be_in_viewport(ratio=1)
        for i in range(30):
            box = await tiles.nth(i).bounding_box()
            assert box is not None
            assert box["y"] + box["height"] <= 768, (i, box)
            assert box["x"] + box["width"] <= 1366, (i, box)
        await wall.screenshot(path=str(ARTIFACTS / "wallboard-1366.png"))
        assert d.errors == []


@pytest.mark.slow
async def test_listen_then_stop_and_long_calls_turn_tiles_amber_then_red(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        _add_agents(d, 4)
        acd = _acd(d)
        bots = _bots(d)
        _ready(d, bots[:20])
        wall = await _tv(d)
        for n in range(9):
            _call(d, n, talk_s=600, queue=("social_assistance", "employment", "disability")[n % 3])
        for _ in range(300):
            talking = [a for a in acd.acd.agents() if str(a.state) == "on_call"]
            if len(talking) >= 9:
                break
            await asyncio.sleep(0.1)
        assert len(talking) >= 9
        latest = max(talking, key=lambda a: a.since)
        agent, on_call_s = latest.id, acd.now() - latest.since
        tile = wall.locator(f'.tile[data-agent="{agent}"]')
        await expect(tile).to_have_class("tile st-on_call")
        # Alerts: this call is long 6 s from now, too long 14 s from now; a break is
        # long after 0.2 min.
        await wall.locator("#limits summary").click()
        for limit, minutes in (
            ("on_call.amber", (on_call_s + 6) / 60),
            ("on_call.red", (on_call_s + 14) / 60),
            ("not_ready.amber", 0.2),
        ):
            await wall.locator(f'[data-limit="{limit}"]').fill(f"{minutes:.3f}")
            await wall.locator(f'[data-limit="{limit}"]').press("Tab")
        await wall.locator("#limits summary").click()
        assert await tile.get_attribute("data-alert") is None

        # Listen: the supervisor's phone is rung into the call; the tile says so.
        await tile.locator('button[data-action="listen"]').click()
        await expect(tile).to_have_attribute("data-spy", "listen")
        await expect(tile.locator(".spy-mark")).to_be_visible()
        await expect(tile.locator(".spy-mark")).to_contain_text("Listening")
        spies = [a for a in d.server.received if a.get("Application") == "ChanSpy"]
        assert [a["Channel"] for a in spies] == ["PJSIP/supervisor"]
        leg = await _spy_leg(d)
        # The supervisor's own leg is never a live call.
        citizens = await _live_calls(wall)
        assert len(citizens) == 9
        assert all(c["caller"].startswith("+35988810") for c in citizens)

        # The call goes on: amber, then red, with words, not only colour.
        await expect(tile).to_have_attribute("data-alert", "amber", timeout=15_000)
        await expect(tile.locator(".alert-mark")).to_have_text("⚠ long")
        await expect(tile).to_have_attribute("data-alert", "red", timeout=20_000)
        await expect(tile.locator(".alert-mark")).to_have_text("⚠ too long")
        await expect(wall.locator("#tot-alerts")).not_to_have_text("0")
        resting = wall.locator(f'.tile[data-agent="{bots[-1]}"]')  # on a break since the start
        await expect(resting).to_have_class("tile st-not_ready")
        await expect(resting).to_have_attribute("data-alert", "amber")
        # Only the red ones, when asked.
        await wall.locator("#filter").select_option("alerts")
        await expect(wall.locator(".tile:not(.hidden)")).to_have_count(
            await wall.locator(".tile[data-alert]").count()
        )
        assert await tile.is_visible()
        await wall.locator("#filter").select_option("")
        await wall.screenshot(path=str(DOCS_IMG / "wallboard.png"))
        await expect(tile.locator(".spy-mark")).to_contain_text("Listening")

        # Stop: the leg is hung up, the mark goes, nothing of it stays in live calls.
        await tile.locator('button[data-action="stop_spy"]').click()
        await expect(tile).not_to_have_attribute("data-spy", "listen")
        await expect(tile.locator(".spy-mark")).to_be_hidden()
        hangups = [a["Channel"] for a in d.server.received if a.get("Action") == "Hangup"]
        assert leg in hangups
        await _no_spy_leg(d)
        assert len(await _live_calls(wall)) == 9
        assert _state(d, agent) == "on_call"  # the citizen's call goes on

        # Listen again; this time the call ends first: the mark and the leg go with it.
        await tile.locator('button[data-action="whisper"]').click()
        await expect(tile).to_have_attribute("data-spy", "whisper")
        await _spy_leg(d)
        call = next(a.call for a in acd.acd.agents() if a.id == agent)
        status = await wall.evaluate(
            """async (id) => (await fetch(`/api/v1/calls/${encodeURIComponent(id)}`, {
                 method: "DELETE",
                 headers: {Authorization: `Bearer ${sessionStorage.getItem("cti.token")}`}})
               ).status""",
            call,
        )
        assert status == 200
        await expect(tile).not_to_have_attribute("data-spy", "whisper", timeout=10_000)
        await _no_spy_leg(d)
        assert all(c["caller"].startswith("+35988810") for c in await _live_calls(wall))

        # Barge into another call, then the supervisor puts the phone down: unmarked.
        other = next(a.id for a in acd.acd.agents() if str(a.state) == "on_call")
        other_tile = wall.locator(f'.tile[data-agent="{other}"]')
        await other_tile.locator('button[data-action="barge"]').click()
        await expect(other_tile).to_have_attribute("data-spy", "barge")
        await expect(other_tile.locator(".spy-mark")).to_contain_text("Barged in")
        d.server.pbx.hangup(await _spy_leg(d), cause=16)
        await expect(other_tile).not_to_have_attribute("data-spy", "barge", timeout=10_000)
        await expect(other_tile.locator(".spy-mark")).to_be_hidden()
        assert _state(d, other) == "on_call"
        assert d.errors == []


async def _spy_leg(d: Demo) -> str:
    """The supervisor's phone channel, once it is up (with CTI_SPY on its call)."""
    tracker = d.core.tracker
    for _ in range(100):
        for chan in tracker.channels.values():
            inter = tracker.interactions.get(chan.linkedid)
            if (
                chan.name.startswith("PJSIP/supervisor-")
                and inter
                and inter.cti_vars.get("CTI_SPY")
            ):
                return chan.name
        await asyncio.sleep(0.1)
    raise AssertionError("no spy leg came up")


async def _no_spy_leg(d: Demo) -> None:
    tracker = d.core.tracker
    for _ in range(100):
        legs = [c for c in tracker.channels.values() if c.name.startswith("PJSIP/supervisor-")]
        calls = [i for i in tracker.interactions.values() if i.cti_vars.get("CTI_SPY")]
        if not legs and not calls:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the spy leg is still up")


async def _live_calls(page: Page) -> list[dict[str, str]]:
    items: list[dict[str, str]] = await page.evaluate(
        """async () => (await (await fetch("/api/v1/calls", {headers:
             {Authorization: `Bearer ${sessionStorage.getItem("cti.token")}`}})).json()).items"""
    )
    return items


LONG_NAME = "Александър Константинов-Петров"
# What must never be cut on the board: buttons, column headings, states (a name may be,
# with the whole of it in the tooltip).
_CLIPPED = """() => [...document.querySelectorAll(
    "button, th, .tile .state, .tile .pending-mark, #calls td:nth-child(3), .totals span")]
  .filter((n) => n.getClientRects().length && n.scrollWidth > n.clientWidth + 1)
  .map((n) => `${n.tagName.toLowerCase()}.${n.className} "${n.textContent.trim()}"`
    + ` ${n.scrollWidth} > ${n.clientWidth}`)"""


@pytest.mark.slow
async def test_every_language_fits_and_pending_clock_and_all_live_calls_show(
    db_url: str, tmp_path: Path
) -> None:
    shots = ARTIFACTS
    async with demo(db_url, tmp_path) as d:
        _add_agents(d, 3)
        acd = _acd(d)
        long = AgentProfile(
            id="extra-long",
            endpoint="PJSIP/extra-long",
            name=LONG_NAME,
            skills={"employment": 5},
            queues=("employment",),
        )
        acd.apply(acd.acd.upsert_agent(long, acd.now()))
        bot = _bots(d)[0]
        queue = acd.acd.profile(bot).queues[0]  # type: ignore[union-attr]
        _ready(d, [bot])
        _call(d, 0, talk_s=900, queue=queue)
        for _ in range(200):
            if _state(d, bot) == "on_call":
                break
            await asyncio.sleep(0.1)
        assert _state(d, bot) == "on_call"
        for n in range(1, 27):
            _call(d, n, talk_s=900, queue=queue)

        # A supervisor in New York: the board keeps the centre's clock.
        context = await d.browser.new_context(viewport=TV, timezone_id="America/New_York")
        wall = await context.new_page()
        wall.on("pageerror", lambda exc: d.errors.append(str(exc)))
        await wall.goto(d.urls["wallboard"])
        await expect(wall.locator("body[data-loaded]")).to_have_count(1)
        await expect(wall.locator("#clock")).not_to_be_empty()
        shown = dt.datetime.strptime(
            await wall.locator("#clock").text_content() or "", "%I:%M:%S %p"
        )
        sofia = dt.datetime.now(ZoneInfo("Europe/Sofia"))
        gap = abs((shown.hour * 3600 + shown.minute * 60 + shown.second)
                  - (sofia.hour * 3600 + sofia.minute * 60 + sofia.second))  # fmt: skip
        assert min(gap, 86400 - gap) < 10, (shown, sofia)

        # The long name: cut on the tile perhaps, whole in its tooltip and accessible name.
        tile = wall.locator('.tile[data-agent="extra-long"]')
        await expect(tile.locator(".name")).to_have_attribute("title", LONG_NAME)
        await expect(tile).to_have_attribute("title", re.compile(f"^{LONG_NAME} · "))
        await expect(wall.get_by_role("group", name=LONG_NAME)).to_have_count(1)

        # Forced not ready during a call: the tile says it comes after the call.
        busy = wall.locator(f'.tile[data-agent="{bot}"]')
        await expect(busy).to_have_class("tile st-on_call")
        await busy.locator('select[data-action="force"]').select_option("not_ready")
        await expect(busy.locator(".pending-mark")).to_have_text("→ Next: Not ready")
        assert _state(d, bot) == "on_call"
        # The toast that confirms it leaves the Send button free.
        toast = wall.locator(".toast").first
        await expect(toast).to_be_visible()
        t_box, send = await toast.bounding_box(), await wall.locator("#bc button").bounding_box()
        assert t_box is not None
        assert send is not None
        assert (t_box["x"] + t_box["width"] <= send["x"] or send["x"] + send["width"] <= t_box["x"]
                or t_box["y"] + t_box["height"] <= send["y"]
                or send["y"] + send["height"] <= t_box["y"])  # fmt: skip

        # The alert thresholds have names a screen reader reads.
        await wall.locator("#limits summary").click()
        await expect(
            wall.get_by_role("spinbutton", name="Long call (min) amber", exact=True)
        ).to_have_count(1)
        await expect(
            wall.get_by_role("spinbutton", name="Long wrap-up (min) red", exact=True)
        ).to_have_count(1)
        await wall.locator("#limits summary").click()

        # 27 live calls: the ones the box does not show are counted, in the right number,
        # and one click opens them all.
        rows = wall.locator("#calls tr")
        await expect(rows).to_have_count(27, timeout=10_000)
        more = wall.locator("#calls-more")
        await expect(more).to_be_visible()
        text = await more.text_content() or ""
        m = re.fullmatch(r"\+(\d+) more (calls?)", text)
        assert m, text
        assert (m[2] == "call") == (m[1] == "1")
        assert await axe_violations(wall) == []
        await more.click()
        await expect(more).to_have_attribute("aria-expanded", "true")
        await expect(wall.locator(".side section").first).to_be_hidden()
        await rows.last.scroll_into_view_if_needed()
        await expect(rows.last).to_be_in_viewport()
        await wall.screenshot(path=str(shots / "wallboard-calls-open.png"))
        await more.click()
        await expect(wall.locator(".side section").first).to_be_visible()

        # Bulgarian, Russian, Hungarian: nothing is cut, at 1920x1080.
        for lang in ("bg", "ru", "hu"):
            await wall.locator("#lang").select_option(lang)
            await expect(wall.locator("html")).to_have_attribute("lang", lang)
            await wall.wait_for_timeout(300)
            await wall.screenshot(path=str(shots / f"wallboard-{lang}.png"))
            clipped = await wall.evaluate(_CLIPPED)
            assert not clipped, f"{lang}: " + "; ".join(sorted(set(clipped)))
        ru_more = await more.text_content() or ""
        n = int(re.sub(r"\D", "", ru_more))
        form = await wall.evaluate("(n) => new Intl.PluralRules('ru').select(n)", n)
        expected = {"one": "вызов", "few": "вызова", "many": "вызовов"}.get(form, "вызова")
        await wall.locator("#lang").select_option("ru")
        await expect(more).to_have_text(f"ещё {n} {expected}")
        # A 1366x768 laptop (the board zoomed out): nothing cut either.
        await wall.set_viewport_size({"width": 1366, "height": 768})
        for lang in ("en", "bg"):
            await wall.locator("#lang").select_option(lang)
            await expect(wall.locator("html")).to_have_attribute("lang", lang)
            await wall.wait_for_timeout(300)
            await wall.screenshot(path=str(shots / f"wallboard-1366-{lang}.png"))
            clipped = await wall.evaluate(_CLIPPED)
            assert not clipped, f"1366 {lang}: " + "; ".join(sorted(set(clipped)))
        await context.close()
        assert d.errors == []


_RULES = {  # the title the dialog gives each rule, in English
    "expert": "Expert",
    "own_pool": "Own pool",
    "borrow_expert": "Borrowed expert",
    "borrow": "Borrowed helper",
    "guard": "Guard",
}


async def _routing(page: Page, call: str) -> dict[str, object]:
    body: dict[str, object] = await page.evaluate(
        """async (id) => (await fetch(`/api/v1/calls/${encodeURIComponent(id)}/routing`, {
             headers: {Authorization: `Bearer ${sessionStorage.getItem("cti.token")}`}})).json()""",
        call,
    )
    return body


@pytest.mark.slow
async def test_why_this_agent_names_the_agent_and_the_rule_and_gives_focus_back(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        acd = _acd(d)
        bot = _bots(d)[0]
        queue = acd.acd.profile(bot).queues[0]  # type: ignore[union-attr]
        _ready(d, [bot])
        wall = await _tv(d)
        _call(d, 0, talk_s=600, queue=queue)
        for _ in range(200):
            if _state(d, bot) in ("reserved", "on_call"):
                break
            await asyncio.sleep(0.1)
        assert _state(d, bot) in ("reserved", "on_call")
        call = next(a.call for a in acd.acd.agents() if a.id == bot)
        assert call is not None
        # A second caller of the same queue: nobody is free for it.
        _call(d, 1, talk_s=600, queue=queue)

        button = wall.get_by_role("button", name="Why? Call from +359888100000")
        await expect(button).to_have_count(1, timeout=10_000)
        await expect(wall.locator(f'#calls tr[data-call="{call}"] button.why-btn')).to_have_text(
            "Why?"
        )
        # The buttons take no focus from anything while the board updates.
        await wall.locator("#bc-text").focus()
        await wall.wait_for_timeout(3500)
        await expect(wall.locator("#bc-text")).to_be_focused()

        await button.click()
        dialog = wall.get_by_role("dialog", name=re.compile("^Why this agent · \\+359888100000$"))
        await expect(dialog).to_be_visible()
        await expect(wall.locator("#why[data-loaded]")).to_have_count(1)
        body = await _routing(wall, call)
        decision = body["decisions"][-1]  # type: ignore[index]
        assert decision["agent"] == bot
        name = acd.acd.profile(bot).name  # type: ignore[union-attr]
        assert name
        await expect(dialog.locator(".why-chosen")).to_have_text(name)
        rule = decision["rule"]
        title = _RULES.get(rule) or re.sub(
            r"relaxed_step_(\d+)", r"Relaxed requirement (step \1)", rule
        )
        await expect(dialog.locator(".why-rule")).to_contain_text(f"Rule: {title} — ")
        # The candidates by name, with their level; the pools with their reserves.
        await expect(dialog.locator("table caption").last).to_contain_text("Ready agents")
        await expect(dialog.locator("td", has_text=name).first).to_be_visible()
        if decision["mode"] == "reservation":
            await expect(
                dialog.locator("caption", has_text="Pools and their reserves")
            ).to_have_count(1)
        assert await axe_violations(wall) == []
        await wall.screenshot(path=str(DOCS_IMG / "wallboard-why.png"))
        await wall.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        await expect(button).to_be_focused()

        # The waiting caller: why nobody takes it yet, in words.
        for _ in range(200):
            queued = [c.id for c in acd.acd.calls() if c.state == "waiting"]
            if queued:
                break
            await asyncio.sleep(0.1)
        (waiting,) = queued
        body = await _routing(wall, waiting)
        assert body["waiting"] is not None
        second = wall.get_by_role("button", name="Why? Call from +359888100001")
        await second.click()
        await expect(wall.locator("#why[data-loaded]")).to_have_count(1)
        dialog = wall.get_by_role("dialog", name=re.compile("^Why this agent · \\+359888100001$"))
        reason = dialog.locator(".why-waiting .why-reason")
        await expect(dialog.locator(".why-waiting h3")).to_have_text("Why nobody takes it yet")
        if body["waiting"]["ready_total"] == 0:  # type: ignore[index]
            await expect(reason).to_have_text("No agent of this queue is ready.")
        else:
            await expect(reason).not_to_be_empty()
        # In Bulgarian too, while it is open (the language picker is behind the dialog).
        await wall.locator("#lang").select_option("bg", force=True)
        dialog = wall.get_by_role("dialog", name=re.compile("^Защо този служител · "))
        await expect(dialog.locator(".why-waiting h3")).to_have_text("Защо никой още не го поема")
        await dialog.get_by_role("button", name="Затвори").click()
        await expect(
            wall.get_by_role("button", name="Защо? Обаждане от +359888100001")
        ).to_be_focused()
        assert d.errors == []
