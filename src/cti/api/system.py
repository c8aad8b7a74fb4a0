"""The operational routes, open without a token: `/health` (the process answers),
`/ready` (AMI and database reachable), `/leader` (this CTI leads), `/metrics`
(Prometheus) and `/openapi.json`."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cti.api.context import DATABASE_FAILURES, Context
from cti.api.openapi import document


def routes(ctx: Context, registry: CollectorRegistry) -> list[web.RouteDef]:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(request: web.Request) -> web.Response:
        checks = {"ami": ctx.core.ami.connected, "database": None}
        if ctx.pool is not None:
            try:
                async with ctx.pool.acquire(timeout=2) as conn:
                    await conn.fetchval("SELECT 1")
                checks["database"] = True
            except DATABASE_FAILURES:
                checks["database"] = False
        ok = all(v is not False for v in checks.values())
        body: dict[str, object] = {"ready": ok, "checks": checks}
        if ctx.core.ami.waiting_for is not None:  # why the AMI link is not up yet
            body["waiting_for"] = {"ami": ctx.core.ami.waiting_for}
        return web.json_response(body, status=200 if ok else 503)

    async def leader(request: web.Request) -> web.Response:
        # The proxy's health check with several CTIs (docs/ha.md): 200 on the one that
        # leads whatever the state of its links (a standby answers 503; a leader whose
        # lease ran out is refused 503 not_leader before this), so the pages stay
        # reachable while Asterisk is away.
        return web.json_response({"leading": True})

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(document())

    return [
        web.get("/health", health),
        web.get("/ready", ready),
        web.get("/leader", leader),
        web.get("/metrics", metrics),
        web.get("/openapi.json", openapi),
    ]
