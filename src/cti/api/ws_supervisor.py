"""The supervisor websocket (`/ws/supervisor`): a snapshot of queues, agents and calls,
then every ACD event with resume; and what a supervisor may do from the wallboard
(force an agent's state, listen/whisper/barge, broadcast to agents). Every message gets
an `ack` or an `error` frame; a wallboard that does not read is closed with 4008."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from cti.ami.errors import AmiError
from cti.api import control
from cti.api.auth import Principal
from cti.api.context import TOKEN_HASH, ApiError, Context, need
from cti.api.models import SUPERVISOR_MESSAGE, WsBroadcast, WsForceState, WsResume, WsSpy
from cti.api.sockets import (
    CLOSE_GRACE_S,
    REVOKED,
    SEND_TIMEOUT_S,
    SLOW_CONSUMER,
    Conn,
    check_origin,
    error_frame,
    finish,
    parse_message,
)
from cti.api.views import asterisk_members, event_frame, queue_items
from cti.bus import BusEvent, Subscription
from cti.queues.errors import AcdError
from cti.store.errors import StoreError

log = structlog.get_logger(__name__)


MAX_PER_USER = 20  # wallboards one user may have open (each holds a bus buffer)


def wanted(event: BusEvent) -> bool:
    return event.type.startswith("acd.")


class SupervisorDesks:
    """The connected wallboards."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.sockets: set[Conn] = set()
        self.send_timeout_s, self.close_grace_s = SEND_TIMEOUT_S, CLOSE_GRACE_S

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws/supervisor", self.handle)]

    async def close(self) -> None:
        for conn in list(self.sockets):
            await conn.close(1001, "server shutting down")

    async def revoked(self, username: str, token_hash: str | None = None) -> None:
        """Close the wallboards opened with a revoked token (all of `username`'s if None)."""
        for conn in list(self.sockets):
            if conn.username == username and token_hash in (None, conn.token_hash):
                await conn.close(REVOKED, "token revoked")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        who = need(request, "supervisor", "admin")
        check_origin(request, self.ctx.core.settings.http.allowed_origins)
        if sum(c.username == who.username for c in self.sockets) >= MAX_PER_USER:
            raise ApiError(429, "too_many_connections", f"at most {MAX_PER_USER} wallboards")
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        conn = Conn(
            ws, request, who.username, request[TOKEN_HASH], self.send_timeout_s, self.close_grace_s
        )
        self.sockets.add(conn)
        bus = self.ctx.core.bus
        sub = bus.subscribe(wanted)
        pump = asyncio.create_task(self._pump(conn, sub), name="ws-supervisor")
        try:
            if await conn.send({"type": "snapshot", "seq": bus.seq, **self.snapshot()}):
                async for frame in ws:
                    if frame.type == WSMsgType.TEXT:
                        await self._message(conn, who, frame.data)
                    elif frame.type == WSMsgType.BINARY:
                        await conn.send(error_frame(None, "bad_message", "send JSON text frames"))
        finally:
            bus.unsubscribe(sub)  # the pump sees its subscription end and returns
            await finish(pump)
            await conn.settle()
            self.sockets.discard(conn)
        return ws

    def snapshot(self) -> dict[str, Any]:
        acd = self.ctx.core.acd
        members = asterisk_members(self.ctx.core)
        if acd is None:
            return {
                "queues": queue_items(self.ctx.core),
                "agents": [],
                "calls": [],
                "asterisk_members": members,
            }
        now = acd.now()
        return {
            "queues": queue_items(self.ctx.core),
            "asterisk_members": members,
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

    async def _pump(self, conn: Conn, sub: Subscription) -> None:
        while (event := await sub.get()) is not None:
            if not await conn.send(event_frame(event)):
                return
        if sub.closed != "closed":  # cut off by the bus: too far behind
            await conn.close(SLOW_CONSUMER, sub.closed or "slow_consumer")

    async def _message(self, conn: Conn, who: Principal, text: str) -> None:
        """One client message, always answered: `ack`, or `error` with a code."""
        msg = parse_message(SUPERVISOR_MESSAGE, text)
        if isinstance(msg, dict):
            await conn.send(msg)
            return
        try:
            if not await self._act(conn, who, msg):
                return
            reply = {"type": "ack", "id": msg.id}
        except (ApiError, AcdError, StoreError) as exc:
            reply = error_frame(msg.id, exc.code, exc.message)
        except AmiError as exc:
            reply = error_frame(msg.id, "pbx_refused", str(exc))
        except Exception:
            log.exception("api.ws_message_failed", user=who.username, type=msg.type)
            reply = error_frame(msg.id, "internal_error", "the server failed on this message")
        await conn.send(reply)

    async def _act(self, conn: Conn, who: Principal, msg: Any) -> bool:
        """Do what the message asks; False if the socket went away meanwhile."""
        core = self.ctx.core
        if isinstance(msg, WsForceState):
            control.change_state(self.ctx.acd(), msg.agent, msg.state, msg.reason)
            log.info("api.forced_state", by=who.username, agent=msg.agent, state=msg.state)
        elif isinstance(msg, WsSpy):
            await control.spy(core, self.ctx.acd(), who, msg)
        elif isinstance(msg, WsBroadcast):
            core.bus.publish(
                "supervisor.broadcast",
                {"text": msg.text, "by": who.username, "agents": msg.agents},
            )
        elif isinstance(msg, WsResume):
            missed = core.bus.since(msg.since, wanted)
            if missed is None:
                raise ApiError(409, "resume_gap", "events since then are gone; reload")
            for event in missed:
                if not await conn.send(event_frame(event)):
                    return False
        return True
