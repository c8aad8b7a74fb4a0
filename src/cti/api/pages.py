"""The people's pages, served by the CTI itself: the agent desktop, the supervisor
wallboard and the reports (static files in `web/`, no build step, no CDN). They hold
no data: everything they show comes over the public REST and websocket APIs."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEB = Path(__file__).parent / "web"
PAGES = {"/": "index.html", "/desktop": "desktop.html", "/wallboard": "wallboard.html"}
PAGES["/reports"] = "reports.html"
STATIC = "/static/"


def add_page_routes(app: web.Application) -> None:
    def page(path: str, name: str) -> web.RouteDef:
        async def serve(request: web.Request) -> web.FileResponse:
            return web.FileResponse(WEB / name, headers={"Cache-Control": "no-cache"})

        return web.get(path, serve)

    app.add_routes([page(path, name) for path, name in PAGES.items()])
    app.router.add_static(STATIC, WEB, append_version=False)
