"""What a standby CTI answers on its HTTP port while another leads: `/health` 200 (the
process is fine), everything else 503 naming the leader, so a proxy's health check
(`/ready`) sends clients to the leader, and a person who opened this node's address
learns where to go."""

from __future__ import annotations

import html
from collections.abc import Callable

import structlog
from aiohttp import web

from cti.ha.lease import Leader

log = structlog.get_logger(__name__)

WhoLeads = Callable[[], Leader | None]  # as last seen by the standby's lease loop


def app(node: str, who_leads: WhoLeads) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "role": "standby", "node": node})

    async def anything(request: web.Request) -> web.Response:
        current = who_leads()
        leader = current.to_dict() if current is not None and current.live else None
        where = f"; the leader is {leader['holder']}" if leader else "; no leader right now"
        if leader and leader["url"]:
            where += f" at {leader['url']}"
        message = f"this CTI ({node}) stands by{where}"
        headers = {"Retry-After": "1", "Cache-Control": "no-store"}
        if "text/html" in request.headers.get("Accept", ""):
            link = ""
            if leader and leader["url"]:
                url = html.escape(str(leader["url"]), quote=True)
                link = f' <a href="{url}">{url}</a>'
            page = (
                '<!doctype html><html><head><meta charset="utf-8">'
                '<meta http-equiv="refresh" content="2"><title>CTI: standby</title></head>'
                f"<body><p>{html.escape(message)}.{link}</p></body></html>"
            )
            return web.Response(status=503, text=page, content_type="text/html", headers=headers)
        body: dict[str, object] = {
            "code": "standby",
            "message": message,
            "ready": False,
            "role": "standby",
            "leader": leader,
        }
        return web.json_response(body, status=503, headers=headers)

    application = web.Application()
    application.add_routes([web.get("/health", health), web.route("*", "/{tail:.*}", anything)])
    return application


class StandbyServer:
    """The standby's HTTP port, given up when this node starts leading."""

    def __init__(self, node: str, who_leads: WhoLeads, host: str, port: int) -> None:
        self._app = app(node, who_leads)
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("ha.standby_listening", host=self.host, port=self.port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
