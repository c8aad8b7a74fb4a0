"""Our FastAGI server (panoramisk's busy-loops on an early disconnect and misreads the
multi-line 520 reply and the asynchronous HANGUP line).

The wire, as Asterisk 22 speaks it (transcript 03): bare-LF lines; an environment block
of `agi_*: value` lines ended by an empty line; then one command line from us, one
reply from Asterisk: `200 result=<n>[ (<data>)][ endpos=<n>]`, `510 Invalid or unknown
command`, `511 Command Not Permitted on a dead channel or intercept routine`, or the
multi-line `520-Invalid command syntax...` ending with `520 End of proper usage.`. When
the channel hangs up, Asterisk writes a lone `HANGUP` line after the reply in progress;
commands that need the channel then get 511, others still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import structlog

log = structlog.get_logger(__name__)

MAX_LINE = 8192
MAX_ENV_LINES = 200
MAX_ENV_BYTES = 32 * 1024  # Asterisk sends about 1.5 KB
# GET DATA's result is the keyed string (leading zeros, `*`), other commands' a number.
_RESULT = re.compile(
    r"^200 result=(-?[0-9*#A-D]{0,40})(?: \((.*)\))?(?: endpos=([0-9]{1,19}))?\s*$"
)
_CODE = re.compile(r"^[0-9]{3}$")
_NUMBER = re.compile(r"^-?[0-9]{1,11}$")
# Asterisk's numeric results are C ints: anything outside is no number (None).
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_DTMF = "0123456789*#ABCD"
# What a sound file name may hold (Asterisk looks it up under sounds/<language>/):
# letters, digits, `_/-`, single dots between them; at most PROMPT_MAX characters.
PROMPT_PATTERN = r"^[A-Za-z0-9_/-]+(\.[A-Za-z0-9_/-]+)*$"
PROMPT_MAX = 120
_PROMPT = re.compile(PROMPT_PATTERN)
# Characters that end or cut an AGI line (Asterisk reads C strings up to LF).
_BREAKS = re.compile(r"[\r\n\x00]")
# Commands Asterisk answers at once, touching no media: they get the short timeout
# (ANSWER is not one: on SIP it waits for the ACK).
_QUICK = ("SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "CHANNEL STATUS", "VERBOSE",
          "HANGUP", "DATABASE", "NOOP")  # fmt: skip


class AgiError(Exception):
    """A reply that is not a 200: `code` 510 (unknown), 511 (dead channel), 520 (usage)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


class AgiClosed(Exception):
    """Asterisk closed the FastAGI connection (the call is gone or the AGI ended)."""


class AgiHangup(AgiClosed):
    """The caller hung up (Asterisk said HANGUP, or refused a command with 511)."""


class AgiTimeout(AgiClosed):
    """Asterisk did not answer a command in time: the session is given up (nothing more
    is sent on it, so a silent peer holds its slot once, not once per command)."""


class AgiArgumentError(ValueError):
    """An argument Asterisk cannot take (a line break, NUL, a prompt name outside the safe
    characters): refused before anything is written, the session goes on."""


@dataclass(frozen=True, slots=True)
class AgiReply:
    code: int
    result: int | None  # None for `result=` (GET DATA timeout) or what is no C int
    data: str | None  # the text in parentheses: a variable's value, "timeout"
    endpos: int | None = None
    text: str = ""  # the result as sent: GET DATA's keyed digits ("0888...", "12*")

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"


def parse_reply(lines: list[str]) -> AgiReply:
    """One reply (its lines without the line ends). Raises AgiError for 5xx, ValueError
    for something that is not an AGI reply."""
    if not lines:
        raise ValueError("empty AGI reply")
    first = lines[0]
    if first.startswith("200 "):
        match = _RESULT.match(first)
        if match is None:
            raise ValueError(f"malformed AGI reply: {first[:200]!r}")
        text, data, endpos = match.groups()
        result = int(text) if _NUMBER.match(text) else None
        if result is not None and not _INT_MIN <= result <= _INT_MAX:
            result = None  # not a number Asterisk sends: no key, no status
        return AgiReply(200, result, data, int(endpos) if endpos else None, text)
    code_text = first[:3]
    if not _CODE.match(code_text) or first[3:4] not in (" ", "-", ""):
        raise ValueError(f"malformed AGI reply: {first[:200]!r}")
    message = first[4:]
    if first[3:4] == "-":  # multi-line: the usage text follows
        message = "\n".join([first[4:], *lines[1:]])
    raise AgiError(int(code_text), message)


_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")


def quote(arg: str) -> str:
    """An AGI argument: double-quoted, with quotes and backslashes escaped."""
    if _BREAKS.search(arg):
        raise AgiArgumentError("line breaks and NUL are not allowed in AGI arguments")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prompt_name(name: str) -> str:
    """A sound file name as STREAM FILE / GET DATA take it (letters, digits, `_/.-`)."""
    if len(name) > PROMPT_MAX or not _PROMPT.match(name):
        raise AgiArgumentError(f"not a safe prompt name: {name[:60]!r}")
    return name


def word(arg: str) -> str:
    """An argument as is when it is a plain word, quoted otherwise."""
    return arg if _PLAIN.match(arg) else quote(arg)


@dataclass
class AgiSession:
    """One FastAGI connection: the environment Asterisk sent, and commands."""

    env: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    command_timeout_s: float = 30.0
    quick_timeout_s: float = 5.0
    hung_up: bool = False  # Asterisk said HANGUP: the caller is gone
    given_up: bool = False  # a command timed out: nothing more is sent
    script: str = ""
    query: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        request = self.env.get("agi_network_script", "")
        self.script, _, qs = request.partition("?")
        self.query = dict(parse_qsl(qs, keep_blank_values=True))
        n = 1
        while f"agi_arg_{n}" in self.env:
            self.args.append(self.env[f"agi_arg_{n}"])
            n += 1

    @property
    def channel(self) -> str:
        return self.env.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        return self.env.get("agi_uniqueid", "")

    async def _line(self) -> str:
        try:
            raw = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            raise AgiClosed("connection closed by Asterisk") from exc
        except asyncio.LimitOverrunError:
            raise AgiClosed("reply line too long") from None
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _reply(self) -> AgiReply:
        lines: list[str] = []
        while True:
            line = await self._line()
            if line == "HANGUP":
                self.hung_up = True
                continue
            lines.append(line)
            if line.startswith("520-"):
                while not line.startswith("520 "):
                    if len(lines) > MAX_ENV_LINES:  # Asterisk's usage texts are short
                        raise ValueError("AGI usage reply too long")
                    line = await self._line()
                    lines.append(line)
            return parse_reply(lines)

    async def command(self, text: str) -> AgiReply:
        """Send one command line, wait (bounded) for its reply: `quick_timeout_s` for
        what Asterisk answers at once, `command_timeout_s` for what plays or listens.
        A timeout gives the session up (AgiTimeout, and every later command too)."""
        if _BREAKS.search(text):
            raise AgiArgumentError("line breaks and NUL are not allowed in an AGI command")
        if self.given_up:
            raise AgiTimeout("an earlier command timed out")
        quick = text.upper().startswith(_QUICK)
        limit = (
            min(self.quick_timeout_s, self.command_timeout_s) if quick else self.command_timeout_s
        )
        self.writer.write(text.encode("utf-8") + b"\n")
        try:
            await asyncio.wait_for(self.writer.drain(), limit)
            reply = await asyncio.wait_for(self._reply(), limit)
        except (ConnectionError, OSError) as exc:
            raise AgiClosed(str(exc)) from exc
        except TimeoutError:
            self.given_up = True
            raise AgiTimeout(f"no reply to {text.split(' ')[0]} within {limit:g} s") from None
        # A trailing HANGUP right after this reply is read with the next command (or
        # by `poll_hangup`).
        return reply

    async def poll_hangup(self, wait_s: float = 0.05) -> bool:
        """Read a pending HANGUP line (Asterisk sends nothing else unasked); True if the
        caller is gone."""
        if not self.hung_up:
            with contextlib.suppress(TimeoutError, AgiClosed):
                line = await asyncio.wait_for(self._line(), wait_s)
                if line == "HANGUP":
                    self.hung_up = True
        return self.hung_up

    async def _call(self, text: str) -> AgiReply:
        """A command the IVR needs the channel for: 511 or HANGUP is the caller leaving."""
        if self.hung_up:
            raise AgiHangup("the caller hung up")
        try:
            reply = await self.command(text)
        except AgiError as exc:
            if exc.code == 511:
                self.hung_up = True
                raise AgiHangup("the caller hung up") from exc
            raise
        if reply.result is not None and reply.result < 0 and await self.poll_hangup():
            raise AgiHangup("the caller hung up")
        return reply

    # --- the commands the IVR uses ----------------------------------------------------

    async def answer(self) -> None:
        await self._call("ANSWER")

    async def channel_status(self) -> int | None:
        """The channel's state (6: up), answered at once (the quick timeout); a dead
        channel is the caller gone (AgiHangup)."""
        return (await self._call("CHANNEL STATUS")).result

    async def stream_file(self, name: str, escape: str = "") -> str | None:
        """Play a prompt; the digit that interrupted it, or None (also for a missing
        prompt, which Asterisk reports as -1 on a live channel)."""
        reply = await self._call(f"STREAM FILE {prompt_name(name)} {quote(escape)}")
        return _digit(reply.result)

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> str | None:
        """Digits keyed while/after the prompt plays (`#` ends); None on timeout with none."""
        reply = await self._call(
            f"GET DATA {prompt_name(prompt)} {int(timeout_ms)} {int(max_digits)}"
        )
        if not reply.text:
            return None if reply.timed_out else ""
        return None if reply.text.startswith("-") else reply.text

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        reply = await self._call(f"WAIT FOR DIGIT {int(timeout_ms)}")
        return _digit(reply.result)

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command(f"GET VARIABLE {name}")
        return reply.data if reply.result == 1 else None

    async def say_digits(self, digits: str) -> None:
        if not digits.isdigit():
            raise ValueError(f"SAY DIGITS needs digits, got {digits!r}")
        await self._call(f'SAY DIGITS {digits} ""')

    async def exec(self, app: str, args: str = "") -> int | None:
        reply = await self.command(f"EXEC {app} {word(args)}" if args else f"EXEC {app}")
        return reply.result

    async def verbose(self, text: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {quote(text)} {level}")

    async def hangup(self) -> None:
        await self.command("HANGUP")


def _digit(result: int | None) -> str | None:
    """The key whose ASCII code Asterisk returned; None for no key (0, -1) or for a code
    that is no DTMF key."""
    if result is None or not 0 < result < 128:
        return None
    key = chr(result)
    return key if key in _DTMF else None


Handler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    """Accepts Asterisk's FastAGI connections and runs the handler named by the script
    (`agi://host:port/<script>?<query>`). Bounded: `max_sessions` at once (beyond that
    the connection is closed at once, with a log line, and Asterisk's dialplan sees
    AGISTATUS=FAILURE), the environment must arrive within `env_timeout_s`."""

    def __init__(
        self,
        route: Callable[[str], Handler | None],
        host: str = "127.0.0.1",
        port: int = 4573,
        max_sessions: int = 200,
        env_timeout_s: float = 3.0,
        command_timeout_s: float = 30.0,
        quick_timeout_s: float = 5.0,
        may_act: Callable[[], bool] | None = None,
    ) -> None:
        self.route = route  # script name -> handler (None: unknown script)
        # Several CTIs (cti.ha): a process whose lease ran out takes no call (closed at
        # once, so the dialplan tries CTI_AGI_OTHER); None: a single CTI, always.
        self.may_act = may_act
        self.host, self.port = host, port
        self.max_sessions = max_sessions
        self.env_timeout_s = env_timeout_s
        self.command_timeout_s = command_timeout_s
        self.quick_timeout_s = quick_timeout_s
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.sessions = 0
        self.refused = 0
        self.completed = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=MAX_LINE
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("agi.listening", host=self.host, port=self.port)
        return self.port

    async def close(self) -> None:
        """Stop accepting; cut live sessions (their handlers see AgiClosed and end)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=2.0)
            for task in late:  # a handler stuck on something else than the socket
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self.may_act is not None and not self.may_act():
            log.warning("agi.refused_not_leading")
            writer.transport.abort()
            return
        if self.sessions >= self.max_sessions:
            self.refused += 1
            log.warning("agi.session_limit", limit=self.max_sessions, refused=self.refused)
            writer.close()
            return
        self.sessions += 1
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._session(reader, writer)
        finally:
            self.sessions -= 1
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _read_env(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        env: dict[str, str] = {}
        size = 0
        for _ in range(MAX_ENV_LINES):
            try:
                raw = await reader.readuntil(b"\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return None  # gone before the environment was complete, or garbage
            size += len(raw)
            if size > MAX_ENV_BYTES:
                return None
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return env
            key, sep, value = line.partition(": ")
            if not sep and line.endswith(":"):
                key, value = line[:-1], ""
            if not key.startswith("agi_"):
                return None
            env[key] = value
        return None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            env = await asyncio.wait_for(self._read_env(reader), self.env_timeout_s)
        except TimeoutError:
            env = None
        if env is None:
            log.warning("agi.no_environment", peer=str(peer))
            return
        session = AgiSession(
            env, reader, writer, self.command_timeout_s, quick_timeout_s=self.quick_timeout_s
        )
        handler = self.route(session.script)
        if handler is None:
            log.error("agi.unknown_script", script=session.script, channel=session.channel)
            return
        try:
            await handler(session)
            self.completed += 1
        except AgiTimeout as exc:
            log.error("agi.command_timeout", script=session.script, channel=session.channel,
                      why=str(exc))  # fmt: skip
        except AgiClosed as exc:
            log.info("agi.closed", script=session.script, channel=session.channel, why=str(exc))
        except (AgiError, ValueError) as exc:
            log.error("agi.failed", script=session.script, channel=session.channel, error=str(exc))
        except TimeoutError:
            log.error("agi.command_timeout", script=session.script, channel=session.channel)
        except Exception:  # a bug in a handler ends its call, never the server
            log.exception("agi.handler_failed", script=session.script, channel=session.channel)
