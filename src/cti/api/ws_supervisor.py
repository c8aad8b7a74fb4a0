"""The supervisor websocket (`/ws/supervisor`): a snapshot of queues, agents and calls,
then every ACD event with resume; and what a supervisor may do from the wallboard
(force an agent's state, listen/whisper/barge, broadcast to agents)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiohttp import WSMsgType, web
from pydantic import ValidationError

from cti.api import control
from cti.api.auth import Principal
from cti.api.context import ApiError, Context, need, validation_fields
from cti.api.models import SUPERVISOR_MESSAGE, WsBroadcast, WsForceState, WsResume, WsSpy
from cti.api.views import event_frame, queue_items
from cti.bus import BusEvent, Subscription
from cti.queues.errors import AcdError
from cti.store.errors import StoreError

log = structlog.get_logger(__name__)


def wanted(event: BusEvent) -> bool:
    return event.type.startswith("acd.")


class SupervisorDesks:
    """The connected wallboards."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.sockets: set[web.WebSocketResponse] = set()

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws/supervisor", self.handle)]

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"server shutting down")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        who = need(request, "supervisor", "admin")
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        self.sockets.add(ws)
        bus = self.ctx.core.bus
        sub = bus.subscribe(wanted)
        pump = asyncio.create_task(self._pump(ws, sub))
        try:
            await ws.send_json({"type": "snapshot", "seq": bus.seq, **self.snapshot()})
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._message(ws, who, frame.data)
        finally:
            pump.cancel()
            bus.unsubscribe(sub)
            self.sockets.discard(ws)
        return ws

    def snapshot(self) -> dict[str, Any]:
        acd = self.ctx.core.acd
        if acd is None:
            return {"queues": [], "agents": [], "calls": []}
        now = acd.now()
        return {
            "queues": queue_items(acd),
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

    async def _pump(self, ws: web.WebSocketResponse, sub: Subscription) -> None:
        while (event := await sub.get()) is not None:
            await ws.send_json(event_frame(event))
        await ws.close(code=4008, message=(sub.closed or "closed").encode())

    async def _message(self, ws: web.WebSocketResponse, who: Principal, text: str) -> None:
        try:
            msg = SUPERVISOR_MESSAGE.validate_json(text)
        except ValidationError as exc:
            await ws.send_json(
                {
                    "type": "error",
                    "id": None,
                    "code": "bad_message",
                    "message": "the message is not valid",
                    "fields": validation_fields(exc),
                }
            )
            return
        core = self.ctx.core
        try:
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
                    await ws.send_json(event_frame(event))
        except (ApiError, AcdError, StoreError) as exc:
            await ws.send_json(
                {"type": "error", "id": msg.id, "code": exc.code, "message": exc.message}
            )
            return
        await ws.send_json({"type": "ack", "id": msg.id})
