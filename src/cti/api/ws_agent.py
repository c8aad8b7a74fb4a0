"""The agent websocket (`/ws/agent`): one desktop per agent, its bus events (screen-pop
on offer, state changes, broadcasts) with sequence numbers and resume, and what the
desktop asks for (state, answer, hold, transfer, hang up, recording pause, wrap-up).

Every message gets an `ack` or an `error` frame, whatever it holds; the socket is
closed only by the client, by a newer desktop (4001), for not reading (4008) or when
its token is revoked (4003). Each screen-pop is written to the audit log, off the call
path."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from cti.ami.errors import AmiError
from cti.api import control
from cti.api.audit import AuditTrail
from cti.api.context import TOKEN_HASH, ApiError, Context, need
from cti.api.knowledge import Suggestions
from cti.api.models import AGENT_MESSAGE, WsResume, WsWrapUp
from cti.api.pop_history import HistoryAhead
from cti.api.sockets import (
    CLOSE_GRACE_S,
    REPLACED,
    REVOKED,
    SEND_TIMEOUT_S,
    Conn,
    Outgoing,
    check_origin,
    error_frame,
    finish,
    parse_message,
)
from cti.api.views import event_frame
from cti.bus import BusEvent
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
        self.last_pop: dict[str, dict[str, Any]] = {}  # per agent: for a desktop opened later
        self.send_timeout_s, self.close_grace_s = SEND_TIMEOUT_S, CLOSE_GRACE_S
        self._watch = ctx.core.bus.subscribe(lambda e: e.type == "acd.CallAnswered")
        self._watch_task: asyncio.Task[None] | None = None
        self.history = HistoryAhead(ctx)
        self.knowledge = Suggestions(ctx)  # the pop's articles and call script (issue 22)
        # `cti bench api` only: per screen-pop, its call and when (perf_counter_ns) its
        # sender took the offer, had the caller's history, and had written the frame.
        self.pop_stamps: deque[tuple[str, int, int, int]] | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/ws/agent", self.handle)]

    async def start(self) -> None:
        self._watch_task = asyncio.create_task(self._follow_answers(), name="api-answers")
        await self.history.start()
        await self.knowledge.start()

    async def close(self) -> None:
        self.ctx.core.bus.unsubscribe(self._watch)
        if self._watch_task is not None:
            await self._watch_task
        await self.history.close()
        await self.knowledge.close()
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
        out = Outgoing(
            lambda event: self._frame_now(conn, event),
            lambda frame: self._write(conn, frame),
            lambda event: self._send_event(conn, event),
        )
        pump: asyncio.Task[None] | None = None
        try:
            if await conn.send(
                {"type": "hello", "agent": agent_id, "seq": bus.seq, "stream": bus.stream}
            ):
                sub.now = out.now  # after the hello: events go out from their publish on
                pump = asyncio.create_task(out.pump(conn, sub), name=f"ws-agent {agent_id}")
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT:
                        await self._message(conn, agent_id, msg.data, mine)
                    elif msg.type == WSMsgType.BINARY:
                        await conn.send(error_frame(None, "bad_message", "send JSON text frames"))
        finally:
            bus.unsubscribe(sub)  # the pump sees its subscription end and returns
            if pump is not None:
                await finish(pump, conn.close_grace_s + 1.0)  # its close may be under way
            await conn.settle()
            if self.sockets.get(agent_id) is conn:
                del self.sockets[agent_id]
        return ws

    def _frame_now(self, conn: Conn, event: BusEvent) -> dict[str, Any] | None:
        """The frame for `event` if it can be made without waiting (a screen-pop whose
        history was read ahead, any other event); None: `_send_event` makes it."""
        if event.type == "supervisor.broadcast":
            return {"type": "broadcast", "seq": event.seq, **event.data}
        if event.type != "acd.CallOffered":
            return event_frame(event)
        began = time.perf_counter_ns()
        pop = self._pop_base(event)
        if pop["number"]:
            ready, history = self.history.take_ready(pop["call"], pop["number"])
            if not ready:
                return None
            self._pop_history(pop, history, conn.username)
        return self._popped(pop, event, began)

    async def _send_event(self, conn: Conn, event: BusEvent) -> bool:
        frame = self._frame_now(conn, event)
        if frame is None:  # a screen-pop whose history is still to be read
            began = time.perf_counter_ns()
            pop = self._pop_base(event)
            history = await self.history.take(pop["call"], pop["number"])
            self._pop_history(pop, history, conn.username)
            frame = self._popped(pop, event, began)
        return await self._write(conn, frame)

    async def _write(self, conn: Conn, frame: dict[str, Any]) -> bool:
        stamps = frame.pop("_stamps", None)
        sent = await conn.send(frame)
        if self.pop_stamps is not None and stamps is not None:
            self.pop_stamps.append((frame["call"], *stamps, time.perf_counter_ns()))
        return sent

    def _pop_base(self, event: BusEvent) -> dict[str, Any]:
        """What the agent sees when a call is offered, before the caller's history."""
        call = event.data["call"]
        interaction = self.ctx.core.tracker.interactions.get(call)
        own = self._own_call(call) if interaction is None else None
        raw = interaction.caller_num if interaction else (own or "")
        number = try_normalise(raw) or raw  # as stored: +359..., not the trunk's 0888...
        variables = interaction.cti_vars if interaction else {}
        path = [p for p in variables.get("CTI_IVR_PATH", "").split(",") if p]
        return {
            "call": call,
            "outbound": own is not None,
            "queue": event.data.get("queue"),
            "number": number,
            "waited_s": _wall(self.ctx.core.acd, event.data.get("waited_s")),
            "topic": variables.get("CTI_TOPIC"),
            "ivr_path": path,
            "caller": None,
            "interactions": [],
            "open_cases": [],
            "knowledge": self.knowledge.for_call(variables, path),
        }

    def _own_call(self, call: str) -> str | None:
        """The number an agent's own call (click-to-call) dials; None for another call."""
        acd = self.ctx.core.acd
        view = acd.acd.call_view(call) if acd is not None else None
        return view.callback_number if view is not None and view.outbound else None

    def _pop_history(self, pop: dict[str, Any], history: Any, username: str) -> None:
        """The caller's history into the pop (audited: the number and history are
        personal data shown to this user)."""
        if history is not None:
            pop.update(history)
        self.audit.record(username, "screen_pop", pop["number"], call=pop["call"])

    async def _current_pop(self, agent_id: str, username: str) -> dict[str, Any] | None:
        """The screen-pop of the call the agent has now (offered, on it, or wrapping it
        up), for a desktop opened during it; None if there is none (audited as a pop)."""
        acd = self.ctx.core.acd
        view = acd.acd.agent_view(agent_id) if acd is not None else None
        if view is None or str(view.state) not in ("reserved", "on_call", "wrap_up"):
            return None
        call = view.call or self.last_call.get(agent_id)
        if call is None:
            return None
        pop = self.last_pop.get(agent_id)
        if pop is None or pop["call"] != str(call):  # never popped here (a CTI restart)
            assert acd is not None
            live = acd.acd.call_view(call)
            data = {"call": call, "agent": agent_id, "queue": live.queue if live else None}
            pop = self._pop_base(BusEvent(0, 0.0, "acd.CallOffered", data))
        # The call as offered; the history as it is now (a name given during the call).
        pop = {**pop, "caller": None, "interactions": [], "open_cases": []}
        if pop["number"]:
            self._pop_history(pop, await self.history.take(call, pop["number"]), username)
        self.last_pop[agent_id] = pop
        return pop

    def _popped(self, pop: dict[str, Any], event: BusEvent, began: int) -> dict[str, Any]:
        self.last_pop[event.data["agent"]] = pop
        frame = {"type": "screen_pop", "seq": event.seq, **pop}
        if self.pop_stamps is not None:  # `cti bench api`: taken off before the frame goes
            frame["_stamps"] = (began, time.perf_counter_ns())
        return frame

    async def _message(self, conn: Conn, agent_id: str, text: str, mine: Any) -> None:
        """One client message, always answered: `ack`, or `error` with a code (an
        unexpected failure too: `internal_error`, logged)."""
        msg = parse_message(AGENT_MESSAGE, text)
        if isinstance(msg, dict):
            await conn.send(msg)
            return
        try:
            self.ctx.check_leading()  # an open socket too, not only new requests
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
            if missed is None or msg.stream not in (None, core.bus.stream):
                return error_frame(msg.id, "resume_gap", "events since then are gone; reload state")
            for event in missed:
                if not await self._send_event(conn, event):
                    return None
        elif msg.type == "ping":
            pass
        elif msg.type == "current_call":
            return {
                "type": "ack",
                "id": msg.id,
                "pop": await self._current_pop(agent_id, conn.username),
            }
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
        elif msg.type == "extend_wrap_up":  # wall seconds; the ACD's clock may run faster
            acd = self.ctx.acd()
            more = msg.seconds / acd.time_scale
            acd.run(lambda: acd.acd.extend_wrap_up(agent_id, more, acd.now()))
        elif msg.type == "cancel_pending":
            acd = self.ctx.acd()
            acd.run(lambda: acd.acd.cancel_pending(agent_id, acd.now()))
        else:
            control.change_state(self.ctx.acd(), agent_id, msg.type, getattr(msg, "reason", None))
        return {"type": "ack", "id": msg.id}

    async def _wrap_up(self, agent_id: str, msg: WsWrapUp) -> dict[str, Any]:
        """Disposition and case for the agent's last call; then the end of the wrap-up
        (unless told not): the break asked for during the call, else ready."""
        acd = self.ctx.acd()
        view = acd.acd.agent_view(agent_id)
        call = self.last_call.get(agent_id)
        if view is None or str(view.state) != "wrap_up" or call is None:
            raise ApiError(409, "not_in_wrap_up", "there is no call to wrap up")
        if msg.case is not None and not msg.case.description.strip():
            raise ApiError(422, "description_required", "a new case needs a description")
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
            # The wrap-up time may have run out while the case was filed: filed all the same.
            with contextlib.suppress(AcdError):
                acd.run(lambda: acd.acd.finish_wrap_up(agent_id, acd.now()))
        return extra


def _wall(acd: Any, seconds: float | None) -> float | None:
    """The ACD's seconds as the person lives them (the demo's clock may run faster)."""
    return None if seconds is None or acd is None else seconds * acd.time_scale
