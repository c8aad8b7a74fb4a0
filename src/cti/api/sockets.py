"""What both websockets share: the Origin check (a page of another site may not open
them), one connection with sends that have a deadline (a client that does not read is
closed with 4008 `slow_consumer`, and cut if it cannot even take the close), client
messages parsed without ever raising, and ending a pump task without leaving it behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from cti.api.context import ApiError, parse_json, validation_fields
from cti.bus import BusEvent, Subscription
from cti.eager import start_eagerly

log = structlog.get_logger(__name__)
T = TypeVar("T")

SEND_TIMEOUT_S = 5.0  # a frame the client has not taken in this long: it is not reading
CLOSE_GRACE_S = 2.0  # for the close handshake before the connection is cut
SLOW_CONSUMER = 4008
REPLACED = 4001
REVOKED = 4003
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def check_origin(request: web.Request, allowed: list[str]) -> None:
    """Browsers send `Origin` with a websocket handshake: only the server's own origin
    and those in `http.allowed_origins` may connect (403 `forbidden_origin`). Clients
    that send no Origin (not a browser) are not affected."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    shown = origin.lower().rstrip("/")
    if shown in allowed:
        return
    try:
        parts = urlsplit(shown)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme in _DEFAULT_PORTS:
        default = _DEFAULT_PORTS[parts.scheme]
        host = request.host.lower()
        if parts.netloc.removesuffix(default) == host.removesuffix(default):
            return
    raise ApiError(403, "forbidden_origin", f"pages from {origin[:100]!r} may not connect")


@dataclass(eq=False)
class Conn:
    """One websocket: who opened it (with which token) and sends that cannot hang.

    aiohttp's drain must not be cancelled (its waiter is shared: once cancelled, every
    later send on the socket fails), so a send or a close starts at once (`eager`: the
    frame is on the socket before the caller goes on, unless the socket's buffer is
    full) and what is left of it runs as a task of this connection, waited for with a
    deadline; past it the connection is cut, which ends the task. `settle` awaits what
    is left when the connection ends."""

    ws: web.WebSocketResponse
    request: web.Request
    username: str
    token_hash: str
    send_timeout_s: float = SEND_TIMEOUT_S
    close_grace_s: float = CLOSE_GRACE_S

    def __post_init__(self) -> None:
        # Kept: aiohttp lets go of it when closing, before its buffer is flushed.
        self.transport = self.request.transport
        self._tasks: set[asyncio.Future[Any]] = set()

    async def send(self, frame: dict[str, Any]) -> bool:
        """Send one frame; False if the socket is closed or was just closed as a slow
        consumer (the frame could not be handed over within `send_timeout_s`)."""
        if self.ws.closed:
            return False
        done = await self._within(self.ws.send_json(frame), self.send_timeout_s)
        if done is None:
            log.warning("api.ws_slow_consumer", user=self.username, waited_s=self.send_timeout_s)
            await self.close(SLOW_CONSUMER, "slow_consumer")
            return False
        return done

    async def close(self, code: int, reason: str) -> None:
        """The close handshake, within `close_grace_s`; a client that cannot take even
        that (it does not read: frames still wait to be sent) is cut off."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.close_grace_s
        closing = self.ws.close(code=code, message=reason.encode())
        done = await self._within(closing, self.close_grace_s)
        transport = self.transport
        if transport is None:
            return
        # aiohttp may end its close at once, closing the transport with frames still in
        # its buffer (the close frame last): they go out as the client reads, within
        # what is left of the grace; cutting now would lose the close frame.
        try:
            while done is not None and transport.get_write_buffer_size() > 0:
                if loop.time() >= deadline:
                    break
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:  # the connection is being ended: cut, not left open
            transport.abort()
            raise
        if done is None or transport.get_write_buffer_size() > 0:
            transport.abort()

    async def settle(self, wait_s: float = 1.0) -> None:
        """The connection has ended: await its sends and closes (cut, they end at once)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=wait_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def _within(self, action: Coroutine[Any, Any, Any], timeout: float) -> bool | None:
        """True if `action` succeeded in time, False if it failed (the socket is going),
        None if it is still running (it goes on until the connection is cut)."""
        task = start_eagerly(action)  # the frame is written now, not a loop turn later
        self._tasks.add(task)
        task.add_done_callback(self._settled)
        if task.done():
            return not task.cancelled() and task.exception() is None
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            return None
        return not task.cancelled() and task.exception() is None

    def _settled(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("api.ws_send_failed", error=repr(task.exception()))


class Outgoing:
    """A connection's events, sent in order, each as soon as it can be: from `publish`
    itself (`Subscription.now`) when nothing of this connection is queued or being sent
    and the frame can be made at once (`frame_now`); else by the pump, after what was
    before it (`send`). A send that fails (the socket is going) stops both.

    Only the frame's write runs from `publish` (`start_eagerly`): it needs no task.
    Making a frame that waits (a screen-pop's history still being read) is left to the
    pump, a task, where timeouts work."""

    def __init__(
        self,
        frame_now: Callable[[BusEvent], dict[str, Any] | None],
        write: Callable[[dict[str, Any]], Coroutine[Any, Any, bool]],
        send: Callable[[BusEvent], Coroutine[Any, Any, bool]],
    ) -> None:
        self._frame_now, self._write, self._send = frame_now, write, send
        self._last: asyncio.Future[bool] | None = None  # a write started by `now`
        self._pumping = False  # the pump is sending one
        self.failed = False

    def now(self, event: BusEvent) -> bool:
        if self.failed or self._pumping or (self._last is not None and not self._last.done()):
            return False
        frame = self._frame_now(event)
        if frame is None:
            return False
        self._last = start_eagerly(self._write(frame))
        if self._last.done():  # as almost always: known now, not a loop turn later
            self._ended(self._last)
        else:
            self._last.add_done_callback(self._ended)
        return True

    def _ended(self, sent: asyncio.Future[bool]) -> None:
        if sent.cancelled():
            self.failed = True
        elif (error := sent.exception()) is not None:
            self.failed = True
            log.error("api.ws_send_event_failed", error=repr(error))
        elif not sent.result():
            self.failed = True

    async def pump(self, conn: Conn, sub: Subscription) -> None:
        """What `now` could not take: until the subscription ends or a send fails; a
        client the bus cut off for being too far behind is closed (4008)."""
        while not self.failed:
            if self._last is not None and not self._last.done():
                await asyncio.wait({self._last})
                continue
            event = await sub.get()  # queued until taken here, so `now` waits for it
            if event is None:
                if sub.closed != "closed":  # cut off by the bus: too far behind
                    await conn.close(SLOW_CONSUMER, sub.closed or "slow_consumer")
                return
            self._pumping = True
            try:
                self.failed = not await self._send(event)
            finally:
                self._pumping = False


def parse_message(adapter: TypeAdapter[T], text: str) -> T | dict[str, Any]:
    """A client's message, or the `error` frame (`bad_message`) to answer it with: not
    JSON, nested too deep, NUL in a string, or not one of the messages."""
    try:
        raw = parse_json(text)
    except ApiError as exc:
        return error_frame(None, "bad_message", exc.message, exc.fields)
    request_id = raw.get("id") if isinstance(raw, dict) else None
    if not isinstance(request_id, str):
        request_id = None
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        return error_frame(
            request_id and request_id[:64],
            "bad_message",
            "the message is not valid",
            validation_fields(exc),
        )


def error_frame(
    request_id: str | None, code: str, message: str, fields: Any = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "id": request_id, "code": code, "message": message}
    if fields is not None:
        frame["fields"] = fields
    return frame


async def finish(task: asyncio.Task[None], wait_s: float = 1.0) -> None:
    """Let a connection's pump end (its subscription is closed), else cancel it; either
    way it is awaited, so no task is left pending."""
    try:
        done, _ = await asyncio.wait({task}, timeout=wait_s)
    except asyncio.CancelledError:  # the handler itself is cancelled: take the pump along
        task.cancel()
        raise
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    elif not task.cancelled() and task.exception() is not None:
        log.error("api.ws_pump_failed", error=repr(task.exception()))
