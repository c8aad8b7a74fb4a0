"""The people's pages, served by the CTI itself: the agent desktop, the supervisor
wallboard, the reports, the organisations' journal and the API reference (static files
in `web/`, no build step, no CDN). They hold no data: everything they show comes over
the public REST and websocket APIs. A browser asking for a page that does not exist
gets a small HTML "not found" page; API clients get the JSON error as for any other
refusal."""

from __future__ import annotations

import functools
from pathlib import Path

from aiohttp import web

WEB = Path(__file__).parent / "web"
PAGES = {"/": "index.html", "/desktop": "desktop.html", "/wallboard": "wallboard.html"}
PAGES["/reports"] = "reports.html"
PAGES["/journal"] = "journal.html"  # the organisations' cases (issue 22)
PAGES["/campaigns"] = "campaigns.html"  # survey campaigns (issue 21)
PAGES["/api-docs"] = "api.html"  # a reader for /openapi.json (no CDN: the network may be closed)
STATIC = "/static/"


def add_page_routes(app: web.Application) -> None:
    def page(path: str, name: str) -> web.RouteDef:
        async def serve(request: web.Request) -> web.FileResponse:
            return web.FileResponse(WEB / name, headers={"Cache-Control": "no-cache"})

        return web.get(path, serve)

    app.add_routes([page(path, name) for path, name in PAGES.items()])
    app.router.add_static(STATIC, WEB, append_version=False)


def wants_html(request: web.Request) -> bool:
    """A browser loading a page: it asks for HTML before JSON (fetch, curl and API
    clients send `*/*` or `application/json`)."""
    accept = request.headers.get("Accept", "").lower()
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


@functools.cache
def _not_found_html() -> str:
    return (WEB / "404.html").read_text(encoding="utf-8")


def not_found_page() -> web.Response:
    """404 as a page (in the user's language, a link back to the start page)."""
    return web.Response(
        status=404,
        text=_not_found_html(),
        content_type="text/html",
        headers={"Cache-Control": "no-cache"},
    )
