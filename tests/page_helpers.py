"""Checks every page test can run on a Chromium page: axe-core's accessibility rules,
the width of a phone, a pseudo-locale that shows any string not translated, and the
screenshots kept in docs/img/."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, Route, ViewportSize

DOCS_IMG = Path(__file__).parent.parent / "docs" / "img"
PHONE: ViewportSize = {"width": 390, "height": 844}
PSEUDO = "qps"  # a test-only locale: every English string wrapped in ⟦…⟧


def _axe_script() -> Path:
    """axe-core as the PyPI package axe-playwright-python ships it (a dev extra)."""
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or spec.origin is None:
        raise RuntimeError("pip install axe-playwright-python (the dev extras) for axe-core")
    return Path(spec.origin).parent / "axe.min.js"


async def axe_violations(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now (all its default rules: WCAG 2.1
    A and AA and the best practices), one line per rule with the elements it names."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(_axe_script().read_text(encoding="utf-8"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(
            f"{' '.join(n['target'])} [{(n.get('failureSummary') or '').splitlines()[-1:]}]"
            for n in v["nodes"][:6]
        )
        for v in result["violations"]
    ]


async def horizontal_overflow(page: Page) -> dict[str, Any] | None:
    """None if the page is no wider than its window; else the widths and the elements
    that stick out on the right (what to fix)."""
    found: dict[str, Any] | None = await page.evaluate(
        """() => {
          const doc = document.scrollingElement, width = window.innerWidth;
          if (doc.scrollWidth <= width) return null;
          const wide = [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > width + 0.5)
            .filter((el) => !el.parentElement
              || el.parentElement.getBoundingClientRect().right <= width + 0.5)
            .slice(0, 8)
            .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`
              + ` right=${Math.round(el.getBoundingClientRect().right)}`);
          return {scrollWidth: doc.scrollWidth, innerWidth: width, wide};
        }"""
    )
    return found


async def shot(page: Page, name: str) -> Path:
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    path = DOCS_IMG / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def install_pseudo_locale(context: BrowserContext) -> None:
    """Give every page of `context` the pseudo-locale: i18n.js gains STRINGS.qps (each
    English string wrapped in ⟦…⟧, placeholders kept), the names the server sends gain
    a `qps` name wrapped the same way, and choosing it is not sent to the server (it
    knows only the real languages)."""

    async def i18n(route: Route) -> None:
        response = await route.fetch()
        body = await response.text()
        body += (
            "\nSTRINGS.qps = Object.fromEntries(Object.entries(STRINGS.en)"
            ".map(([k, v]) => [k, `⟦${v}⟧`]));\nLANGUAGES.qps = '⟦Pseudo⟧';\n"
        )
        await route.fulfill(response=response, body=body)

    async def names(route: Route) -> None:
        response = await route.fetch()
        data = await response.json()
        for kind in data.values():
            for by_lang in kind.values():
                by_lang[PSEUDO] = f"⟦{by_lang.get('en', '?')}⟧"
        await route.fulfill(response=response, body=json.dumps(data))

    async def language(route: Route) -> None:
        if route.request.method == "PUT" and PSEUDO in (route.request.post_data or ""):
            await route.fulfill(status=200, json={"language": PSEUDO})
        else:
            await route.continue_()

    await context.route("**/static/i18n.js", i18n)
    await context.route("**/api/v1/names", names)
    await context.route("**/api/v1/me/language", language)


# Dates and times as Intl writes them for the pseudo-locale (it falls back to the
# browser's en-US): CLDR's job, not ours, and right in every real language.
_INTL = [
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}, \d{4}\b",
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{1,2}\b",
    r"\d{1,2}:\d{2}(:\d{2})?\s?[AP]M\b",
]


async def untranslated(page: Page, data: Iterable[str] = ()) -> list[str]:
    """Visible text on the page (text nodes, the chosen option of each select, and
    placeholders, aria-labels and titles of visible elements) that has letters outside
    ⟦…⟧: a string not taken from the current language. `data` are values that are not
    words of the interface (a person's name, an address): they may stand as they are.
    The API reference's own descriptions are English by design (marked lang="en")."""
    found: list[str] = await page.evaluate(
        """() => {
          const out = [];
          const visible = (el) => {
            if (!el || !el.getClientRects().length) return false;
            const cs = getComputedStyle(el);
            return cs.visibility !== 'hidden' && cs.display !== 'none' && cs.opacity !== '0';
          };
          const skip = (el) => el.closest('script, style, option, #lang')
            || (el.closest('[lang="en"]') && document.body.dataset.page === 'api')
            || el.closest('code, kbd');
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          while (walker.nextNode()) {
            const text = walker.currentNode.textContent.trim();
            const el = walker.currentNode.parentElement;
            if (!text || !el || skip(el) || !visible(el)) continue;
            out.push(`${el.tagName.toLowerCase()}#${el.id}: ${text}`);
          }
          document.querySelectorAll('select').forEach((sel) => {
            if (sel.id === 'lang' || !visible(sel) || sel.selectedIndex < 0) return;
            out.push(`select#${sel.id}: ${sel.options[sel.selectedIndex].text}`);
          });
          document.querySelectorAll('[placeholder], [aria-label], [title]').forEach((el) => {
            if (!visible(el) || el.id === 'lang' || el.closest('option')) return;
            for (const a of ['placeholder', 'aria-label', 'title']) {
              const v = el.getAttribute(a);
              if (v) out.push(`${el.tagName.toLowerCase()}#${el.id}[${a}]: ${v}`);
            }
          });
          return out;
        }"""
    )
    allowed = sorted((d for d in data if d), key=len, reverse=True)
    bad = []
    for item in found:
        _where, _, text = item.partition(": ")
        rest = re.sub(r"⟦[^⟧]*⟧", "", text)
        for value in allowed:
            rest = rest.replace(value, "")
        for pattern in _INTL:
            rest = re.sub(pattern, "", rest)
        if re.search(r"[^\W\d_]", rest):
            bad.append(item)
    return bad
