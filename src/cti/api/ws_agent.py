"""The agent websocket (`/ws/agent`): one desktop per agent, its bus events (screen-pop
on offer, state changes, broadcasts) with sequence numbers and resume, and what the
desktop asks for (state, answer, hold, transfer, hang up, recording pause, wrap-up).

Every message gets an `ack` or an `error` frame, whatever it holds; the socket is
closed only by the client, by a newer desktop (4001), for not reading (4008) or when
its token is revoked (4003). Each screen-pop is written to the audit log, off the call
path."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from cti.ami.errors import AmiError
from cti.api import control
from cti.api.audit import AuditTrail
from cti.api.context import TOKEN_HASH, ApiError, Context, need
from cti.api.models import AGENT_MESSAGE, WsResume, WsWrapUp
from cti.api.pop_history import HistoryAhead
from cti.api.sockets import (
    CLOSE_GRACE_S,
    REPLACED,
    REVOKED,
    SEND_TIMEOUT_S,
    SLOW_CONSUMER,
    Conn,
    check_origin,
    error_frame,
    finish,
    parse_message,
)
from cti.api.views import event_frame
from cti.bus import BusEvent, Subscription
from cti.queues.errors import AcdError
from cti.store import cases
from cti.store.errors import StoreError
from cti.store.outbox import Record
from cti.store.phone import try_normalise

log = structlog.get_logger(__name__)


class AgentDesks:
    """The connected agent desktops, and each agent's last answered call (for wrap-up)."""

    def __init__(self, ctx: Context, audit: AuditTrail) -> None:
        self.ctx = ctx
        self.audit = audit
        self.sockets: dict[str, Conn] = {}
        self.last_call: dict[str, str] = {}
        self.send_timeout_s, self.close_grace_s = SEND_TIMEOUT_S, CLOSE_GRACE_S
        self._watch = ctx.core.bus.subscribe(lambda e: e.type == "acd.CallAnswered")
        self._watch_task: asyncio.Task[None] | None = None
        self.history = HistoryAhead(ctx)
        # `cti bench api` only: per screen-pop, its call and when (perf_counter_ns) its
        # sender took the offer, had the caller's history, and had written the frame.
        self.pop_stamps: deque[tuple[str, int, int, int]] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws/agent", self.handle)]

    async def start(self) -> None:
        self._watch_task = asyncio.create_task(self._follow_answers(), name="api-answers")
        await self.history.start()

    async def close(self) -> None:
        self.ctx.core.bus.unsubscribe(self._watch)
        if self._watch_task is not None:
            await self._watch_task
        await self.history.close()
        for conn in list(self.sockets.values()):
            await conn.close(1001, "server shutting down")

    async def revoked(self, username: str, token_hash: str | None = None) -> None:
        """Close the desktops opened with a revoked token (all of `username`'s if None)."""
        for conn in list(self.sockets.values()):
            if conn.username == username and token_hash in (None, conn.token_hash):
                await conn.close(REVOKED, "token revoked")

    async def _follow_answers(self) -> None:
        while (event := await self._watch.get()) is not None:
            self.last_call[event.data["agent"]] = event.data["call"]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        who = need(request, "agent")
        agent_id = who.agent_id
        assert agent_id is not None
        check_origin(request, self.ctx.core.settings.http.allowed_origins)
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        conn = Conn(
            ws, request, who.username, request[TOKEN_HASH], self.send_timeout_s, self.close_grace_s
        )
        old = self.sockets.get(agent_id)
        if old is not None:  # one desktop per agent: the newest wins
            await old.close(REPLACED, "replaced by a new connection")
        self.sockets[agent_id] = conn
        bus = self.ctx.core.bus

        def mine(event: BusEvent) -> bool:
            if event.type == "supervisor.broadcast":
                targets = event.data.get("agents")
                return targets is None or agent_id in targets
            return event.data.get("agent") == agent_id

        sub = bus.subscribe(mine, agent=agent_id)
        pump = asyncio.create_task(self._pump(conn, sub), name=f"ws-agent {agent_id}")
        try:
            if await conn.send({"type": "hello", "agent": agent_id, "seq": bus.seq}):
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT:
                        await self._message(conn, agent_id, msg.data, mine)
                    elif msg.type == WSMsgType.BINARY:
                        await conn.send(error_frame(None, "bad_message", "send JSON text frames"))
        finally:
            bus.unsubscribe(sub)  # the pump sees its subscription end and returns
            await finish(pump)
            await conn.settle()
            if self.sockets.get(agent_id) is conn:
                del self.sockets[agent_id]
        return ws

    async def _pump(self, conn: Conn, sub: Subscription) -> None:
        while (event := await sub.get()) is not None:
            if not await self._send_event(conn, event):
                return
        if sub.closed != "closed":  # cut off by the bus: too far behind
            await conn.close(SLOW_CONSUMER, sub.closed or "slow_consumer")

    async def _send_event(self, conn: Conn, event: BusEvent) -> bool:
        if event.type == "supervisor.broadcast":
            return await conn.send({"type": "broadcast", "seq": event.seq, **event.data})
        if event.type == "acd.CallOffered":
            began = time.perf_counter_ns()
            pop = await self._pop(event, conn.username)
            looked_up = time.perf_counter_ns()
            sent = await conn.send({"type": "screen_pop", "seq": event.seq, **pop})
            if self.pop_stamps is not None:
                self.pop_stamps.append((pop["call"], began, looked_up, time.perf_counter_ns()))
            return sent
        return await conn.send(event_frame(event))

    async def _pop(self, event: BusEvent, username: str) -> dict[str, Any]:
        """What the agent sees when a call is offered (audited: the number and history
        are personal data shown to this user)."""
        call = event.data["call"]
        interaction = self.ctx.core.tracker.interactions.get(call)
        raw = interaction.caller_num if interaction else ""
        number = try_normalise(raw) or raw  # as stored: +359..., not the trunk's 0888...
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
        if number:
            history = await self.history.take(call, number)  # read when the call began
            if history is not None:
                pop.update(history)
            self.audit.record(username, "screen_pop", number, call=call)
        return pop

    async def _message(self, conn: Conn, agent_id: str, text: str, mine: Any) -> None:
        """One client message, always answered: `ack`, or `error` with a code (an
        unexpected failure too: `internal_error`, logged)."""
        msg = parse_message(AGENT_MESSAGE, text)
        if isinstance(msg, dict):
            await conn.send(msg)
            return
        try:
            reply = await self._act(conn, agent_id, msg, mine)
        except (ApiError, AcdError, StoreError) as exc:
            reply = error_frame(msg.id, exc.code, exc.message)
        except AmiError as exc:  # Asterisk refused (the channel may be gone already)
            reply = error_frame(msg.id, "pbx_refused", str(exc))
        except Exception:
            log.exception("api.ws_message_failed", agent=agent_id, type=msg.type)
            reply = error_frame(msg.id, "internal_error", "the server failed on this message")
        if reply is not None:
            await conn.send(reply)

    async def _act(self, conn: Conn, agent_id: str, msg: Any, mine: Any) -> dict[str, Any] | None:
        """Do what the message asks; the frame to answer with (None: already answered)."""
        core = self.ctx.core
        if isinstance(msg, WsResume):
            missed = core.bus.since(msg.since, mine)
            if missed is None:
                return error_frame(msg.id, "resume_gap", "events since then are gone; reload state")
            for event in missed:
                if not await self._send_event(conn, event):
                    return None
        elif msg.type == "ping":
            pass
        elif msg.type in ("pause_recording", "resume_recording"):
            control.pause_recording(core, self.ctx.acd(), agent_id, msg.type == "pause_recording")
        elif msg.type == "hangup":
            await control.hangup(core, self.ctx.acd(), agent_id)
        elif msg.type == "answer":
            await control.answer(core, self.ctx.acd(), agent_id)
        elif msg.type == "transfer":
            acd = self.ctx.acd()
            await control.transfer(acd, control.current_call(acd, agent_id), msg)
        elif msg.type in ("hold", "unhold"):
            acd = self.ctx.acd()
            call = control.current_call(acd, agent_id)
            await (acd.hold(call) if msg.type == "hold" else acd.resume(call))
        elif isinstance(msg, WsWrapUp):
            return {"type": "ack", "id": msg.id, **await self._wrap_up(agent_id, msg)}
        elif msg.type == "extend_wrap_up":
            acd = self.ctx.acd()
            acd.apply(acd.acd.extend_wrap_up(agent_id, msg.seconds, acd.now()))
        else:
            control.change_state(self.ctx.acd(), agent_id, msg.type, getattr(msg, "reason", None))
        return {"type": "ack", "id": msg.id}

    async def _wrap_up(self, agent_id: str, msg: WsWrapUp) -> dict[str, Any]:
        """Disposition and case for the agent's last call; then ready (unless told not)."""
        acd = self.ctx.acd()
        view = acd.acd.agent_view(agent_id)
        call = self.last_call.get(agent_id)
        if view is None or str(view.state) != "wrap_up" or call is None:
            raise ApiError(409, "not_in_wrap_up", "there is no call to wrap up")
        store = self.ctx.core.store
        if store is None:
            raise ApiError(503, "no_database", "the CTI runs without a database")
        extra: dict[str, Any] = {}
        if msg.case is not None:
            data = msg.case.model_copy(update={"interaction_id": call})
            async with self.ctx.db() as conn:
                case = await cases.create_case(conn, data, agent_id)
            extra = {"case_id": case.id, "case_number": case.number}
        elif msg.case_id is not None:
            async with self.ctx.db() as conn:
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
