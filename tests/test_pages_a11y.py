"""Every page as people who do not use a mouse, read with a screen reader, or hold a
phone use it, in a real headless Chromium against `cti demo`: axe-core (WCAG 2.1 A/AA
and best practices) finds nothing in any state the test reaches; at 390 px nothing
scrolls sideways; the keyboard reaches every control in reading order with a visible
focus; unknown paths answer 404 (a page for a browser, JSON for a client); "Sign out"
logs the agent out of the queues and leads to a login that says so and works with the
credentials the demo prints. Screenshots at 390 px go to docs/img/."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, ViewportSize, expect

from cti.demo import PERSON
from cti.sim.models import Citizen
from page_helpers import PHONE, axe_violations, horizontal_overflow, shot
from test_pages import CALLER, Demo, demo

WIDE: ViewportSize = {"width": 1366, "height": 768}


def _base(d: Demo) -> str:
    return d.urls["wallboard"].split("/wallboard")[0]


async def _context(d: Demo, lang: str = "en") -> BrowserContext:
    context = await d.browser.new_context(viewport=WIDE, locale=lang)
    context.on("page", lambda p: p.on("pageerror", lambda exc: d.errors.append(str(exc))))
    return context


async def _check(page: Page, name: str, found: dict[str, Any], screenshot: str = "") -> None:
    """axe at a laptop's width and at a phone's; the page no wider than the phone."""
    for label, size in (("1366", WIDE), ("390", PHONE)):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(150)
        violations = await axe_violations(page)
        if violations:
            found[f"{name} @{label}: axe"] = violations
    overflow = await horizontal_overflow(page)
    if overflow is not None:
        found[f"{name} @390: wider than the phone"] = overflow
    if screenshot:
        await shot(page, screenshot)
    await page.set_viewport_size(WIDE)


async def _focus_order(page: Page, stops: int) -> list[dict[str, Any]]:
    """Tab through the page from its top: each stop's element, box and focus outline."""
    await page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    await page.evaluate("() => window.scrollTo(0, 0)")
    out = []
    for _ in range(stops):
        await page.keyboard.press("Tab")
        out.append(
            await page.evaluate(
                """() => {
                  const el = document.activeElement, r = el.getBoundingClientRect();
                  const cs = getComputedStyle(el);
                  const label = el.textContent.trim().slice(0, 30);
                  return {what: `${el.tagName.toLowerCase()}#${el.id} ${label}`,
                          top: r.top + scrollY, bottom: r.bottom + scrollY,
                          left: r.left, right: r.right,
                          outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
                          body: el === document.body};
                }"""
            )
        )
    return out


def _reading_order(stops: list[dict[str, Any]]) -> list[str]:
    """Stops that jump back up the page (other than to the top of a column to the
    right) or leftwards along a line: the reading order broken; and stops without a
    visible focus indicator."""
    bad = []
    for a, b in itertools.pairwise(stops):
        if b["body"] or a["body"]:
            continue
        same_line = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0
        next_column = b["left"] >= a["right"] - 1  # the top of a column to the right
        onwards = b["left"] >= a["left"] - 1 if same_line else b["top"] >= a["top"] or next_column
        if not onwards:
            bad.append(f"{a['what']} -> {b['what']}")
    bad += [f"no visible focus: {s['what']}" for s in stops if not s["outline"] and not s["body"]]
    return bad


@pytest.mark.slow
async def test_every_page_passes_axe_and_fits_a_phone_in_every_state(
    db_url: str, tmp_path: Path
) -> None:
    found: dict[str, Any] = {}
    async with demo(db_url, tmp_path) as d:
        base = _base(d)
        ctx = await _context(d)
        page = await ctx.new_page()

        # The login page, empty and with a refusal shown.
        await page.goto(f"{base}/")
        await expect(page.locator("#username")).to_be_visible()
        await _check(page, "login", found, "phone-login")
        await page.locator("#username").fill("nobody")
        await page.locator("#password").fill("not-the-password")
        await page.locator("#password").press("Enter")
        await expect(page.locator("#error")).to_have_text("Wrong user name or password")
        await _check(page, "login with an error", found)

        # The API reference, closed and with an operation and a data type open.
        await page.goto(f"{base}/api-docs")
        await expect(page.locator("body[data-loaded]")).to_have_count(1)
        await _check(page, "api-docs", found)
        await page.locator("details.op summary").first.click()
        await page.locator('a[href^="#schema-"]').first.click()
        await expect(page.locator("details.op[open]")).to_have_count(2)
        await _check(page, "api-docs open", found, "phone-api-docs")

        # The agent desktop through a call: logged out, not ready, ready, ringing, on
        # call, wrap-up.
        desk = await ctx.new_page()
        await desk.goto(d.urls["desktop"])
        state = desk.get_by_test_id("state")
        await expect(state).to_have_text("Logged out")
        await expect(desk.locator("#conn")).to_have_text("connected")
        await _check(desk, "desktop logged out", found)
        await desk.locator("#b-login").click()
        await expect(state).to_have_text("Not ready")
        await _check(desk, "desktop not ready", found)
        await desk.locator("#b-ready").click()
        await expect(state).to_have_text("Ready")
        await _check(desk, "desktop ready", found)
        keys = list(d.traffic.keys.get("social_assistance", []))
        d.server.pbx.inbound_call(Citizen(CALLER, "social_assistance", talk_s=600, keys=keys))
        await expect(state).to_have_text("Ringing", timeout=15_000)
        await _check(desk, "desktop ringing", found)
        await desk.locator("#b-answer").click()
        await expect(state).to_have_text(re.compile("^On call"))
        await _check(desk, "desktop on call", found, "phone-desktop")
        await desk.locator("#b-hangup").click()
        await expect(state).to_have_text(re.compile("^Wrap-up"))
        await _check(desk, "desktop wrap-up", found, "phone-desktop-wrap-up")
        # The desktop opened in another window: this one says so and offers Use here.
        other = await ctx.new_page()
        await other.goto(d.urls["desktop"])
        await expect(other.locator("#conn")).to_have_text("connected")
        await expect(desk.get_by_test_id("elsewhere")).to_be_visible()
        await _check(desk, "desktop open in another window", found)
        await other.close()

        # A page that does not exist, in a browser.
        missing = await ctx.new_page()
        response = await missing.goto(f"{base}/nope")
        assert response is not None
        assert response.status == 404
        await expect(missing.locator("h2")).to_have_text("Page not found")
        await _check(missing, "404", found)

        # The wallboard (the person's call is on it) and the reports.
        wall = await ctx.new_page()
        await wall.goto(d.urls["wallboard"])
        await expect(wall.locator(f'.tile[data-agent="{PERSON}"]')).to_have_count(1)
        await expect(wall.locator("#conn")).to_have_text("connected")
        await _check(wall, "wallboard", found, "phone-wallboard")
        reports = await ctx.new_page()
        await reports.goto(d.urls["reports"])
        await expect(reports.locator("body[data-loaded]")).to_have_count(1)
        await _check(reports, "reports", found, "phone-reports")
        await ctx.close()
        assert d.errors == []
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)


@pytest.mark.slow
async def test_keyboard_only_reading_order_404s_and_sign_out_then_log_in(
    db_url: str, tmp_path: Path
) -> None:
    async with demo(db_url, tmp_path) as d:
        base = _base(d)
        creds = re.search(
            r"log in at (\S+) as\s+supervisor / (\S+)\s+or\s+(\S+) / (\S+)", d.printed
        )
        assert creds is not None, d.printed
        assert creds.group(1) == f"{base}/"
        assert creds.group(3) == PERSON
        supervisor_password, person_password = creds.group(2), creds.group(4)
        ctx = await _context(d)

        # A favicon or a mistyped path is "not found", for anyone: JSON for a client, a
        # page for a browser; the API still wants a token for what exists.
        for path in ("/favicon.ico", "/nope", "/api/v1/nope", "/desktop/x"):
            r = await ctx.request.get(base + path)
            assert r.status == 404, path
            assert (await r.json())["code"] == "not_found"
            r = await ctx.request.get(base + path, headers={"Accept": "text/html,*/*;q=0.8"})
            assert (r.status, r.headers["content-type"]) == (404, "text/html; charset=utf-8")
            assert 'href="/"' in await r.text()
        assert (await ctx.request.get(f"{base}/api/v1/me")).status == 401
        assert (await ctx.request.get(f"{base}/static/favicon.svg")).status == 200

        # The API reference is one link away from the login page.
        page = await ctx.new_page()
        await page.goto(f"{base}/")
        await page.get_by_role("link", name="API reference").click()
        await expect(page).to_have_url(f"{base}/api-docs")
        await expect(page.locator("body[data-loaded]")).to_have_count(1)

        # The login page by keyboard alone: skip link first, then in reading order.
        await page.goto(f"{base}/")
        stops = await _focus_order(page, 6)
        assert stops[0]["what"].startswith("a#"), stops[0]
        assert _reading_order(stops) == []
        await page.keyboard.press("Shift+Tab")
        await page.locator("#username").focus()
        await page.keyboard.type("supervisor")
        await page.keyboard.press("Tab")
        await page.keyboard.type(supervisor_password)
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(re.compile("/wallboard$"))
        await expect(page.locator("#conn")).to_have_text("connected")
        assert _reading_order(await _focus_order(page, 24)) == []

        # The agent: the desktop's controls by keyboard, in reading order.
        desk = await ctx.new_page()
        await desk.goto(d.urls["desktop"])
        state = desk.get_by_test_id("state")
        await expect(state).to_have_text("Logged out")
        assert _reading_order(await _focus_order(desk, 30)) == []
        await desk.locator("#b-login").focus()
        await desk.keyboard.press("Enter")
        await expect(state).to_have_text("Not ready")
        await desk.locator("#b-ready").focus()
        await desk.keyboard.press("Space")
        await expect(state).to_have_text("Ready")
        await desk.locator("#b-not-ready").focus()
        await desk.keyboard.press("Enter")
        await expect(state).to_have_text("Not ready")

        # Sign out: out of the queues, the token is revoked; the login page says so and
        # takes the printed password.
        token = await desk.evaluate("sessionStorage.getItem('cti.token')")
        await desk.locator("#signout").click()
        await expect(desk).to_have_url(f"{base}/")
        await expect(desk.get_by_test_id("notice")).to_contain_text("logged out of the queues")
        assert await axe_violations(desk) == []
        gone = await ctx.request.get(
            f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert gone.status == 401
        await desk.locator("#username").fill(PERSON)
        await desk.locator("#password").fill(person_password)
        await desk.get_by_role("button", name="Log in").click()
        await expect(desk).to_have_url(re.compile("/desktop$"))
        await expect(desk.get_by_test_id("state")).to_have_text("Logged out")
        await expect(desk.locator("[data-who]").first).to_have_text(PERSON)
        await ctx.close()
        assert d.errors == []
