"""`GET /api/v1/names`: what the pages call things, per language — queues (from the
ACD file; a skill is named as the queue of its code), topics and organisations (from
the classifier, as stored), agents (their profile's `name`, the same in every
language: filed under `en`). The pages show
these instead of codes and switch them with the language; a code without names is
shown as it is."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cti.api.context import Context, principal

NameMap = dict[str, dict[str, str]]


def routes(ctx: Context) -> list[web.RouteDef]:
    async def names(request: web.Request) -> web.Response:
        principal(request)  # anyone signed in: the names are what every page shows
        queues: NameMap = {}
        if ctx.core.acd is not None:
            for code, queue in ctx.core.acd.acd.config.queues.items():
                if queue.names:
                    queues[code] = {lang: name for lang, name in queue.names.items()}
        topics: NameMap = {}
        organisations: NameMap = {}
        if ctx.pool is not None:
            async with ctx.db() as conn:
                topics = _by_code(await conn.fetch("SELECT code, name, names FROM topics"))
                organisations = _by_code(
                    await conn.fetch("SELECT code, name, names FROM organisations")
                )
        agents: NameMap = {}
        if ctx.core.acd is not None:
            agents = {p.id: {"en": p.name} for p in ctx.core.acd.acd.profiles() if p.name}
        # A skill is called as the queue of the same code (one pool, one queue).
        skills = dict(queues)
        body = {
            "queue": queues,
            "skill": skills,
            "topic": topics,
            "organisation": organisations,
            "agent": agents,
        }
        return web.json_response(body, headers={"Cache-Control": "no-cache"})

    return [web.get("/api/v1/names", names)]


def _by_code(rows: list[Any]) -> NameMap:
    out: NameMap = {}
    for row in rows:
        stored = row["names"]
        names = json.loads(stored) if isinstance(stored, str) else dict(stored or {})
        out[row["code"]] = {"en": row["name"], **names}
    return out
