"""AMI client: panoramisk's Manager/Action/Message behind a wrapper that is safe to run
for months against a real Asterisk.

What panoramisk 1.4 does that we must not (measured):
- it decodes each TCP read on its own with errors='ignore': a Cyrillic or Hungarian
  caller name split across reads loses characters -> we decode incrementally;
- on reconnect it re-sends actions that were in flight (an Originate could ring a
  citizen twice) -> we fail them with AmiConnectionLost and never re-send;
- its pinger never notices a silent peer -> a watchdog drops the link when a Ping
  goes unanswered for one interval, so a dead link is found within two intervals;
- it reconnects at a fixed delay forever -> capped exponential backoff with jitter;
  `start(wait=True)` uses the same backoff when Asterisk is not up yet at our start.
We keep its Action (ids, list/async completion rules), Message and Manager.send_action.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import structlog
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from cti.ami.causes import HangupCauses
from cti.ami.errors import (
    AmiActionError,
    AmiConnectError,
    AmiConnectionLost,
    AmiError,
    AmiFenced,
    AmiLoginError,
    AmiTimeout,
    OriginateFailed,
)
from cti.ami.models import ORIGINATE_REASONS
from cti.ami.wire import AmiFramer, FramingError, RawMessage, check_action
from cti.config import AmiSettings

log = structlog.get_logger("cti.ami")

# Actions that only read: safe to retry once the link is back. Everything else
# (Originate, Redirect, Hangup, Setvar, MixMonitor, ...) is never sent twice.
# What a CTI that no longer leads may still send: its own session's upkeep.
SESSION_ACTIONS = frozenset({"login", "challenge", "logoff", "ping"})
IDEMPOTENT_ACTIONS = frozenset(
    {
        "ping", "status", "coreshowchannels", "coreshowchannelmap", "coresettings",
        "corestatus", "getvar", "queuestatus", "queuesummary", "bridgelist", "bridgeinfo",
        "pjsipshowendpoints", "pjsipshowendpoint", "pjsipshowcontacts", "pjsipshowaors",
        "devicestatelist", "parkinglots", "parkedcalls", "listcommands",
    }
)  # fmt: skip

PROBLEMS_LOGGED_IN_FULL = 20  # per connection

State = Literal["disconnected", "connecting", "connected", "closed"]


def _message(raw: RawMessage) -> Message:
    headers: dict[str, Any] = dict(raw.headers)
    if raw.repeated:
        headers.update(raw.repeated)
    return Message(headers)


class _Action(Action):  # type: ignore[misc]
    """panoramisk's Action with list detection that matches Asterisk 22.

    panoramisk guesses from message texts ("Added ... to queue" would make QueueAdd
    wait forever for events that never come). Asterisk 22 marks every list answer with
    `EventList: start`; the only other multi-message answer is an async Originate
    (response, then an OriginateResponse event with the same ActionID).
    """

    @property
    def multi(self) -> bool:
        if self.as_list is not None:
            return bool(self.as_list)
        first = self.responses[0]
        if first.get("EventList", "").lower() == "start":
            return True
        return bool(
            self.get("Action", "").lower() == "originate"
            and self.get("Async", "").lower() in ("true", "yes", "1")
            and first.get("Response") == "Success"
        )


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's protocol with our framing, routing and failure rules."""

    closed: bool
    transport: asyncio.Transport
    responses: dict[str, Any]

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"
        self.framer = AmiFramer(self._client.settings.max_message_bytes, on_problem=self._problem)
        self.banner: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.problems = 0

    def _problem(self, text: str) -> None:
        # The first few are logged in full; then one line per thousand, so a peer
        # spewing garbage cannot flood the log.
        self.problems += 1
        if self.problems <= PROBLEMS_LOGGED_IN_FULL or self.problems % 1000 == 0:
            log.warning("ami.bad_input", problem=text, count=self.problems)

    def send(self, data: Any, as_list: bool | None = False) -> asyncio.Future[Any]:
        if self.closed:
            raise AmiConnectionLost("not connected to Asterisk")
        return super().send(data, as_list=as_list)  # type: ignore[no-any-return]

    def data_received(self, data: bytes) -> None:
        self._client.read_ns = time.perf_counter_ns()
        try:
            messages = self.framer.feed(data)
        except FramingError as exc:
            log.error("ami.not_ami", error=str(exc))
            if not self.banner.done():
                self.banner.set_exception(AmiConnectError(str(exc)))
            self.transport.abort()
            return
        if self.framer.banner and not self.banner.done():
            self.banner.set_result(self.framer.banner)
        for raw in messages:
            try:
                self._route(raw)
            except Exception:  # one bad message must not take the link down
                log.exception("ami.route_failed", message=raw.headers)

    def _route(self, raw: RawMessage) -> None:
        headers = raw.headers
        action_id = headers.get("ActionID")
        if action_id is not None:
            action = self.responses.get(action_id)
            if action is not None:
                action.add_message(_message(raw))
                if action.future.done():
                    self.responses.pop(action_id, None)
                if headers.get("Event") != "OriginateResponse":
                    return
        if "Event" in headers:
            self._client.deliver(raw)
        else:
            log.debug("ami.stray_response", action_id=action_id, response=headers.get("Response"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()
        if not self.banner.done():
            self.banner.set_exception(AmiConnectError("connection closed before the banner"))
        self._client.on_connection_lost(self, exc)

    def close(self) -> None:
        # Unlike panoramisk, never queue in-flight actions for re-sending.
        for action in list(self.responses.values()):
            if not action.future.done():
                name = action.get("Action", "?")
                action.future.set_exception(
                    AmiConnectionLost(
                        f"link to Asterisk lost while {name} (ActionID {action.id}) was in "
                        "flight; it was not sent again"
                    )
                )
        self.responses.clear()
        if not self.closed:
            self.closed = True
            self.transport.close()


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with its own (re)connect and ping machinery switched off."""

    def connection_lost(self, exc: Exception | None) -> None:
        pass  # AmiClient decides about reconnecting

    def ping(self) -> None:
        pass  # AmiClient runs a watchdog instead


class AmiClient:
    """One logical AMI session that survives PBX restarts and network drops."""

    def __init__(
        self,
        settings: AmiSettings,
        on_event: Callable[[RawMessage], None],
        on_connected: Callable[[], Awaitable[None]] | None = None,
        on_session_start: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        may_act: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_session_start = on_session_start
        self.clock = clock
        self._rng = rng or random.Random()
        self.state: State = "disconnected"
        self.connects = 0  # successful logins, first one included
        self.banner = ""
        self.hangup_causes = HangupCauses()  # for Originates that fail without a reason
        self.last_error: str | None = None  # why the link is down, while it is
        # When the last bytes came from Asterisk (perf_counter_ns): the start of the
        # CTI's own share of a screen-pop in `cti bench api`; costs one clock read.
        self.read_ns = 0
        # With several CTIs (cti.ha): whether this one leads now; None: it always does.
        self.may_act = may_act
        self._manager = _Manager(host=settings.host, port=settings.port, events="on")
        self._protocol: _Protocol | None = None
        self._up = asyncio.Event()
        self._lost = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- life cycle ---------------------------------------------------------------------

    async def start(self, *, wait: bool = False) -> None:
        """Connect and log in. If that is impossible: raise a clear error, or with `wait`
        log why and keep trying in the background (capped backoff) until Asterisk is up
        and accepts the login (`waiting_for` says what is missing meanwhile)."""
        if self.state == "closed":
            raise AmiError("client is closed")
        try:
            await self._connect_once()
        except AmiError as exc:
            if not wait:
                raise
            self._failed(exc, attempt=0, next_try_max_s=self.settings.reconnect_min_s)
            self._lost.set()
        self._spawn(self._supervise(), "ami-supervisor")

    async def close(self) -> None:
        """Log off (best effort), drop the link and stop every task this client owns."""
        if self.state == "closed":
            return
        self.state = "closed"
        proto = self._protocol
        if proto is not None and not proto.closed:
            with contextlib.suppress(AmiError, asyncio.TimeoutError):
                await asyncio.wait_for(proto.send(_Action({"Action": "Logoff"})), 1.0)
            proto.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    @property
    def waiting_for(self) -> str | None:
        """What keeps the link down, in words (None while connected)."""
        if self.connected:
            return None
        s = self.settings
        return self.last_error or f"connecting to Asterisk AMI at {s.host}:{s.port}"

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            raise AmiTimeout(f"not connected to Asterisk within {timeout:g} s") from None

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- connecting -----------------------------------------------------------------------

    async def _connect_once(self) -> None:
        s = self.settings
        self.state = "connecting"
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Protocol(self), s.host, s.port),
                s.connect_timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            self.state = "disconnected"
            if isinstance(exc, ConnectionRefusedError):
                why = "connection refused (Asterisk not running, or AMI not enabled there)"
            elif isinstance(exc, TimeoutError):
                why = f"no answer within {s.connect_timeout_s:g} s"
            else:
                why = str(exc)
            raise AmiConnectError(
                f"cannot reach Asterisk AMI at {s.host}:{s.port}: {why}"
            ) from None
        try:
            self.banner = await asyncio.wait_for(proto.banner, s.connect_timeout_s)
            self._attach(proto)
            if self._on_session_start is not None:
                self._on_session_start()  # before any event of this session is delivered
            await self._login()
        except BaseException as exc:
            proto.close()
            self._protocol = None
            self.state = "disconnected"
            if isinstance(exc, TimeoutError):
                raise AmiConnectError(
                    f"Asterisk at {s.host}:{s.port} did not answer the login in time"
                ) from None
            if isinstance(exc, AmiConnectionLost):
                raise AmiConnectError(f"Asterisk at {s.host}:{s.port} closed the link") from None
            raise
        self.connects += 1
        self.state = "connected"
        self.last_error = None
        self._lost.clear()
        self._up.set()
        log.info("ami.connected", host=s.host, port=s.port, banner=self.banner,
                 session=self.connects)  # fmt: skip
        self._spawn(self._watchdog(proto), "ami-watchdog")
        if self._on_connected is not None:
            try:
                await self._on_connected()
            except AmiError as exc:
                log.warning("ami.resync_failed", error=str(exc))
            except Exception:  # a bug in the resync must not stop reconnecting
                log.exception("ami.resync_crashed")

    def _attach(self, proto: _Protocol) -> None:
        self._protocol = proto
        self._manager.protocol = proto
        proto.factory = self._manager

    async def _login(self) -> None:
        s = self.settings
        secret = s.secret.get_secret_value()
        timeout = s.connect_timeout_s
        login: dict[str, str] = {"Action": "Login", "Username": s.username, "Events": "on"}
        if s.auth == "md5":
            challenge = await asyncio.wait_for(
                self._raw_send({"Action": "Challenge", "AuthType": "MD5"}), timeout
            )
            if not challenge.success or "Challenge" not in challenge:
                raise AmiLoginError(
                    f"Asterisk at {s.host}:{s.port} refused the MD5 challenge: "
                    f"{challenge.get('Message', 'no challenge given')}"
                )
            key = hashlib.md5((challenge["Challenge"] + secret).encode()).hexdigest()
            login.update(AuthType="MD5", Key=key)
        else:
            login["Secret"] = secret
        reply = await asyncio.wait_for(self._raw_send(login), timeout)
        if not reply.success:
            raise AmiLoginError(
                f"Asterisk at {s.host}:{s.port} refused login for user {s.username!r}: "
                f"{reply.get('Message', 'no reason given')}"
            )

    async def _supervise(self) -> None:
        """Reconnect with capped exponential backoff and jitter after every drop."""
        s = self.settings
        while not self.closed:
            await self._lost.wait()
            attempt = 0
            while not self.closed:
                ceiling = min(s.reconnect_max_s, s.reconnect_min_s * 2**attempt)
                delay = ceiling * (0.5 + 0.5 * self._rng.random())
                attempt += 1
                await asyncio.sleep(delay)
                try:
                    await self._connect_once()
                    break
                except AmiError as exc:
                    self._failed(exc, attempt, min(s.reconnect_max_s, ceiling * 2))

    def _failed(self, exc: AmiError, attempt: int, next_try_max_s: float) -> None:
        """Remember and log why a (re)connect failed; a refused login says what to fix."""
        self.last_error = str(exc)
        fields = {"error": str(exc), "attempt": attempt, "next_try_max_s": next_try_max_s}
        if isinstance(exc, AmiLoginError):
            fix = "check ami.username and ami.secret against Asterisk's manager.conf"
            log.error("ami.login_refused", fix=fix, **fields)
        elif self.connects == 0:
            log.warning("ami.waiting_for_asterisk", **fields)
        else:
            log.error("ami.reconnect_failed", **fields)

    async def _watchdog(self, proto: _Protocol) -> None:
        """Drop a link whose peer went silent: one unanswered Ping is enough."""
        interval = self.settings.ping_interval_s
        while not proto.closed:
            await asyncio.sleep(interval)
            if proto.closed:
                return
            try:
                await asyncio.wait_for(proto.send(_Action({"Action": "Ping"})), interval)
            except TimeoutError:
                log.error("ami.peer_silent", waited_s=interval)
                proto.transport.abort()
                return
            except AmiConnectionLost:
                return

    def on_connection_lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if proto is not self._protocol:
            return
        self._protocol = None
        self._up.clear()
        if self.state == "closed":
            return
        was_connected = self.state == "connected"
        self.state = "disconnected"
        if was_connected:
            reason = str(exc) if exc else "closed by peer"
            self.last_error = f"link to Asterisk lost: {reason}"
            log.error("ami.connection_lost", error=reason)
            self._lost.set()

    # --- events and actions ---------------------------------------------------------------

    def deliver(self, raw: RawMessage) -> None:
        self.hangup_causes.note(raw.headers)
        try:
            self._on_event(raw)
        except Exception:  # a bug in a consumer must not kill the connection
            log.exception("ami.event_handler_failed", ami_event=raw.headers.get("Event"))

    def _raw_send(self, fields: dict[str, Any]) -> Any:
        check_action(fields)  # the one edge every action passes
        name = str(fields.get("Action", "")).lower()
        if self.may_act is not None and name not in SESSION_ACTIONS and not self.may_act():
            raise AmiFenced(f"{fields.get('Action')} not sent: this CTI no longer leads")
        proto = self._protocol
        if proto is None or proto.closed:
            raise AmiConnectionLost("not connected to Asterisk")
        return self._manager.send_action(_Action(dict(fields)))

    async def send_action(
        self, fields: dict[str, Any], *, timeout: float | None = None
    ) -> Message | list[Message]:
        """Send one action and wait for its complete answer.

        Returns the response (or, for list actions, the response followed by every list
        event up to `...Complete`). `Response: Error` raises AmiActionError with
        Asterisk's message. Read-only actions interrupted by a reconnect are retried
        once the link is back; any other action fails with AmiConnectionLost.
        """
        name = fields.get("Action", "")
        limit = timeout if timeout is not None else self.settings.action_timeout_s
        deadline = self.clock() + limit
        while True:
            try:
                result = await asyncio.wait_for(self._raw_send(fields), limit)
                break
            except TimeoutError:
                raise AmiTimeout(f"{name}: no complete answer within {limit:g} s") from None
            except AmiConnectionLost:
                if name.lower() not in IDEMPOTENT_ACTIONS or self.closed:
                    raise
                left = deadline - self.clock()
                if left <= 0:
                    raise
                await self.wait_connected(left)
        first = result[0] if isinstance(result, list) else result
        if first.get("Response") in ("Error", "Failure"):
            raise AmiActionError(name, _error_text(first))
        last = result[-1] if isinstance(result, list) else result
        if last.get("Event") == "OriginateResponse" and last.get("Response") != "Success":
            # Asterisk may not say why: the originated channel may (cti.ami.causes).
            code, cause = await self.hangup_causes.refine(last, fields.get("ChannelId"))
            reason = ORIGINATE_REASONS.get(code, "failed")
            raise OriginateFailed(code, reason, last.get("Channel"), cause)
        return result


def _error_text(msg: Message) -> str:
    """Asterisk's reason; for `Command` the CLI output lines carry it."""
    text = str(msg.get("Message", "no message"))
    output = msg.get("Output")
    if output:
        lines = output if isinstance(output, list) else [output]
        text = f"{text}: {' '.join(lines)}"
    return text
