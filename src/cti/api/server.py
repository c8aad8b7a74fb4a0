"""The HTTP server (aiohttp): assembles the feature modules' routes, the two
websockets, the pages and webhooks behind one error middleware and one auth
middleware, and owns their lifecycle.

Errors are JSON `{"code", "message"[, "fields"]}` with a stable code; 401 without or
with bad credentials, 403 for the wrong role, 422 for invalid input (with field paths);
anything unexpected is a logged 500 `internal_error`, never a plain-text page. A path
that does not exist is 404 `not_found` too, or for a browser (it asks for HTML) a
small HTML page with a link back to the start.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from pydantic import ValidationError

from cti.api import (
    agents,
    auth,
    campaigns,
    cases,
    deadlines,
    journal,
    knowledge,
    live,
    names,
    notifications,
    queues,
    records,
    reports,
    routing_why,
    session,
    system,
)
from cti.api.audit import AuditTrail
from cti.api.broadcasts import Broadcasts
from cti.api.campaign_runner import CampaignRunner
from cti.api.context import (
    PRINCIPAL,
    TOKEN_HASH,
    ApiError,
    Context,
    check_text,
    database_unavailable,
    error_response,
    validation_fields,
)
from cti.api.deadline_watch import DeadlineWatch
from cti.api.metrics import CtiCollector
from cti.api.pages import PAGES, STATIC, add_page_routes, not_found_page, wants_html
from cti.api.ports import CoreView
from cti.api.previews import Previews
from cti.api.webhooks import Webhooks
from cti.api.ws_agent import AgentDesks
from cti.api.ws_supervisor import SupervisorDesks
from cti.queues.errors import AcdError
from cti.store.errors import StoreError
from cti.store.migrate import migrate
from cti.store.notifications import RetryRules
from cti.store.outbox import DATABASE_DOWN

log = structlog.get_logger(__name__)
PUBLIC = {"/health", "/ready", "/leader", "/metrics", "/openapi.json", "/api/v1/login", *PAGES}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The `method` label of the latency histogram: these, else "other" (a client may send
# any token as a method; labels must stay few).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

ACD_CODES = {
    "unknown_agent": 404,
    "unknown_call": 404,
    "unknown_reason": 422,
    "bad_duration": 422,
    "unknown_queue": 422,
    "bad_number": 422,
}


class ApiServer:
    def __init__(
        self,
        core: CoreView,
        db_url: str | None,
        host: str,
        port: int,
        may_act: Callable[[], bool] | None = None,
    ) -> None:
        self.ctx = Context(core, db_url, may_act)
        self.host, self.port = host, port
        self.registry = CollectorRegistry()
        self.http_latency = Histogram(
            "cti_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            registry=self.registry,
        )
        self.audit = AuditTrail(lambda: self.ctx.pool)
        self.agent_desks = AgentDesks(self.ctx, self.audit)
        self.supervisor_desks = SupervisorDesks(self.ctx)
        self.registry.register(CtiCollector(core, lambda: len(self.agent_desks.sockets)))
        self.webhooks = Webhooks(list(core.settings.webhooks), core.bus, may_act)
        outbound = core.settings.outbound
        self.previews = Previews(
            self.ctx,
            lambda: set(self.agent_desks.sockets),
            lambda: notifications.outside_calling_hours(self.ctx) is None,
            dial_in_s=outbound.preview_dial_in_s,
            every_s=outbound.preview_every_s,
            rules=RetryRules(outbound.max_attempts, outbound.retry_after_s),
        )
        self.deadlines = DeadlineWatch(
            self.ctx,
            core.settings.deadlines,
            core.settings.smtp,
            lambda: reports.centre_zone(core),
            may_act,
        )
        self.broadcasts = Broadcasts(core.bus)
        self.campaigns = CampaignRunner(self.ctx, may_act)  # survey calls (issue 21)
        self.login_limiter = auth.LoginLimiter()
        self.passwords = auth.Passwords()
        self.app = web.Application(middlewares=[self._errors, self._auth])
        for feature_routes in (
            system.routes(self.ctx, self.registry),
            session.routes(self.ctx, self.login_limiter, self.passwords, self._revoked),
            queues.routes(self.ctx),
            agents.routes(self.ctx),
            records.routes(self.ctx),
            cases.routes(self.ctx),
            journal.routes(self.ctx),
            deadlines.routes(self.ctx),
            self.broadcasts.routes(),
            live.routes(self.ctx),
            notifications.routes(self.ctx, self.previews),
            campaigns.routes(self.ctx),
            routing_why.routes(self.ctx),
            reports.routes(self.ctx),
            names.routes(self.ctx),
            knowledge.routes(self.ctx, self.agent_desks.knowledge),
            self.agent_desks.routes(),
            self.supervisor_desks.routes(),
        ):
            self.app.add_routes(feature_routes)
        add_page_routes(self.app)
        self._runner: web.AppRunner | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> int:
        await self.agent_desks.start()
        await self.webhooks.start()
        await self.ctx.open()
        await self.audit.start()
        await self.previews.start()
        await self.deadlines.start()
        await self.broadcasts.start()
        await self.campaigns.start()
        if self.ctx.pool is not None:
            async with self.ctx.pool.acquire() as conn:
                await migrate(conn)  # the store may not have connected yet
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("api.listening", host=self.host, port=self.port)
        return self.port

    async def close(self) -> None:
        await self.campaigns.close()
        await self.broadcasts.close()
        await self.deadlines.close()
        await self.previews.close()
        await self.webhooks.close()
        await self.supervisor_desks.close()
        await self.agent_desks.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.audit.close()
        await self.ctx.close()

    async def _revoked(self, username: str, token_hash: str | None) -> None:
        """Tokens were revoked: close the websockets they opened."""
        await self.agent_desks.revoked(username, token_hash)
        await self.supervisor_desks.revoked(username, token_hash)

    # --- middlewares ------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        try:
            check_text([*request.match_info.items(), *request.query.items()])
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.fields)
        except ValidationError as exc:
            fields = validation_fields(exc)
            return error_response(422, "invalid_request", "the request is not valid", fields)
        except StoreError as exc:
            status = 404 if exc.code.endswith("not_found") else 422
            return error_response(status, exc.code, exc.message)
        except AcdError as exc:
            return error_response(ACD_CODES.get(exc.code, 409), exc.code, exc.message)
        except auth.TooBusy:
            return error_response(503, "busy", "too many logins at once; try again shortly")
        except web.HTTPException as exc:
            if exc.status == 404 and wants_html(request):  # a browser: a page, not JSON
                return not_found_page()
            if exc.status >= 400:
                code = exc.reason.lower().replace(" ", "_")
                return error_response(exc.status, code, exc.reason)
            raise
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            # The database refused a value the validation let through: the request's
            # fault, not the server's (logged: the validation should have caught it).
            log.warning("api.refused_by_database", route=name, error=type(exc).__name__)
            return error_response(422, "invalid_value", "a value is out of range or not allowed")
        except DATABASE_DOWN:  # away (restarting): not a server fault; worth a retry
            away = database_unavailable()
            return error_response(away.status, away.code, away.message)
        except Exception:
            log.exception("api.internal_error", route=name, method=request.method)
            return error_response(500, "internal_error", "the server failed on this request")
        finally:
            method = request.method if request.method in METHODS else "other"
            self.http_latency.labels(name, method).observe(time.perf_counter() - started)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/health":
            self.ctx.check_leading()
        if request.path in PUBLIC or request.path.startswith(STATIC):
            return await handler(request)
        if request.match_info.http_exception is not None:
            # No such route (or method): 404/405 for anyone, as a browser asking for
            # /favicon.ico expects; a token would not make the path exist.
            return await handler(request)
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
        if not token:
            raise ApiError(401, "unauthenticated", "a token is needed (Authorization: Bearer)")
        async with self.ctx.db() as conn:
            principal = await auth.principal_for_token(conn, token)
        if principal is None:
            raise ApiError(401, "bad_token", "the token is unknown or has expired")
        request[PRINCIPAL] = principal
        request[TOKEN_HASH] = auth.token_hash(token)
        return await handler(request)
