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
from cti.api.models import (
    SUPERVISOR_MESSAGE,
    WsBroadcast,
    WsForceState,
    WsResume,
    WsSpy,
    WsSpyStop,
)
from cti.api.sockets import (
    CLOSE_GRACE_S,
    REVOKED,
    SEND_TIMEOUT_S,
    Conn,
    Outgoing,
    check_origin,
    error_frame,
    finish,
    parse_message,
)
from cti.api.spies import EVENT as SPY_EVENT
from cti.api.spies import Spies
from cti.api.views import asterisk_members, event_frame, queue_items
from cti.bus import BusEvent
from cti.queues.errors import AcdError
from cti.queues.service import AcdService
from cti.store.errors import StoreError

log = structlog.get_logger(__name__)


MAX_PER_USER = 20  # wallboards one user may have open (each holds a bus buffer)


def wanted(event: BusEvent) -> bool:
    return event.type.startswith("acd.") or event.type == SPY_EVENT


class SupervisorDesks:
    """The connected wallboards."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.sockets: set[Conn] = set()
        self.spies = Spies(ctx.core)
        self.send_timeout_s, self.close_grace_s = SEND_TIMEOUT_S, CLOSE_GRACE_S

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws/supervisor", self.handle)]

    async def close(self) -> None:
        await self.spies.close()
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
        out = Outgoing(event_frame, conn.send, lambda event: conn.send(event_frame(event)))
        pump: asyncio.Task[None] | None = None
        try:
            if await conn.send(
                {"type": "snapshot", "seq": bus.seq, "stream": bus.stream, **self.snapshot()}
            ):
                sub.now = out.now  # after the snapshot: events go out from their publish on
                pump = asyncio.create_task(out.pump(conn, sub), name="ws-supervisor")
                async for frame in ws:
                    if frame.type == WSMsgType.TEXT:
                        await self._message(conn, who, frame.data)
                    elif frame.type == WSMsgType.BINARY:
                        await conn.send(error_frame(None, "bad_message", "send JSON text frames"))
        finally:
            bus.unsubscribe(sub)  # the pump sees its subscription end and returns
            if pump is not None:
                await finish(pump, conn.close_grace_s + 1.0)  # its close may be under way
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
                "spies": self.spies.items(),
            }
        now = acd.now()
        return {
            "queues": queue_items(self.ctx.core),
            "asterisk_members": members,
            "spies": self.spies.items(),
            "agents": [
                {
                    "id": a.id,
                    "name": _name(acd, a.id),
                    "state": str(a.state),
                    "reason": a.reason,
                    "in_state_s": round(now - a.since, 1),
                    "call": a.call,
                    # a state forced or asked for during a call, applied after it
                    "pending": None
                    if a.pending is None
                    else {"state": a.pending, "reason": a.pending_reason},
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

    async def _message(self, conn: Conn, who: Principal, text: str) -> None:
        """One client message, always answered: `ack`, or `error` with a code."""
        msg = parse_message(SUPERVISOR_MESSAGE, text)
        if isinstance(msg, dict):
            await conn.send(msg)
            return
        try:
            self.ctx.check_leading()  # an open socket too, not only new requests
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
            await self.spies.start(self.ctx.acd(), who, msg)
        elif isinstance(msg, WsSpyStop):
            await self.spies.stop(msg.agent)
        elif isinstance(msg, WsBroadcast):
            core.bus.publish(
                "supervisor.broadcast",
                {"text": msg.text, "by": who.username, "agents": msg.agents},
            )
        elif isinstance(msg, WsResume):
            missed = core.bus.since(msg.since, wanted)
            if missed is None or msg.stream not in (None, core.bus.stream):
                raise ApiError(409, "resume_gap", "events since then are gone; reload")
            for event in missed:
                if not await conn.send(event_frame(event)):
                    return False
        return True


def _name(acd: AcdService, agent_id: str) -> str:
    profile = acd.acd.profile(agent_id)
    return (profile.name if profile is not None else None) or agent_id
