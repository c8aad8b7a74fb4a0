"""The agent desktop in a real headless Chromium at 1366×768, used as a person uses it,
against `cti demo` with the bots at ten times real speed: the person works at human
pace all the same (her wrap-up waits for her), files a case with the call's topic and
her notes (checked in PostgreSQL), is refused a case without a description, takes a
break chosen during the call (the wrap-up form holding its layout in every language),
and sees her call with its buttons on a desktop opened in the middle of it. A desktop
opened in a second window takes over and "Use here" takes it back; signing out leaves
the queues (at once, or after the call); long words wrap instead of widening the page;
notes say when they are nearly full or a paste was cut; the history reads in the
centre's time zone with agents' names. Keyboard shortcuts drive some steps.
Screenshots go to docs/img/."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import BrowserContext, Page, expect

from cti.demo import PERSON
from cti.queues.service import AcdService
from cti.sim.models import Citizen
from test_pages import CALLER, Demo, _page, demo

DOCS_IMG = Path(__file__).parent.parent / "docs" / "img"
LAPTOP = {"width": 1366, "height": 768}
SPEED = 10.0  # the bots' speed: ten simulated seconds per wall second


def _acd(d: Demo) -> AcdService:
    acd = d.core.acd
    assert acd is not None
    return acd


def _state(d: Demo, agent: str) -> tuple[str, str | None]:
    view = _acd(d).acd.agent_view(agent)
    assert view is not None
    return str(view.state), view.reason


async def _desk(d: Demo) -> Page:
    page = await _page(d)
    await page.set_viewport_size(LAPTOP)
    await page.goto(d.urls["desktop"])
    await expect(page.get_by_test_id("state")).to_have_text("Logged out")
    return page


async def _log_in_ready(desk: Page) -> None:
    state = desk.get_by_test_id("state")
    await desk.get_by_role("button", name="Log in", exact=True).click()
    await expect(state).to_have_text("Not ready")
    await desk.keyboard.press("Alt+Shift+R")  # the shortcut for Ready
    await expect(state).to_have_text("Ready")


def _call(d: Demo, number: str = CALLER) -> None:
    """A citizen who picks social assistance in the IVR and talks until hung up on."""
    keys = list(d.traffic.keys.get("social_assistance", []))
    d.server.pbx.inbound_call(Citizen(number, "social_assistance", talk_s=6000, keys=keys))


async def _answered(d: Demo, desk: Page) -> None:
    state = desk.get_by_test_id("state")
    await expect(state).to_have_text("Ringing", timeout=20_000)
    await desk.keyboard.press("Alt+Shift+A")  # the shortcut for Answer
    await expect(state).to_have_text("On call")


async def _shot(page: Page, name: str) -> None:
    DOCS_IMG.mkdir(exist_ok=True)
    await page.screenshot(path=str(DOCS_IMG / f"{name}.png"))


async def _stored(db_url: str, sql: str, *args: Any) -> Any:
    """The row once the outbox has written it (the CDR and its updates are asynchronous)."""
    conn = await asyncpg.connect(db_url)
    try:
        for _ in range(100):
            row = await conn.fetchrow(sql, *args)
            if row is not None:
                return row
            await asyncio.sleep(0.1)
        return None
    finally:
        await conn.close()


@pytest.mark.slow
async def test_at_human_pace_the_wrap_up_waits_and_files_the_calls_topic_and_notes(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        desk = await _desk(d)
        state = desk.get_by_test_id("state")
        await _log_in_ready(desk)
        _call(d)
        await _answered(d, desk)
        await expect(desk.locator("#pop-name")).to_have_text("Мария Иванова")
        await expect(desk.locator("#pop-queue")).to_have_text("Social assistance")
        await expect(desk.locator("#pop-topic")).to_have_text("Social assistance")
        await expect(desk.locator("#pop-ivr")).to_contain_text("Main menu: 1")
        # The call timer runs in wall time, as the person lives it.
        timer = desk.get_by_test_id("call-timer")
        await expect(timer).to_have_text(re.compile(r"^0:0[2-9]$"), timeout=10_000)
        await desk.locator("#notes").fill("Heating allowance for January not paid")

        await desk.keyboard.press("Alt+Shift+H")  # the shortcut for Hang up
        await expect(state).to_have_text("Wrap-up")
        await expect(desk.get_by_test_id("wrap-left")).to_contain_text("Ends in")
        # The call's topic is chosen and the notes are the description.
        await expect(desk.locator("#c-topic")).to_have_value("social")
        await expect(desk.locator("#c-org")).to_have_value("asa")
        await expect(desk.locator("#c-desc")).to_have_value(
            "Heating allowance for January not paid"
        )
        # The address is the caller's as known, to correct; an emergency she marks.
        await expect(desk.locator("#c-address")).to_have_value("Пловдив, ул. Гладстон 5")
        await desk.locator("#c-address").fill("Пловдив, ул. Гладстон 7")
        await desk.get_by_label("Emergency").check()

        # Ten seconds of wall time: at the bots' speed a wrap-up is 2 s; hers waits.
        await asyncio.sleep(10)
        await expect(state).to_have_text("Wrap-up")
        assert _state(d, PERSON) == ("wrap_up", None)

        # Required fields: no disposition, then no description, are refused and said so.
        await desk.get_by_role("button", name="Finish wrap-up").click()
        error = desk.get_by_test_id("wrap-error")
        await expect(error).to_have_text("Choose how the call ended (disposition).")
        await expect(desk.locator("#disposition")).to_be_focused()
        await desk.locator("#disposition").select_option("case_registered")
        await desk.locator("#c-desc").fill("   ")
        await desk.get_by_role("button", name="Finish wrap-up").click()
        await expect(error).to_have_text(
            "Describe the citizen's request: a new case needs a description."
        )
        await expect(desk.locator("#c-desc")).to_have_attribute("aria-invalid", "true")
        await expect(state).to_have_text("Wrap-up")
        await desk.locator("#c-desc").fill("Heating allowance for January not paid; asks why")
        await _shot(desk, "desktop-wrap-up")
        await desk.keyboard.press("Alt+Shift+F")  # the shortcut for Finish
        await expect(desk.locator(".toast").last).to_contain_text("filed")
        await expect(state).to_have_text("Ready")

        case = await _stored(
            db_url,
            "SELECT c.number, c.topic, c.organisation, c.description, i.disposition,"
            " c.address, c.emergency, c.paid"
            " FROM cases c JOIN case_interactions ci ON ci.case_id = c.id"
            " JOIN interactions i ON i.id = ci.interaction_id"
            " WHERE c.phone = $1 AND c.number <> '2026-009001' AND i.disposition IS NOT NULL",
            CALLER,
        )
        assert case is not None
        assert (case["topic"], case["organisation"]) == ("social", "asa")
        assert case["description"] == "Heating allowance for January not paid; asks why"
        assert case["disposition"] == "case_registered"
        assert (case["address"], case["emergency"], case["paid"]) == (
            "Пловдив, ул. Гладстон 7",
            True,
            False,
        )

        # Her next call from the same citizen: the previous one with its disposition
        # and case in the history.
        _call(d)
        await expect(state).to_have_text("Ringing", timeout=20_000)
        row = desk.locator("#calls tr").first
        await expect(row).to_contain_text("Case registered")
        await expect(row).to_contain_text(case["number"])
        await _answered(d, desk)
        await desk.locator("#notes").fill("Calls again: the allowance is still not paid")
        await _shot(desk, "desktop")  # the README's picture
        assert d.errors == []


@pytest.mark.slow
async def test_a_break_chosen_during_the_call_starts_when_the_wrap_up_is_done(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        desk = await _desk(d)
        state = desk.get_by_test_id("state")
        await _log_in_ready(desk)
        # Idle: the pop says what comes there, and she may call a number herself.
        await expect(desk.locator("#idle")).to_have_text("A call offered to you shows here.")
        await expect(desk.get_by_role("button", name="Call", exact=True)).to_be_visible()
        await _shot(desk, "desktop-ready")
        _call(d)
        await _answered(d, desk)
        # The dial pad serves a transfer to a number.
        await desk.locator("#t-kind").select_option("number")
        await desk.locator("#t-number").fill("0888")
        await desk.get_by_role("group", name="Dial pad").get_by_role("button", name="7").click()
        await expect(desk.locator("#t-number")).to_have_value("08887")
        await desk.locator("#t-kind").select_option("agent")

        # Not ready is offered during the call; it is for after the call.
        await desk.locator("#reasons").select_option("lunch")
        await desk.get_by_role("button", name="Not ready", exact=True).click()
        await expect(desk.locator("#pending")).to_contain_text("After this call: Not ready · Lunch")
        await expect(state).to_have_text("On call")
        await desk.get_by_role("button", name="Hang up").click()
        await expect(state).to_have_text("Wrap-up")
        await expect(desk.locator("#wrap-then")).to_have_text("When you finish: Not ready · Lunch")
        # The wrap-up form holds its layout in every language at a laptop's size.
        for lang in ("bg", "ru", "hu", "en"):
            await desk.locator("#lang").select_option(lang)
            await expect(desk.locator("html")).to_have_attribute("lang", lang)
            for kind in ("new", "existing"):
                await desk.locator(f"input[name=case][value={kind}]").check()
                assert await _wrap_layout(desk) == [], (lang, kind)
        await desk.locator("#disposition").select_option("information")
        await desk.get_by_label("No case").check()
        await _shot(desk, "desktop-break-after-call")
        await desk.get_by_role("button", name="Finish wrap-up").click()

        await expect(state).to_have_text("Not ready")
        await expect(desk.locator("#reason")).to_have_text("Lunch")
        assert _state(d, PERSON) == ("not_ready", "lunch")
        # On her break no call rings her.
        _call(d, "+359888555777")
        await asyncio.sleep(3)
        assert _state(d, PERSON) == ("not_ready", "lunch")
        await expect(state).to_have_text("Not ready")

        # On her break she calls a citizen back (dial pad and keyboard): her phone
        # rings and answers, then the citizen's; the call is hers, and after it and its
        # wrap-up she is on her break again.
        d.server.pbx.dialplan.callback_talk_s = 600.0  # the citizen talks until she ends it
        await desk.locator("#d-number").fill("0888 555 12")
        await (
            desk.get_by_role("group", name="Dial pad").last.get_by_role("button", name="3").click()
        )
        await expect(desk.locator("#d-number")).to_have_value("0888 555 123")
        await desk.get_by_role("button", name="Call", exact=True).click()
        await expect(state).to_have_text("Ringing")  # her own phone first: she answers
        await expect(desk.locator("#pop-number")).to_have_text("+359888555123")
        await desk.get_by_role("button", name="Answer", exact=True).click()
        await expect(state).to_have_text("On call", timeout=20_000)
        await expect(desk.locator("#pop-number")).to_have_text("+359888555123")
        await expect(desk.locator("#dial-form")).to_be_hidden()
        await _shot(desk, "desktop-click-to-call")
        await desk.get_by_role("button", name="Hang up").click()
        await expect(state).to_have_text("Wrap-up")
        await desk.locator("#disposition").select_option("information")
        await desk.get_by_label("No case").check()
        await desk.get_by_role("button", name="Finish wrap-up").click()
        await expect(state).to_have_text("Not ready")
        await expect(desk.locator("#reason")).to_have_text("Lunch")
        assert _state(d, PERSON) == ("not_ready", "lunch")
        row = await _stored(
            db_url,
            "SELECT * FROM interactions WHERE direction = 'outbound' AND agent = $1",
            PERSON,
        )
        assert row is not None, "no outbound record of hers"
        assert (row["caller_number"], row["outcome"]) == ("+359888555123", "answered")
        assert d.errors == []


@pytest.mark.slow
async def test_a_desktop_opened_mid_call_shows_the_call_with_its_buttons(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        first = await _desk(d)
        await _log_in_ready(first)
        unknown = "+359888444111"
        _call(d, unknown)
        await _answered(d, first)
        # An unknown caller gives a name and an address.
        await expect(first.locator("#pop-name")).to_have_text("Unknown caller")
        await first.get_by_role("button", name="Edit").click()
        await first.get_by_label("Name", exact=True).fill("Петър Петров")
        await first.locator("#caller-address").fill("София, бул. Витоша 1")
        await first.get_by_role("button", name="Save").click()
        await expect(first.locator("#pop-name")).to_have_text("Петър Петров")
        caller = await _stored(
            db_url, "SELECT name, address FROM callers WHERE phone = $1", unknown
        )
        assert caller is not None
        assert (caller["name"], caller["address"]) == ("Петър Петров", "София, бул. Витоша 1")

        # A colleague is ready: the transfer list names them with their skills.
        acd = _acd(d)
        acd.apply(acd.acd.set_ready("social_assistance-1", acd.now()))

        # Another browser (nothing kept from the first) opens her desktop mid-call: the
        # call timer counts from the answer, not from the page's opening.
        await asyncio.sleep(3)
        desk = await _desk_mid_call(d)
        await expect(desk.get_by_test_id("state")).to_have_text("On call")
        await expect(desk.locator("#pop-title")).to_have_text("Current call")
        await expect(desk.locator("#pop-number")).to_have_text(unknown)
        await expect(desk.locator("#pop-name")).to_have_text("Петър Петров")
        await expect(desk.get_by_test_id("call-timer")).to_have_text(re.compile(r"^0:0[3-9]$"))
        for name in ("Hold", "Hang up", "Transfer"):
            await expect(desk.get_by_role("button", name=name, exact=True)).to_be_enabled()
        # Nothing records in this demo: no recording button.
        await expect(desk.locator("#b-rec")).to_be_hidden()
        options = desk.locator("#t-agent option")
        await expect(options).to_have_count(1)
        await expect(options.first).to_contain_text("Social assistance 9")
        await _shot(desk, "desktop-opened-mid-call")
        # She hands the citizen to that colleague; her wrap-up has the call's topic.
        await desk.get_by_role("button", name="Transfer", exact=True).click()
        await expect(desk.get_by_test_id("state")).to_have_text("Wrap-up")
        await expect(desk.locator("#c-topic")).to_have_value("social")
        assert [(c.agent, c.queue) for c in acd.acd.calls()] == [
            ("social_assistance-1", "social_assistance")
        ]
        assert [e for e in d.errors if "replaced" not in e] == []


_WRAP_LAYOUT = """() => {
  const box = (el) => el.getBoundingClientRect();
  const shown = (el) => el.getClientRects().length > 0;
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const name = (el) => `${el.tagName.toLowerCase()}#${el.id || el.textContent.trim().slice(0, 20)}`;
  const form = document.getElementById('wrap-form');
  const bad = [];
  // every control and every label's words: inside the form, none over another
  const parts = [...form.querySelectorAll('select, textarea, button, input, label > span, legend')]
    .filter(shown);
  const edge = box(form);
  for (const p of parts) {
    const r = box(p);
    if (r.left < edge.left - 1 || r.right > edge.right + 1) bad.push(`${name(p)} sticks out`);
    if (p.scrollWidth > p.clientWidth + 1 && p.tagName === 'SPAN') bad.push(`${name(p)} clipped`);
  }
  for (let i = 0; i < parts.length; i++) {
    for (let j = i + 1; j < parts.length; j++) {
      const [a, b] = [parts[i], parts[j]];
      if (a.contains(b) || b.contains(a)) continue;
      if (overlap(box(a), box(b))) bad.push(`${name(a)} over ${name(b)}`);
    }
  }
  // a radio's words beside it, on its line, not under it
  form.querySelectorAll('.case-kind label').forEach((label) => {
    const radio = box(label.querySelector('input')), words = box(label.querySelector('span'));
    if (words.left < radio.right || words.top > radio.bottom)
      bad.push(`${label.textContent.trim()} not beside its radio`);
  });
  return bad;
}"""


async def _wrap_layout(page: Page) -> list[str]:
    """What is wrong with the wrap-up form's layout: controls and labels that overlap or
    stick out of the form, a radio's words that are not beside it."""
    found: list[str] = await page.evaluate(_WRAP_LAYOUT)
    return found


async def _desk_mid_call(d: Demo) -> Page:
    page = await _page(d)
    await page.set_viewport_size(LAPTOP)
    await page.goto(d.urls["desktop"])
    return page


@pytest.mark.slow
async def test_a_desktop_opened_in_another_window_says_so_and_use_here_takes_it_back(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        first = await _desk(d)
        await first.get_by_role("button", name="Log in", exact=True).click()
        await expect(first.get_by_test_id("state")).to_have_text("Not ready")
        second = await _desk_mid_call(d)
        await expect(second.get_by_test_id("state")).to_have_text("Not ready")
        await expect(second.locator("#conn")).to_have_text("connected")

        # The first window says where the desktop is, and offers to take it back.
        elsewhere = first.get_by_test_id("elsewhere")
        await expect(elsewhere).to_be_visible()
        await expect(elsewhere).to_contain_text("This desktop is open in another window")
        await expect(first.locator("#conn")).to_have_text("open in another window")
        await expect(first.get_by_role("button", name="Use here")).to_be_focused()
        await expect(second.get_by_test_id("elsewhere")).to_be_hidden()

        # Use here: the first works again (a Ready that reaches the ACD), the second
        # now says the desktop is elsewhere.
        await first.get_by_role("button", name="Use here").click()
        await expect(first.locator("#conn")).to_have_text("connected")
        await expect(elsewhere).to_be_hidden()
        await first.get_by_role("button", name="Ready", exact=True).click()
        await expect(first.get_by_test_id("state")).to_have_text("Ready")
        assert _state(d, PERSON) == ("ready", None)
        await expect(second.get_by_test_id("elsewhere")).to_be_visible()
        await expect(second.locator("#conn")).to_have_text("open in another window")
        # The second, no longer connected, offers nothing but Use here.
        assert await second.locator(".state-bar").get_attribute("inert") is not None
        assert await second.locator("#pop").get_attribute("inert") is not None
        assert d.errors == []


async def _logged_in(d: Demo, context: BrowserContext) -> Page:
    """The person's desktop after she logs in with the password the demo printed."""
    creds = re.search(r"or\s+(\S+) / (\S+)", d.printed)
    assert creds is not None, d.printed
    assert creds.group(1) == PERSON, d.printed
    page = await context.new_page()
    page.on("pageerror", lambda exc: d.errors.append(str(exc)))
    await page.goto(d.urls["desktop"].split("/desktop")[0] + "/")
    await page.locator("#username").fill(PERSON)
    await page.locator("#password").fill(creds.group(2))
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile("/desktop$"))
    await expect(page.locator("#conn")).to_have_text("connected")
    return page


@pytest.mark.slow
async def test_signing_out_leaves_the_queues_at_once_or_after_the_call(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        acd = _acd(d)
        context = await d.browser.new_context(viewport=LAPTOP)
        desk = await _logged_in(d, context)
        await _log_in_ready(desk)
        token = await desk.evaluate("sessionStorage.getItem('cti.token')")

        # Ready, she signs out: out of the queues now (no call rings a phone with no
        # desktop), the token revoked, and the login page says so.
        await desk.get_by_role("button", name="Sign out").click()
        notice = desk.get_by_test_id("notice")
        await expect(notice).to_have_text(
            "You are signed out and logged out of the queues: no calls are offered to you."
        )
        assert _state(d, PERSON) == ("logged_out", None)
        me = await context.request.get(
            d.urls["desktop"].split("/desktop")[0] + "/api/v1/me",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert me.status == 401

        # On a call: the ACD logs her out when the call and its wrap-up end; told so.
        desk = await _logged_in(d, context)
        await _log_in_ready(desk)
        keys = list(d.traffic.keys.get("social_assistance", []))
        citizen = d.server.pbx.inbound_call(
            Citizen(CALLER, "social_assistance", talk_s=6000, keys=keys)
        )
        await _answered(d, desk)
        await desk.get_by_role("button", name="Sign out").click()
        await expect(desk.get_by_test_id("notice")).to_have_text(
            "You are signed out. You are still on a call: you will be logged out of the"
            " queues when it and its wrap-up end."
        )
        view = acd.acd.agent_view(PERSON)
        assert view is not None
        assert (str(view.state), view.pending) == ("on_call", "logged_out")
        d.server.pbx.hangup(citizen.name)  # the citizen hangs up
        for _ in range(100):
            if _state(d, PERSON)[0] == "wrap_up":
                break
            await asyncio.sleep(0.05)
        acd.apply(acd.acd.finish_wrap_up(PERSON, acd.now()))  # as its time running out does
        assert _state(d, PERSON) == ("logged_out", None)
        # A fresh sign-in finds her logged out of the queues.
        desk = await _logged_in(d, context)
        await expect(desk.get_by_test_id("state")).to_have_text("Logged out")
        assert d.errors == []


async def _paste(page: Page, selector: str, text: str) -> None:
    """Paste `text` into the field as Ctrl+V does (the clipboard of the page)."""
    await page.evaluate("(text) => navigator.clipboard.writeText(text)", text)
    await page.locator(selector).focus()
    await page.keyboard.press("Control+V")


@pytest.mark.slow
async def test_long_words_wrap_notes_tell_their_limit_and_history_is_in_the_centres_time(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path, speed=SPEED) as d:
        acd = _acd(d)
        colleague = acd.acd.profile("social_assistance-2")
        assert colleague is not None
        assert colleague.name
        # A call she had months ago, answered by a colleague: 10:30 UTC, 12:30 in Sofia.
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(
                "INSERT INTO interactions (id, direction, caller_number, arrived_at, queue,"
                " topic, agent, wait_s, talk_s, outcome, answered_at) VALUES ('old-1',"
                " 'inbound', $1, '2026-01-15 10:30:00+00', 'social_assistance', 'social',"
                " 'social_assistance-2', 5, 60, 'answered', '2026-01-15 10:30:05+00')",
                CALLER,
            )
        finally:
            await conn.close()
        # Her browser is set to New York; the centre (the demo's IVR) is in Sofia.
        context = await d.browser.new_context(
            viewport=LAPTOP, timezone_id="America/New_York", locale="en-US"
        )
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        desk = await context.new_page()
        desk.on("pageerror", lambda exc: d.errors.append(str(exc)))
        await desk.goto(d.urls["desktop"])
        state = desk.get_by_test_id("state")
        await expect(state).to_have_text("Logged out")
        await _log_in_ready(desk)

        # The caller's name and address have limits, and a refusal names the field.
        token = await desk.evaluate("sessionStorage.getItem('cti.token')")
        base = d.urls["desktop"].split("/desktop")[0]
        contact = f"{base}/api/v1/callers/{CALLER}/contact"
        auth = {"Authorization": f"Bearer {token}"}
        refused = await context.request.put(contact, headers=auth, data={"name": "Ж" * 201})
        assert refused.status == 422
        assert [f["path"] for f in (await refused.json())["fields"]] == ["name"]
        said = await desk.evaluate(
            "(path) => CTI.api('PUT', path, {name: 'Ж'.repeat(201)})"
            ".catch((e) => CTI.errorText(e))",
            f"/api/v1/callers/{CALLER}/contact",
        )
        assert said == "Some values are not valid · Check the field: Name"
        # The longest name allowed, one word of 200 letters; an address of one word.
        word = "Ж" * 200
        saved = await context.request.put(
            contact, headers=auth, data={"name": word, "address": "Ш" * 500}
        )
        assert saved.status == 200

        _call(d)
        await _answered(d, desk)
        await expect(desk.locator("#pop-name")).to_have_text(word)
        # The previous call: in Sofia's time, with the colleague's name.
        row = desk.locator("#calls tr", has_text=colleague.name)
        await expect(row).to_contain_text("1/15/26, 12:30 PM")
        # A supervisor's message of one 500-letter word: the banner and toast wrap.
        d.core.bus.publish(
            "supervisor.broadcast", {"text": "W" * 500, "by": "supervisor", "agents": None}
        )
        await expect(desk.locator(".broadcast")).to_contain_text("WWW")
        await expect(desk.locator(".toast").last).to_contain_text("WWW")
        width = await desk.evaluate("document.scrollingElement.scrollWidth")
        assert width == LAPTOP["width"]
        for sel in ("#pop-name", ".broadcast", ".toast"):
            right = await desk.locator(sel).last.evaluate(
                "(el) => el.getBoundingClientRect().right"
            )
            assert right <= LAPTOP["width"], sel

        # Notes: a counter near the 4,000 limit; a paste that does not fit is cut, and
        # she is told.
        limit = desk.get_by_test_id("notes-limit")
        await desk.locator("#notes").fill("n" * 3000)
        await expect(limit).to_be_hidden()
        await desk.locator("#notes").fill("n" * 3700)
        await desk.locator("#notes").press("End")
        await desk.keyboard.type("ab")
        await expect(limit).to_have_text("3,702 of 4,000 characters")
        await _paste(desk, "#notes", "p" * 1000)
        await expect(desk.locator("#notes")).to_have_value(re.compile(r"^n{3700}abp{298}$"))
        await expect(limit).to_have_text(
            "The pasted text was cut to fit: at most 4,000 characters. 4,000 of 4,000 characters"
        )
        await desk.locator("#notes").press("Backspace")
        await expect(limit).to_have_text("3,999 of 4,000 characters")
        assert d.errors == []
