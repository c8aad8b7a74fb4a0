"""The HTTP side of the CTI (aiohttp): health, readiness, Prometheus metrics, the
agent websocket with screen-pop, and the first REST routes, behind token auth.

Errors are JSON `{"code", "message"[, "fields"]}` with a stable code; 401 without or
with bad credentials, 403 for the wrong role, 422 for invalid input (with field paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog
from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from pydantic import BaseModel, ValidationError

from cti.ami.errors import AmiError
from cti.api import auth
from cti.api.bus import BusEvent
from cti.api.metrics import CtiCollector
from cti.api.models import (
    AGENT_MESSAGE,
    AgentView,
    ErrorReply,
    LanguageChange,
    LoginReply,
    LoginRequest,
    QueueLive,
    StateChange,
    TransferTarget,
    WsResume,
)
from cti.api.pages import PAGES, STATIC, add_page_routes
from cti.queues.errors import AcdError
from cti.store.callers import screen_pop
from cti.store.errors import StoreError
from cti.store.phone import normalise

if TYPE_CHECKING:
    from cti.app import Core

log = structlog.get_logger(__name__)
PUBLIC = {"/health", "/ready", "/metrics", "/openapi.json", "/api/v1/login", *PAGES}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _error(status: int, code: str, message: str, fields: Any = None) -> web.Response:
    body = ErrorReply(code=code, message=message, fields=fields).model_dump(exclude_none=True)
    return web.json_response(body, status=status)


def _fields(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"path": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
        for e in exc.errors()
    ]


PRINCIPAL = web.RequestKey("principal", auth.Principal)


def _event_frame(event: BusEvent) -> dict[str, Any]:
    return {
        "type": "event",
        "seq": event.seq,
        "at": event.at,
        "event": event.type,
        "data": event.data,
    }


ACD_CODES = {
    "unknown_agent": 404,
    "unknown_call": 404,
    "unknown_reason": 422,
    "bad_duration": 422,
    "unknown_queue": 422,
}


class ApiServer:
    def __init__(self, core: Core, db_url: str | None, host: str, port: int) -> None:
        self.core = core
        self.db_url = db_url
        self.host, self.port = host, port
        self.pool: Any = None
        self.limiter = auth.LoginLimiter()
        self.registry = CollectorRegistry()
        self.http_latency = Histogram(
            "cti_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            registry=self.registry,
        )
        self.agent_sockets: dict[str, web.WebSocketResponse] = {}
        self.supervisor_sockets: set[web.WebSocketResponse] = set()
        self.last_call: dict[str, str] = {}  # agent -> its last answered call (wrap-up)
        self._watch = core.bus.subscribe(lambda e: e.type == "acd.CallAnswered")
        self._watch_task: asyncio.Task[None] | None = None
        self.registry.register(CtiCollector(core, self))
        self.app = web.Application(middlewares=[self._errors, self._auth])
        self.app.add_routes(
            [
                web.get("/health", self.health),
                web.get("/ready", self.ready),
                web.get("/metrics", self.metrics),
                web.get("/openapi.json", self.openapi),
                web.post("/api/v1/login", self.login),
                web.get("/api/v1/me", self.me),
                web.put("/api/v1/me/language", self.set_language),
                web.get("/api/v1/queues", self.queues),
                web.get("/api/v1/agents", self.agents),
                web.post("/api/v1/agents/{agent_id}/state", self.agent_state),
                web.get("/api/v1/callers/{number}", self.caller),
                web.get("/ws/agent", self.ws_agent),
                web.get("/ws/supervisor", self.ws_supervisor),
            ]
        )
        from cti.api.agents import add_agent_routes
        from cti.api.cases import add_case_routes
        from cti.api.live import add_live_routes
        from cti.api.records import add_record_routes
        from cti.api.reports import add_report_routes

        add_agent_routes(self)
        add_page_routes(self)
        add_case_routes(self)
        add_live_routes(self)
        add_record_routes(self)
        add_report_routes(self)
        self._runner: web.AppRunner | None = None
        from cti.api.webhooks import Webhooks

        self.webhooks = Webhooks(list(core.settings.webhooks), core.bus)

    # --- lifecycle ---------------------------------------------------------------------

    async def _follow_answers(self) -> None:
        while (event := await self._watch.get()) is not None:
            self.last_call[event.data["agent"]] = event.data["call"]

    async def start(self) -> int:
        self._watch_task = asyncio.create_task(self._follow_answers(), name="api-answers")
        await self.webhooks.start()
        if self.db_url is not None:
            self.pool = await asyncpg.create_pool(self.db_url, min_size=0, max_size=10, timeout=5)
            if self.core.acd is not None:
                from cti.api.agents import apply_saved_agents
                from cti.store.migrate import migrate

                async with self.pool.acquire() as conn:
                    await migrate(conn)  # the store may not have connected yet
                    applied = await apply_saved_agents(conn, self.core.acd)
                if applied:
                    log.info("api.saved_agents_applied", changes=applied)
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
        await self.webhooks.close()
        self.core.bus.unsubscribe(self._watch)
        if self._watch_task is not None:
            await self._watch_task
        for ws in list(self.supervisor_sockets):
            await ws.close(code=1001, message=b"server shutting down")
        for ws in list(self.agent_sockets.values()):
            await ws.close(code=1001, message=b"server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
        if self.pool is not None:
            await self.pool.close()

    # --- middlewares ------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc.status, exc.code, exc.message, exc.fields)
        except ValidationError as exc:
            return _error(422, "invalid_request", "the request is not valid", _fields(exc))
        except StoreError as exc:
            status = 404 if exc.code.endswith("not_found") else 422
            return _error(status, exc.code, exc.message)
        except AcdError as exc:
            return _error(ACD_CODES.get(exc.code, 409), exc.code, exc.message)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
            raise
        finally:
            self.http_latency.labels(name, request.method).observe(time.perf_counter() - started)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC or request.path.startswith(STATIC):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
        if not token:
            raise ApiError(401, "unauthenticated", "a token is needed (Authorization: Bearer)")
        async with self._db() as conn:
            principal = await auth.principal_for_token(conn, token)
        if principal is None:
            raise ApiError(401, "bad_token", "the token is unknown or has expired")
        request[PRINCIPAL] = principal
        return await handler(request)

    def _db(self) -> Any:
        if self.pool is None:
            raise ApiError(503, "no_database", "the CTI runs without a database")
        return self.pool.acquire()

    @staticmethod
    def _need(request: web.Request, *roles: str) -> auth.Principal:
        principal = request[PRINCIPAL]
        if principal.role not in roles:
            raise ApiError(403, "forbidden", f"{principal.role} may not do this")
        return principal

    @staticmethod
    async def _body(request: web.Request, model: type[BaseModel]) -> Any:
        try:
            raw = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "bad_json", "the body is not JSON") from None
        return model.model_validate(raw)

    def _acd(self) -> Any:
        if self.core.acd is None:
            raise ApiError(503, "no_acd", "the CTI runs without an ACD configuration")
        return self.core.acd

    # --- routes ------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, request: web.Request) -> web.Response:
        checks = {"ami": self.core.ami.connected, "database": None}
        if self.pool is not None:
            try:
                async with self.pool.acquire(timeout=2) as conn:
                    await conn.fetchval("SELECT 1")
                checks["database"] = True
            except (OSError, TimeoutError, asyncpg.PostgresError):
                checks["database"] = False
        ok = all(v is not False for v in checks.values())
        return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(self, request: web.Request) -> web.Response:
        from cti.api.openapi import document

        return web.json_response(document())

    async def login(self, request: web.Request) -> web.Response:
        data: LoginRequest = await self._body(request, LoginRequest)
        address = request.remote or "?"
        if self.limiter.blocked(data.username, address):
            raise ApiError(429, "too_many_attempts", "too many failed logins; try again later")
        async with self._db() as conn:
            result = await auth.login(conn, data.username, data.password)
        if result is None:
            self.limiter.failed(data.username, address)
            raise ApiError(401, "bad_credentials", "wrong user name or password")
        principal, token = result
        reply = LoginReply(token=token, role=principal.role, agent_id=principal.agent_id)
        return web.json_response(reply.model_dump())

    async def me(self, request: web.Request) -> web.Response:
        p = request[PRINCIPAL]
        async with self._db() as conn:
            language = await conn.fetchval(
                "SELECT language FROM users WHERE username = $1", p.username
            )
        return web.json_response(
            {"username": p.username, "role": p.role, "agent_id": p.agent_id, "language": language}
        )

    async def set_language(self, request: web.Request) -> web.Response:
        p = request[PRINCIPAL]
        data: LanguageChange = await self._body(request, LanguageChange)
        async with self._db() as conn:
            await conn.execute(
                "UPDATE users SET language = $2 WHERE username = $1", p.username, data.language
            )
        return web.json_response({"username": p.username, "language": data.language})

    async def queues(self, request: web.Request) -> web.Response:
        self._need(request, "supervisor", "admin", "integrator")
        return web.json_response({"items": self._queue_items(self._acd())})

    @staticmethod
    def _queue_items(acd: Any) -> list[dict[str, Any]]:
        now = acd.now()
        items = []
        for name, config in acd.acd.config.queues.items():
            view = acd.acd.queue_view(name, now)
            targets = {
                "service_level_s": config.service_level_s,
                "service_level_target": config.service_level_target,
            }
            fields = {f: getattr(view, f, None) for f in QueueLive.model_fields} | targets
            items.append(QueueLive.model_validate(fields).model_dump())
        return items

    @staticmethod
    def agent_view(acd: Any, agent_id: str) -> AgentView | None:
        view, profile = acd.acd.agent_view(agent_id), acd.acd.profile(agent_id)
        if view is None or profile is None:
            return None
        return AgentView(
            id=view.id,
            state=str(view.state),
            reason=view.reason,
            since=view.since,
            in_state_s=round((acd.now() - view.since) * acd.time_scale, 1),
            call=view.call,
            skills=dict(profile.skills),
            queues=list(profile.queues),
            reachable=view.reachable,
        )

    async def agents(self, request: web.Request) -> web.Response:
        self._need(request, "supervisor", "admin")
        acd = self._acd()
        items = [self.agent_view(acd, a.id) for a in acd.acd.agents()]
        return web.json_response({"items": [a.model_dump() for a in items if a is not None]})

    async def agent_state(self, request: web.Request) -> web.Response:
        principal = self._need(request, "agent", "supervisor", "admin")
        agent_id = request.match_info["agent_id"]
        if principal.role == "agent" and principal.agent_id != agent_id:
            raise ApiError(403, "forbidden", "an agent may change only its own state")
        data: StateChange = await self._body(request, StateChange)
        self._change_state(agent_id, data.state, data.reason)
        return web.json_response({"agent": agent_id, "state": data.state})

    def _change_state(self, agent_id: str, state: str, reason: str | None) -> None:
        acd = self._acd()
        now = acd.now()
        if state == "login":
            acd.apply(acd.acd.login(agent_id, now))
        elif state == "ready":
            acd.apply(acd.acd.set_ready(agent_id, now))
        elif state == "not_ready":
            if not reason:
                raise ApiError(422, "reason_required", "not_ready needs a reason")
            acd.apply(acd.acd.set_not_ready(agent_id, reason, now))
        else:
            acd.apply(acd.acd.logout(agent_id, now))

    async def caller(self, request: web.Request) -> web.Response:
        principal = self._need(request, "agent", "supervisor", "admin", "integrator")
        number = request.match_info["number"]
        async with self._db() as conn:
            pop = await screen_pop(conn, number)
            await auth.audit(conn, principal.username, "caller_lookup", pop.phone)
        return web.json_response(json.loads(pop.model_dump_json()))

    # --- the agent websocket -------------------------------------------------------------

    async def ws_agent(self, request: web.Request) -> web.StreamResponse:
        principal = self._need(request, "agent")
        agent_id = principal.agent_id
        assert agent_id is not None
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        old = self.agent_sockets.get(agent_id)
        if old is not None:  # one desktop per agent: the newest wins
            await old.close(code=4001, message=b"replaced by a new connection")
        self.agent_sockets[agent_id] = ws
        bus = self.core.bus

        def mine(event: BusEvent) -> bool:
            if event.type == "supervisor.broadcast":
                targets = event.data.get("agents")
                return targets is None or agent_id in targets
            return event.data.get("agent") == agent_id

        sub = bus.subscribe(mine)
        pump = asyncio.create_task(self._pump(ws, sub, agent_id))
        try:
            await ws.send_json({"type": "hello", "agent": agent_id, "seq": bus.seq})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._agent_message(ws, agent_id, msg.data, mine)
        finally:
            pump.cancel()
            bus.unsubscribe(sub)
            if self.agent_sockets.get(agent_id) is ws:
                del self.agent_sockets[agent_id]
        return ws

    async def _pump(self, ws: web.WebSocketResponse, sub: Any, agent_id: str) -> None:
        while True:
            event = await sub.get()
            if event is None:
                await ws.close(code=4008, message=sub.closed.encode())
                return
            await self._send_event(ws, event)

    async def _send_event(self, ws: web.WebSocketResponse, event: BusEvent) -> None:
        if event.type == "supervisor.broadcast":
            await ws.send_json({"type": "broadcast", "seq": event.seq, **event.data})
        elif event.type == "acd.CallOffered":
            await ws.send_json({"type": "screen_pop", "seq": event.seq, **await self._pop(event)})
        else:
            await ws.send_json(_event_frame(event))

    async def _pop(self, event: BusEvent) -> dict[str, Any]:
        """What the agent sees when a call is offered."""
        call = event.data["call"]
        interaction = self.core.tracker.interactions.get(call)
        number = interaction.caller_num if interaction else ""
        variables = interaction.cti_vars if interaction else {}
        pop: dict[str, Any] = {
            "call": call,
            "queue": event.data.get("queue"),
            "number": number,
            "waited_s": event.data.get("waited_s"),
            "topic": variables.get("CTI_TOPIC"),
            "ivr_path": [p for p in variables.get("CTI_IVR_PATH", "").split(",") if p],
            "caller": None,
            "interactions": [],
            "open_cases": [],
        }
        if self.pool is not None and number:
            try:
                async with self.pool.acquire(timeout=2) as conn:
                    found = await screen_pop(conn, number)
                history = {"caller", "interactions", "open_cases"}
                pop.update(json.loads(found.model_dump_json(include=history)))
            except StoreError:
                pass  # not a phone number (anonymous): the pop shows what the call knows
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                log.warning("api.screen_pop_without_history", error=str(exc))
        return pop

    async def _agent_message(
        self, ws: web.WebSocketResponse, agent_id: str, text: str, mine: Callable[[BusEvent], bool]
    ) -> None:
        try:
            msg = AGENT_MESSAGE.validate_json(text)
        except ValidationError as exc:
            request_id = None
            with contextlib.suppress(ValueError, AttributeError):
                request_id = json.loads(text).get("id")
            await ws.send_json(
                {
                    "type": "error",
                    "id": request_id,
                    "code": "bad_message",
                    "message": "the message is not valid",
                    "fields": _fields(exc),
                }
            )
            return
        try:
            if isinstance(msg, WsResume):
                missed = self.core.bus.since(msg.since, mine)
                if missed is None:
                    await ws.send_json(
                        {
                            "type": "error",
                            "id": msg.id,
                            "code": "resume_gap",
                            "message": "events since then are gone; reload state",
                        }
                    )
                    return
                for event in missed:
                    await self._send_event(ws, event)
            elif msg.type == "ping":
                pass
            elif msg.type in ("pause_recording", "resume_recording"):
                self._recording(agent_id, msg.type == "pause_recording")
            elif msg.type == "hangup":
                await self._hangup(agent_id)
            elif msg.type == "answer":
                await self._answer(agent_id)
            elif msg.type == "transfer":
                await self.transfer(self._current_call(agent_id), msg)
            elif msg.type in ("hold", "unhold"):
                acd = self._acd()
                call = self._current_call(agent_id)
                await (acd.hold(call) if msg.type == "hold" else acd.resume(call))
            elif msg.type == "wrap_up":
                extra = await self._wrap_up(ws, agent_id, msg)
                await ws.send_json({"type": "ack", "id": msg.id, **extra})
                return
            elif msg.type == "extend_wrap_up":
                acd = self._acd()
                acd.apply(acd.acd.extend_wrap_up(agent_id, msg.seconds, acd.now()))
            else:
                self._change_state(agent_id, msg.type, getattr(msg, "reason", None))
        except (ApiError, AcdError, StoreError) as exc:
            code = exc.code
            await ws.send_json(
                {"type": "error", "id": msg.id, "code": code, "message": exc.message}
            )
            return
        except AmiError as exc:  # Asterisk refused (the channel may be gone already)
            await ws.send_json(
                {"type": "error", "id": msg.id, "code": "pbx_refused", "message": str(exc)}
            )
            return
        await ws.send_json({"type": "ack", "id": msg.id})

    def _current_call(self, agent_id: str) -> str:
        """The call the agent is talking on (409 `no_call` otherwise)."""
        view = self._acd().acd.agent_view(agent_id)
        if view is None or view.call is None or str(view.state) != "on_call":
            raise ApiError(409, "no_call", "the agent is not on a call")
        return str(view.call)

    async def transfer(self, call: str, target: TransferTarget) -> None:
        """Hand an answered call to a queue, an agent or an outside number."""
        acd = self._acd()
        try:
            if target.queue is not None:
                await acd.transfer_to_queue(call, target.queue)
            elif target.agent is not None:
                await acd.transfer_to_agent(call, target.agent)
            else:
                assert target.number is not None
                await acd.transfer_to_number(call, normalise(target.number))
        except AmiError as exc:
            raise ApiError(409, "pbx_refused", str(exc)) from None

    async def _answer(self, agent_id: str) -> None:
        """PJSIPNotify `Event: talk` to the agent's ringing phone."""
        acd = self._acd()
        view = acd.acd.agent_view(agent_id)
        profile = acd.acd.profile(agent_id)
        if view is None or profile is None or str(view.state) != "reserved":
            raise ApiError(409, "not_ringing", "no call is ringing for this agent")
        prefix = profile.endpoint + "-"
        ringing = [
            c.name
            for c in self.core.tracker.channels.values()
            if c.name.startswith(prefix) and c.state == 5
        ]
        if not ringing:
            raise ApiError(409, "not_ringing", "the phone is not ringing yet")
        try:
            await self.core.ami.send_action(
                {"Action": "PJSIPNotify", "Channel": ringing[0], "Variable": "Event=talk"}
            )
        except AmiError as exc:
            raise ApiError(409, "answer_failed", str(exc)) from None

    async def _hangup(self, agent_id: str) -> None:
        acd = self._acd()
        view = acd.acd.agent_view(agent_id)
        channel = acd.caller_channel(view.call) if view is not None and view.call else None
        if channel is None:
            raise ApiError(409, "no_call", "there is no call to hang up")
        try:
            await self.core.ami.send_action({"Action": "Hangup", "Channel": channel})
        except AmiError as exc:
            raise ApiError(409, "hangup_failed", str(exc)) from None

    async def _wrap_up(self, ws: web.WebSocketResponse, agent_id: str, msg: Any) -> dict[str, Any]:
        """Disposition and case for the agent's last call; then ready (unless told not)."""
        from cti.store import cases
        from cti.store.outbox import Record

        acd = self._acd()
        view = acd.acd.agent_view(agent_id)
        call = self.last_call.get(agent_id)
        if view is None or str(view.state) != "wrap_up" or call is None:
            raise ApiError(409, "not_in_wrap_up", "there is no call to wrap up")
        store = self.core.store
        if store is None:
            raise ApiError(503, "no_database", "the CTI runs without a database")
        extra: dict[str, Any] = {}
        if msg.case is not None:
            data = msg.case.model_copy(update={"interaction_id": call})
            async with self._db() as conn:
                case = await cases.create_case(conn, data, agent_id)
            extra = {"case_id": case.id, "case_number": case.number}
        elif msg.case_id is not None:
            async with self._db() as conn:
                case = await cases.get_case(conn, msg.case_id)
            store.put(
                Record(
                    "case_link", f"{case.id}:{call}", {"case_id": case.id, "interaction_id": call}
                )
            )
            extra = {"case_id": case.id, "case_number": case.number}
        store.put(
            Record(
                "interaction_update",
                f"{call}:disposition",
                {"id": call, "fields": {"disposition": msg.disposition}},
            )
        )
        if msg.ready:
            acd.apply(acd.acd.set_ready(agent_id, acd.now()))
        return extra

    # --- the supervisor websocket ---------------------------------------------------------

    async def ws_supervisor(self, request: web.Request) -> web.StreamResponse:
        principal = self._need(request, "supervisor", "admin")
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        self.supervisor_sockets.add(ws)
        bus = self.core.bus

        def wanted(event: BusEvent) -> bool:
            return event.type.startswith("acd.")

        sub = bus.subscribe(wanted)
        pump = asyncio.create_task(self._supervisor_pump(ws, sub))
        try:
            await ws.send_json({"type": "snapshot", "seq": bus.seq, **self._snapshot()})
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._supervisor_message(ws, principal, frame.data, wanted)
        finally:
            pump.cancel()
            bus.unsubscribe(sub)
            self.supervisor_sockets.discard(ws)
        return ws

    def _snapshot(self) -> dict[str, Any]:
        acd = self.core.acd
        if acd is None:
            return {"queues": [], "agents": [], "calls": []}
        now = acd.now()
        return {
            "queues": self._queue_items(acd),
            "agents": [
                {
                    "id": a.id,
                    "state": str(a.state),
                    "reason": a.reason,
                    "in_state_s": round(now - a.since, 1),
                    "call": a.call,
                }
                for a in acd.acd.agents()
            ],
            "calls": [
                {
                    "id": c.id,
                    "queue": c.queue,
                    "state": c.state,
                    "agent": c.agent,
                    "waiting_s": round(now - c.entered, 1),
                }
                for c in acd.acd.calls()
            ],
        }

    async def _supervisor_pump(self, ws: web.WebSocketResponse, sub: Any) -> None:
        while (event := await sub.get()) is not None:
            await ws.send_json(_event_frame(event))
        await ws.close(code=4008, message=(sub.closed or "closed").encode())

    async def _supervisor_message(
        self,
        ws: web.WebSocketResponse,
        principal: auth.Principal,
        text: str,
        wanted: Callable[[BusEvent], bool],
    ) -> None:
        from cti.api.models import SUPERVISOR_MESSAGE

        try:
            msg = SUPERVISOR_MESSAGE.validate_json(text)
        except ValidationError as exc:
            await ws.send_json(
                {
                    "type": "error",
                    "id": None,
                    "code": "bad_message",
                    "message": "the message is not valid",
                    "fields": _fields(exc),
                }
            )
            return
        try:
            if msg.type == "force_state":
                self._change_state(msg.agent, msg.state, msg.reason)
                log.info(
                    "api.forced_state", by=principal.username, agent=msg.agent, state=msg.state
                )
            elif msg.type in ("listen", "whisper", "barge"):
                await self._spy(principal, msg)
            elif msg.type == "broadcast":
                self.core.bus.publish(
                    "supervisor.broadcast",
                    {"text": msg.text, "by": principal.username, "agents": msg.agents},
                )
            elif isinstance(msg, WsResume):
                missed = self.core.bus.since(msg.since, wanted)
                if missed is None:
                    raise ApiError(409, "resume_gap", "events since then are gone; reload")
                for event in missed:
                    await ws.send_json(_event_frame(event))
        except (ApiError, AcdError, StoreError) as exc:
            await ws.send_json(
                {"type": "error", "id": msg.id, "code": exc.code, "message": exc.message}
            )
            return
        await ws.send_json({"type": "ack", "id": msg.id})

    async def _spy(self, principal: auth.Principal, msg: Any) -> None:
        """Originate the supervisor's phone into ChanSpy on the agent's channel
        (q: no beep; E: end with the call; w: whisper; B: barge)."""
        acd = self._acd()
        view = acd.acd.agent_view(msg.agent)
        if view is None:
            raise ApiError(404, "unknown_agent", f"no agent {msg.agent!r}")
        if view.call is None or str(view.state) != "on_call":
            raise ApiError(409, "no_call", f"agent {msg.agent} is not on a call")
        profile = acd.acd.profile(msg.agent)
        assert profile is not None
        options = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}[msg.type]
        try:
            await self.core.ami.send_action(
                {
                    "Action": "Originate",
                    "Channel": msg.endpoint,
                    "Application": "ChanSpy",
                    "Data": f"{profile.endpoint}-,{options}",
                    "CallerID": f"{msg.type} {msg.agent}",
                    "Async": "true",
                },
                timeout=40,
            )
        except AmiError as exc:
            raise ApiError(409, "spy_failed", str(exc)) from None
        log.info("api.spy", by=principal.username, agent=msg.agent, mode=msg.type)

    def _recording(self, agent_id: str, pause: bool) -> None:
        recorder = self.core.recording
        acd = self._acd()
        view = acd.acd.agent_view(agent_id)
        if recorder is None or view is None or view.call is None:
            raise ApiError(409, "no_recording", "there is no call being recorded")
        if not recorder.pause(view.call, pause):
            raise ApiError(409, "no_recording", "the recording is not running or already so")
