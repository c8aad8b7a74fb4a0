"""The pages speak bg, ru, hu and en completely, in a real headless Chromium against
`cti demo`: every string has all four languages and every error code the server can
send has a message; a pseudo-locale (each string wrapped in ⟦…⟧, injected by the test)
finds no visible text that did not come from the current language — on every page, in
the states a person reaches, after switching from another language; a switch updates
the connection badge and the reasons at once; a server error reads in Bulgarian."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from cti.config import ConfigError
from cti.demo import PERSON
from cti.queues.models import load_acd_config
from cti.sim.models import Citizen
from cti.store.classifier import load_classifier
from page_helpers import PSEUDO, install_pseudo_locale, untranslated
from test_pages import CALLER, CHROMIUM_ARGS, Demo, chromium, demo

SRC = Path(__file__).parent.parent / "src" / "cti"
WEB = SRC / "api" / "web"
LANGS = ("en", "bg", "ru", "hu")
# What raises a refusal with a stable code that a page may show (REST and websocket).
_RAISERS = {"ApiError", "StoreError", "AcdError", "error_frame", "error_response"}
_PAGES_MAY_SEE = ("api", "queues", "store")  # not the command-line tools' own errors


def error_codes() -> set[str]:
    """Every code the server's API can answer with, read from the source."""
    codes = set()
    for sub in _PAGES_MAY_SEE:
        for path in (SRC / sub).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
                if name not in _RAISERS:
                    continue
                for arg in node.args[:2]:
                    value = arg.value if isinstance(arg, ast.Constant) else None
                    if isinstance(value, str) and re.fullmatch(r"[a-z][a-z_]+", value):
                        codes.add(value)
                        break
    return codes


def test_names_per_language_in_the_classifier_and_the_acd_file(tmp_path: Path) -> None:
    """A topic's and an organisation's names per language; a plain organisation name is
    English (older files still load); a queue's names; an unknown language is refused."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "organisations: {a: Agency A, b: {en: Agency B, bg: Агенция Б}}\n"
        "topics:\n"
        "  - {code: t, name: Topic, names: {bg: Тема, hu: Téma}, organisation: a,\n"
        "     children: [{code: u, name: Sub}]}\n",
        encoding="utf-8",
    )
    c = load_classifier(path)
    assert c.organisations["a"].names() == {"en": "Agency A"}
    assert c.organisations["b"].names() == {"en": "Agency B", "bg": "Агенция Б"}
    flat = {t.code: t.names for t in c.flat()}
    assert flat == {"t": {"en": "Topic", "bg": "Тема", "hu": "Téma"}, "t.u": {"en": "Sub"}}
    path.write_text(path.read_text(encoding="utf-8").replace("hu: Téma", "xx: ?"))
    with pytest.raises(ConfigError):
        load_classifier(path)
    acd = load_acd_config(Path(__file__).parent.parent / "deploy" / "acd.yaml")
    assert acd.queues["employment"].names["bg"] == "Заетост"
    assert all(set(q.names) == set(LANGS) for q in acd.queues.values())


def test_the_source_scan_finds_the_codes_it_should() -> None:
    codes = error_codes()
    # One of each kind: REST (ApiError), the store, the ACD, a websocket frame.
    assert {"bad_credentials", "case_not_found", "agent_not_ready", "bad_message"} <= codes
    assert len(codes) > 60


async def test_every_string_has_four_languages_and_every_error_code_a_message() -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.set_content("<!doctype html><title>i18n</title>")
            await page.add_script_tag(content=(WEB / "i18n.js").read_text(encoding="utf-8"))
            keys: dict[str, dict[str, str]] = await page.evaluate(
                "Object.fromEntries(Object.entries(STRINGS).map(([l, s]) => [l, s]))"
            )
            languages = await page.evaluate("Object.keys(LANGUAGES)")
        finally:
            await browser.close()
    assert sorted(languages) == sorted(LANGS)
    assert sorted(keys) == sorted(LANGS)
    english = set(keys["en"])
    for lang in LANGS:
        assert sorted(english - set(keys[lang])) == [], f"{lang} lacks these"
        assert sorted(set(keys[lang]) - english) == [], f"{lang} has keys English lacks"
        empty = [k for k, v in keys[lang].items() if not isinstance(v, str) or not v.strip()]
        assert empty == [], lang
        # Placeholders survive translation: "{number}" in English is there in every language.
        for key, text in keys["en"].items():
            assert set(re.findall(r"\{\w+\}", text)) == set(
                re.findall(r"\{\w+\}", keys[lang][key])
            ), f"{lang}.{key}"
    for lang in ("bg", "ru"):  # translated, not copied: Cyrillic in most strings
        cyrillic = [k for k, v in keys[lang].items() if re.search("[а-яА-Я]", v)]
        assert len(cyrillic) > 0.8 * len(keys[lang]), lang
    missing = sorted(c for c in error_codes() if f"err_{c}" not in english)
    assert missing == [], "error codes without a message in i18n.js"


# --- in the browser, against the demo ---------------------------------------------------


async def _data(d: Demo) -> list[str]:
    """What pages show that is not a word of the interface: people's names and user
    names, the seeded citizen, the languages' own names."""
    base = d.urls["wallboard"].split("/wallboard")[0]
    token = d.urls["wallboard"].split("#token=")[1]
    context = await d.browser.new_context()
    try:
        r = await context.request.get(
            f"{base}/api/v1/agents", headers={"Authorization": f"Bearer {token}"}
        )
        agents = (await r.json())["items"]
    finally:
        await context.close()
    people = [a.get("name") or a["id"] for a in agents] + [a["id"] for a in agents]
    citizen = ["Мария Иванова", "Пловдив, ул. Гладстон 5", "Heating allowance not paid"]
    citizen.append("bot-1")  # the agent of the seeded history (no longer configured)
    return [*people, *citizen, PERSON, "supervisor", "English", "Български", "Русский", "Magyar"]


async def _switch(page: Page, *langs: str) -> None:
    for lang in langs:
        await page.locator("#lang").select_option(lang)
        await expect(page.locator("html")).to_have_attribute("lang", lang)


@pytest.mark.slow
async def test_a_pseudo_locale_finds_no_untranslated_string_on_any_page(
    db_url: str, tmp_path: Path
) -> None:
    found: dict[str, list[str]] = {}
    async with demo(db_url, tmp_path) as d:
        base = d.urls["wallboard"].split("/wallboard")[0]
        data = await _data(d)
        ctx = await d.browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
        ctx.on("page", lambda p: p.on("pageerror", lambda exc: d.errors.append(str(exc))))
        await install_pseudo_locale(ctx)

        async def scan(page: Page, where: str) -> None:
            await page.wait_for_timeout(300)  # what a switch or an event redraws
            bad = await untranslated(page, data)
            if bad:
                found[where] = bad

        page = await ctx.new_page()
        await page.goto(f"{base}/")
        await _switch(page, "bg", PSEUDO)
        await scan(page, "login")
        await page.locator("#username").fill("nobody")
        await page.locator("#password").fill("not-the-password")
        await page.locator("#password").press("Enter")
        await expect(page.locator("#error")).not_to_be_empty()
        await scan(page, "login refused")

        await page.goto(f"{base}/api-docs")
        await expect(page.locator("body[data-loaded]")).to_have_count(1)
        await _switch(page, "ru", PSEUDO)
        await page.locator("details.op summary").first.click()
        await scan(page, "api-docs")

        desk = await ctx.new_page()
        await desk.goto(d.urls["desktop"])
        state = desk.get_by_test_id("state")
        await expect(desk.locator("[data-who]").first).to_have_text(PERSON)  # signed in
        await _switch(desk, "bg", PSEUDO)
        await scan(desk, "desktop logged out")
        await desk.locator("#b-login").click()
        await expect(state).to_have_class(re.compile("st-not_ready"))
        await scan(desk, "desktop not ready")
        await desk.locator("#b-ready").click()
        await expect(state).to_have_class(re.compile("st-ready"))
        await scan(desk, "desktop ready")
        keys = list(d.traffic.keys.get("social_assistance", []))
        d.server.pbx.inbound_call(Citizen(CALLER, "social_assistance", talk_s=600, keys=keys))
        await expect(state).to_have_class(re.compile("st-reserved"), timeout=15_000)
        await scan(desk, "desktop ringing")
        await desk.locator("#b-answer").click()
        await expect(state).to_have_class(re.compile("st-on_call"))
        await scan(desk, "desktop on call")
        # What an agent opens during a call: the caller's details, the kinds of transfer.
        await desk.locator("#b-edit-caller").click()
        await scan(desk, "desktop editing the caller")
        for kind in ("queue", "number", "agent"):
            await desk.locator("#t-kind").select_option(kind)
            await scan(desk, f"desktop transfer to {kind}")
        await _switch(desk, "hu", PSEUDO)
        await scan(desk, "desktop on call, after Hungarian")
        await desk.locator("#notes").fill("n" * 3900)  # nearly full: the counter shows
        await expect(desk.locator("#notes-limit")).not_to_be_empty()
        await scan(desk, "desktop notes nearly full")
        await desk.locator("#b-hangup").click()
        await expect(state).to_have_class(re.compile("st-wrap_up"))
        await scan(desk, "desktop wrap-up")
        missing = await ctx.new_page()  # a page that does not exist, in the last language
        await missing.goto(f"{base}/nope")
        await expect(missing.locator("html")).to_have_attribute("lang", PSEUDO)
        await scan(missing, "404")
        other = await ctx.new_page()  # the desktop in another window: this one says so
        await other.goto(d.urls["desktop"])
        await expect(desk.locator("#elsewhere")).to_be_visible()
        await scan(desk, "desktop open in another window")
        await other.close()

        wall = await ctx.new_page()
        await wall.goto(d.urls["wallboard"])
        await expect(wall.locator(f'.tile[data-agent="{PERSON}"]')).to_have_count(1)
        await _switch(wall, "bg", PSEUDO)
        await scan(wall, "wallboard")
        await wall.locator("#limits summary").click()  # the alert thresholds
        await scan(wall, "wallboard thresholds")
        await wall.locator("#limits summary").click()
        # "Why?" on a live call: the routing decision (or why it waits) in words.
        acd = d.core.acd
        assert acd is not None
        d.server.pbx.inbound_call(
            Citizen("+359888555777", "social_assistance", talk_s=600, keys=keys)
        )
        for _ in range(200):
            if any(c.state in ("waiting", "offered", "connected") for c in acd.acd.calls()):
                break
            await asyncio.sleep(0.1)
        await wall.locator("#calls button.why-btn").first.click()
        await expect(wall.locator("#why[data-loaded]")).to_have_count(1)
        await scan(wall, "wallboard why this agent")
        await wall.keyboard.press("Escape")
        await expect(wall.locator("#why")).to_be_hidden()

        reports = await ctx.new_page()
        await reports.goto(d.urls["reports"])
        await expect(reports.locator("body[data-loaded]")).to_have_count(1)
        await _switch(reports, "ru", PSEUDO)
        await scan(reports, "reports")
        await ctx.close()
        assert d.errors == []
    assert found == {}, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in found.items())


_SWITCH = """(lang) => {
  const picker = document.getElementById('lang');
  picker.value = lang;
  picker.dispatchEvent(new Event('change'));
  // read in the same task as the switch: what is on screen at once, not after a fetch
  const text = (sel) => {
    const n = document.querySelector(sel);
    return n ? n.textContent.trim() : null;
  };
  const reasons = document.getElementById('reasons');
  return {
    conn: text('#conn'), state: text('[data-testid=state]'), reason: text('#reason'),
    chosenReason: reasons && reasons.selectedIndex >= 0
      ? reasons.options[reasons.selectedIndex].text : null,
    tile: text('.tile[data-agent="social_assistance-1"]'),
  };
}"""


@pytest.mark.slow
async def test_a_switch_updates_badge_and_reasons_at_once_and_errors_read_in_bulgarian(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        base = d.urls["wallboard"].split("/wallboard")[0]
        ctx = await d.browser.new_context(viewport={"width": 1366, "height": 900})
        bg: dict[str, Any] = {}

        # The agent logs in (not ready, "just logged in") and picks "lunch" as the
        # reason for later; connected.
        desk = await ctx.new_page()
        await desk.goto(d.urls["desktop"])
        await expect(desk.locator("#conn")).to_have_text("connected")
        bg = await desk.evaluate("STRINGS.bg")
        await desk.locator("#b-login").click()
        await expect(desk.get_by_test_id("state")).to_have_text("Not ready")
        await desk.locator("#reasons").select_option("lunch")
        now = await desk.evaluate(_SWITCH, "bg")
        assert now["conn"] == bg["connected"]  # not "reconnecting" while connected
        assert now["state"] == bg["not_ready"]
        assert now["reason"] == bg["reason_login"]
        assert now["chosenReason"] == bg["reason_lunch"]
        saved = "/api/v1/me/language"
        async with desk.expect_response(
            lambda r: saved in r.url and "hu" in (r.request.post_data or "")
        ):
            now = await desk.evaluate(_SWITCH, "hu")
        assert now["conn"] == "kapcsolódva"
        assert now["chosenReason"] == "Ebéd"
        # After a reload the badge says "connected" in the user's language (stored).
        await desk.reload()
        await expect(desk.locator("#conn")).to_have_text("kapcsolódva")
        await desk.evaluate(_SWITCH, "bg")

        # The supervisor's wallboard: the bots' "break" reason switches with the rest.
        wall = await ctx.new_page()
        await wall.goto(d.urls["wallboard"])
        tile = wall.locator('.tile[data-agent="social_assistance-1"]')
        await expect(tile).to_contain_text("Break")
        await _switch(wall, "bg")
        await expect(tile).to_contain_text(bg["reason_break"])
        now = await wall.evaluate(_SWITCH, "ru")
        assert "Перерыв" in now["tile"]
        assert bg["reason_break"] not in now["tile"]
        assert now["conn"] == "подключено"
        now = await wall.evaluate(_SWITCH, "bg")
        assert bg["reason_break"] in now["tile"]

        # Names from the data files, in the language of the moment.
        names = await desk.evaluate(
            "['topic:social.benefits.heating', 'queue:social_assistance', 'organisation:asa',"
            " 'skill:employment'].map((k) => CTI.name(...k.split(':')))"
        )
        assert names == [
            "Помощ за отопление",
            "Социално подпомагане",
            "Агенция за социално подпомагане",
            "Заетост",
        ]

        # Server errors by their code, in Bulgarian: a REST refusal through the page's
        # client, and the login's refusals (wrong password, then too many attempts).
        text = await desk.evaluate(
            "CTI.api('GET', '/api/v1/cases/987654').then(() => 'found', (e) => CTI.errorText(e))"
        )
        assert text == bg["err_case_not_found"] == "Няма такава преписка"
        login = await (await d.browser.new_context()).new_page()
        await login.goto(f"{base}/")
        await _switch(login, "bg")
        error = login.locator("#error")
        for _ in range(5):
            await login.locator("#username").fill("nobody")
            await login.locator("#password").fill("not-the-password")
            await login.locator("#password").press("Enter")
            await expect(error).to_have_text(bg["err_bad_credentials"])
            await login.evaluate("document.getElementById('error').textContent = ''")
        await login.locator("#password").press("Enter")
        await expect(error).to_have_text(bg["err_too_many_attempts"])
        assert re.search("[а-я]", bg["err_too_many_attempts"])
        await ctx.close()
