"""REST for queues: every queue's live figures against its service-level target (ours
and Asterisk's own), and one of our queues' configuration with its figures."""

from __future__ import annotations

import json

from aiohttp import web

from cti.api.context import ApiError, Context, need
from cti.api.views import queue_items


def routes(ctx: Context) -> list[web.RouteDef]:
    async def listing(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin", "integrator")
        return web.json_response({"items": queue_items(ctx.core)})

    async def queue(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin", "integrator")
        acd = ctx.acd()
        name = request.match_info["queue"]
        config = acd.acd.config.queues.get(name)
        if config is None:
            raise ApiError(404, "unknown_queue", f"no queue {name!r}")
        live = next(q for q in queue_items(ctx.core) if q["name"] == name and q["source"] == "cti")
        return web.json_response(
            {"name": name, "config": json.loads(config.model_dump_json()), "live": live}
        )

    return [
        web.get("/api/v1/queues", listing),
        web.get("/api/v1/queues/{queue}", queue),
    ]
