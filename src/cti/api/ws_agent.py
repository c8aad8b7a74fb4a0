"""The agent websocket (`/ws/agent`): one desktop per agent, its bus events (screen-pop
on offer, state changes, broadcasts) with sequence numbers and resume, and what the
desktop asks for (state, answer, hold, transfer, hang up, recording pause, wrap-up)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg
import structlog
from aiohttp import WSMsgType, web
from pydantic import ValidationError

from cti.ami.errors import AmiError
from cti.api import control
from cti.api.context import ApiError, Context, need, validation_fields
from cti.api.models import AGENT_MESSAGE, WsResume, WsWrapUp
from cti.api.views import event_frame
from cti.bus import BusEvent, Subscription
from cti.queues.errors import AcdError
from cti.store import cases
from cti.store.callers import screen_pop
from cti.store.errors import StoreError
from cti.store.outbox import Record

log = structlog.get_logger(__name__)


class AgentDesks:
    """The connected agent desktops, and each agent's last answered call (for wrap-up)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.last_call: dict[str, str] = {}
        self._watch = ctx.core.bus.subscribe(lambda e: e.type == "acd.CallAnswered")
        self._watch_task: asyncio.Task[None] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws/agent", self.handle)]

    async def start(self) -> None:
        self._watch_task = asyncio.create_task(self._follow_answers(), name="api-answers")

    async def close(self) -> None:
        self.ctx.core.bus.unsubscribe(self._watch)
        if self._watch_task is not None:
            await self._watch_task
        for ws in list(self.sockets.values()):
            await ws.close(code=1001, message=b"server shutting down")

    async def _follow_answers(self) -> None:
        while (event := await self._watch.get()) is not None:
            self.last_call[event.data["agent"]] = event.data["call"]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        agent_id = need(request, "agent").agent_id
        assert agent_id is not None
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=64 * 1024)
        await ws.prepare(request)
        old = self.sockets.get(agent_id)
        if old is not None:  # one desktop per agent: the newest wins
            await old.close(code=4001, message=b"replaced by a new connection")
        self.sockets[agent_id] = ws
        bus = self.ctx.core.bus

        def mine(event: BusEvent) -> bool:
            if event.type == "supervisor.broadcast":
                targets = event.data.get("agents")
                return targets is None or agent_id in targets
            return event.data.get("agent") == agent_id

        sub = bus.subscribe(mine)
        pump = asyncio.create_task(self._pump(ws, sub))
        try:
            await ws.send_json({"type": "hello", "agent": agent_id, "seq": bus.seq})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._message(ws, agent_id, msg.data, mine)
        finally:
            pump.cancel()
            bus.unsubscribe(sub)
            if self.sockets.get(agent_id) is ws:
                del self.sockets[agent_id]
        return ws

    async def _pump(self, ws: web.WebSocketResponse, sub: Subscription) -> None:
        while True:
            event = await sub.get()
            if event is None:
                await ws.close(code=4008, message=(sub.closed or "closed").encode())
                return
            await self._send_event(ws, event)

    async def _send_event(self, ws: web.WebSocketResponse, event: BusEvent) -> None:
        if event.type == "supervisor.broadcast":
            await ws.send_json({"type": "broadcast", "seq": event.seq, **event.data})
        elif event.type == "acd.CallOffered":
            await ws.send_json({"type": "screen_pop", "seq": event.seq, **await self._pop(event)})
        else:
            await ws.send_json(event_frame(event))

    async def _pop(self, event: BusEvent) -> dict[str, Any]:
        """What the agent sees when a call is offered."""
        call = event.data["call"]
        interaction = self.ctx.core.tracker.interactions.get(call)
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
        pool = self.ctx.pool
        if pool is not None and number:
            try:
                async with pool.acquire(timeout=2) as conn:
                    found = await screen_pop(conn, number)
                history = {"caller", "interactions", "open_cases"}
                pop.update(json.loads(found.model_dump_json(include=history)))
            except StoreError:
                pass  # not a phone number (anonymous): the pop shows what the call knows
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                log.warning("api.screen_pop_without_history", error=str(exc))
        return pop

    async def _message(
        self, ws: web.WebSocketResponse, agent_id: str, text: str, mine: Any
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
                    "fields": validation_fields(exc),
                }
            )
            return
        core = self.ctx.core
        try:
            if isinstance(msg, WsResume):
                missed = core.bus.since(msg.since, mine)
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
                control.pause_recording(
                    core, self.ctx.acd(), agent_id, msg.type == "pause_recording"
                )
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
                extra = await self._wrap_up(agent_id, msg)
                await ws.send_json({"type": "ack", "id": msg.id, **extra})
                return
            elif msg.type == "extend_wrap_up":
                acd = self.ctx.acd()
                acd.apply(acd.acd.extend_wrap_up(agent_id, msg.seconds, acd.now()))
            else:
                control.change_state(
                    self.ctx.acd(), agent_id, msg.type, getattr(msg, "reason", None)
                )
        except (ApiError, AcdError, StoreError) as exc:
            await ws.send_json(
                {"type": "error", "id": msg.id, "code": exc.code, "message": exc.message}
            )
            return
        except AmiError as exc:  # Asterisk refused (the channel may be gone already)
            await ws.send_json(
                {"type": "error", "id": msg.id, "code": "pbx_refused", "message": str(exc)}
            )
            return
        await ws.send_json({"type": "ack", "id": msg.id})

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
