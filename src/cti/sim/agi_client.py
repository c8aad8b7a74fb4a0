"""The simulated PBX's side of FastAGI: for a channel running `AGI(agi://host:port/...)`
it connects to the CTI, sends the `agi_*` environment as Asterisk 22 does, and answers
each command as transcript 03 shows (prompt playing takes simulated time, the citizen's
scripted keys interrupt or answer, a hang-up gives `200 result=-1` and then the `HANGUP`
line, later channel commands get 511).

The citizen's keys (`Citizen.keys`) are consumed one entry per input request: a menu
choice ("2"), a number ("2026000123#"), or "" for no input (the request times out).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import shlex
from typing import Protocol

import structlog

from cti.sim.models import Channel

log = structlog.get_logger(__name__)

PROMPT_S = 2.0  # how long a prompt plays, simulated seconds
DIGIT_S = 0.5  # one digit said, or keyed
_DEAD = "511 Command Not Permitted on a dead channel or intercept routine\n"
_USAGE_STREAM_FILE = (
    "520-Invalid command syntax.  Proper usage follows:\n"
    "Send the given file, allowing playback to be interrupted by the given digits, if any."
    " Returns <literal>0</literal> if playback completes without a digit being pressed, or"
    " the ASCII numerical value of the digit if one was pressed, or <literal>-1</literal> on"
    " error or if the channel was disconnected. If musiconhold is playing before calling"
    " stream file it will be automatically stopped and will not be restarted after"
    " completion.\n"
    "It sets the following channel variables upon completion:\n"
    "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text"
    " string.\n"
    "    <value>SUCCESS</value>\n"
    "    <value>FAILED</value>\n"
    "520 End of proper usage.\n"
)
_NEEDS_CHANNEL = {
    "ANSWER",
    "RECORD FILE",
    "STREAM FILE",
    "GET DATA",
    "WAIT FOR DIGIT",
    "SAY DIGITS",
    "CHANNEL STATUS",
}
_VAR = re.compile(r"\$\{([^}]+)\}")
_thread_ids = itertools.count(140172108060352, 512000)


class AgiPbx(Protocol):
    """What an AGI session needs of the PBX its channel lives on."""

    @property
    def time_scale(self) -> float: ...

    def answer_channel(self, ch: Channel) -> None: ...

    def dtmf_received(self, ch: Channel, digit: str) -> None: ...

    def setvar(self, channel: str | None, name: str, value: str) -> None: ...

    def hangup(self, channel: str, cause: int = 16) -> None: ...


class SimAgiClient:
    """Runs AGI sessions for the PBX's channels against a FastAGI server."""

    def __init__(
        self, pbx: AgiPbx, host: str, port: int, others: tuple[tuple[str, int], ...] = ()
    ) -> None:
        self.pbx = pbx
        self.host, self.port = host, port
        # Several CTIs (docs/ha.md): the dialplan tries CTI_AGI_OTHER when CTI_AGI does
        # not answer; only the leader listens.
        self.others = others
        self.astdb: dict[tuple[str, str], str] = {}

    def environment(self, ch: Channel, script: str, args: list[str]) -> str:
        tech = ch.name.split("/", 1)[0]
        request = f"agi://{self.host}:{self.port}/{script}"
        lines = [
            ("agi_network", "yes"),
            ("agi_network_script", script),
            ("agi_request", request),
            ("agi_channel", ch.name),
            ("agi_language", ch.variables.get("CHANNEL(language)", "en")),
            ("agi_type", tech),
            ("agi_uniqueid", ch.uniqueid),
            ("agi_version", "22.10.1"),
            ("agi_callerid", ch.caller_num),
            ("agi_calleridname", ch.caller_name),
            ("agi_callingpres", "0"),
            ("agi_callingani2", "0"),
            ("agi_callington", "0"),
            ("agi_callingtns", "0"),
            ("agi_dnid", ch.exten or "unknown"),
            ("agi_rdnis", "unknown"),
            ("agi_context", ch.context),
            ("agi_extension", ch.exten),
            ("agi_priority", str(ch.priority)),
            ("agi_enhanced", "0.0"),
            ("agi_accountcode", ""),
            ("agi_threadid", str(next(_thread_ids))),
            *((f"agi_arg_{n}", a) for n, a in enumerate(args, start=1)),
        ]
        return "".join(f"{k}: {v}\n" for k, v in lines) + "\n"

    async def run(self, ch: Channel, script: str, args: list[str] | None = None) -> str:
        """Run one AGI session for `ch`; returns AGISTATUS (SUCCESS, HANGUP, FAILURE)."""
        for host, port in ((self.host, self.port), *self.others):
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
                break
            except (OSError, TimeoutError):
                continue
        else:
            return "FAILURE"  # nobody listens: the dialplan's fallback
        session = _Session(self, ch, reader, writer)
        try:
            writer.write(self.environment(ch, script, args or []).encode())
            await writer.drain()
            await session.serve()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        if ch.hung_up or session.hangup_sent:
            return "HANGUP"
        return "FAILURE" if session.failed else "SUCCESS"


class _Session:
    def __init__(
        self,
        client: SimAgiClient,
        ch: Channel,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.client, self.ch = client, ch
        self.pbx = client.pbx
        self.reader, self.writer = reader, writer
        self.hangup_sent = False
        self.failed = False

    def _send(self, text: str) -> None:
        self.writer.write(text.encode())

    async def serve(self) -> None:
        while True:
            raw = await self.reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            reply = await self._command(line)
            self._send(reply)
            if self.ch.hung_up and not self.hangup_sent:
                self.hangup_sent = True
                self._send("HANGUP\n")
            await self.writer.drain()

    async def _wait(self, seconds: float) -> bool:
        """Let simulated time pass; False if the channel hung up meanwhile."""
        end = asyncio.get_running_loop().time() + seconds * self.pbx.time_scale
        while not self.ch.hung_up:
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                return True
            await asyncio.sleep(min(left, 0.05))
        return False

    def _next_keys(self) -> str | None:
        citizen = self.ch.citizen
        if citizen is None or not citizen.keys:
            return None
        return citizen.keys[0]

    def _take_keys(self) -> str:
        citizen = self.ch.citizen
        assert citizen is not None
        keys = citizen.keys.pop(0)
        for digit in keys:
            self.pbx.dtmf_received(self.ch, digit)
        return keys

    async def _command(self, line: str) -> str:
        try:
            words = shlex.split(line)
        except ValueError:
            return "510 Invalid or unknown command\n"
        upper = [w.upper() for w in words]
        for n in (3, 2, 1):
            name = " ".join(upper[:n])
            if name in _COMMANDS:
                break
        else:
            return "510 Invalid or unknown command\n"
        args = words[len(name.split()) :]
        if self.ch.hung_up and name in _NEEDS_CHANNEL:
            return _DEAD
        try:
            method = getattr(self, "_" + name.lower().replace(" ", "_"))
            reply: str = await method(args)
            return reply
        except (IndexError, ValueError):
            if name == "STREAM FILE":
                return _USAGE_STREAM_FILE
            return (
                "520-Invalid command syntax.  Proper usage follows:\n"
                f"Usage: {name}\n520 End of proper usage.\n"
            )

    # --- commands ------------------------------------------------------------------------

    async def _answer(self, args: list[str]) -> str:
        if self.ch.state != 6:
            self.pbx.answer_channel(self.ch)
        return "200 result=0\n"

    async def _channel_status(self, args: list[str]) -> str:
        return f"200 result={self.ch.state}\n"

    async def _stream_file(self, args: list[str]) -> str:
        escape = args[1]  # args[0], the prompt, always "exists" here
        keys = self._next_keys()
        if keys and keys[0] in escape:
            if not await self._wait(PROMPT_S / 2):
                return "200 result=-1 endpos=4000\n"
            self._take_keys()
            return f"200 result={ord(keys[0])} endpos=4000\n"
        if not await self._wait(PROMPT_S):
            return "200 result=-1 endpos=8160\n"
        return "200 result=0 endpos=16000\n"

    async def _get_data(self, args: list[str]) -> str:
        timeout_ms = int(args[1]) if len(args) > 1 else 5000
        max_digits = int(args[2]) if len(args) > 2 else 1024
        if not await self._wait(PROMPT_S):
            return "200 result=-1\n"
        keys = self._next_keys()
        if not keys:
            if keys == "":
                self._take_keys()
            if not await self._wait(timeout_ms / 1000):
                return "200 result=-1\n"
            return "200 result= (timeout)\n"
        keys = self._take_keys()
        if not await self._wait(DIGIT_S * len(keys)):
            return "200 result=-1\n"
        digits = keys.split("#", 1)[0][:max_digits]
        return f"200 result={digits}\n"

    async def _wait_for_digit(self, args: list[str]) -> str:
        timeout_ms = int(args[0])
        keys = self._next_keys()
        if keys:
            if not await self._wait(DIGIT_S):
                return "200 result=-1\n"
            keys = self._take_keys()
            return f"200 result={ord(keys[0])}\n"
        if keys == "":
            self._take_keys()
        if not await self._wait(timeout_ms / 1000 if timeout_ms >= 0 else 30):
            return "200 result=-1\n"
        return "200 result=0\n"

    async def _say_digits(self, args: list[str]) -> str:
        if not args[0].isdigit():
            raise ValueError(args[0])
        if not await self._wait(DIGIT_S * len(args[0])):
            return "200 result=-1\n"
        return "200 result=0\n"

    def _expand(self, expr: str) -> str:
        def one(match: re.Match[str]) -> str:
            return self._value(match.group(1)) or ""

        return _VAR.sub(one, expr)

    def _value(self, name: str) -> str | None:
        special = {
            "CALLERID(num)": self.ch.caller_num,
            "CALLERID(name)": self.ch.caller_name,
            "CHANNEL": self.ch.name,
            "CHANNEL(name)": self.ch.name,
            "CHANNEL(uniqueid)": self.ch.uniqueid,
            "CHANNEL(linkedid)": self.ch.linkedid,
            "UNIQUEID": self.ch.uniqueid,
        }
        if name in special:
            return special[name]
        if name == "CHANNEL(language)":
            return self.ch.variables.get(name, "en")
        return self.ch.variables.get(name)

    async def _get_variable(self, args: list[str]) -> str:
        value = self._value(args[0])
        return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"

    async def _get_full_variable(self, args: list[str]) -> str:
        return f"200 result=1 ({self._expand(args[0])})\n"

    async def _set_variable(self, args: list[str]) -> str:
        if self.ch.hung_up:
            self.ch.variables[args[0]] = args[1]
        else:
            self.pbx.setvar(self.ch.name, args[0], args[1])
        return "200 result=1\n"

    async def _verbose(self, args: list[str]) -> str:
        del args
        return "200 result=1\n"

    async def _exec(self, args: list[str]) -> str:
        app, data = args[0], (args[1] if len(args) > 1 else "")
        if app.lower() == "set" and "=" in data:
            name, _, value = data.partition("=")
            return await self._set_variable([name, value])
        if app.lower() == "playback":
            if self.ch.hung_up:
                return "200 result=-1\n"
            await self._wait(PROMPT_S)
            return "200 result=0\n"
        if app.lower() in ("noop", "wait"):
            return "200 result=0\n"
        return "200 result=-2\n"

    async def _database_put(self, args: list[str]) -> str:
        self.client.astdb[(args[0], args[1])] = args[2]
        return "200 result=1\n"

    async def _database_get(self, args: list[str]) -> str:
        value = self.client.astdb.get((args[0], args[1]))
        return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"

    async def _record_file(self, args: list[str]) -> str:
        """A spoken comment (a survey's): the citizen talks a few seconds, then silence."""
        del args
        if not await self._wait(4.0):
            return "200 result=-1 (hangup) endpos=0\n"
        return "200 result=0 (timeout) endpos=32000\n"

    async def _hangup(self, args: list[str]) -> str:
        if not self.ch.hung_up:
            self.pbx.hangup(self.ch.name, 16)
        return "200 result=1\n"


_COMMANDS = {
    "ANSWER",
    "CHANNEL STATUS",
    "DATABASE GET",
    "DATABASE PUT",
    "EXEC",
    "GET DATA",
    "GET FULL VARIABLE",
    "GET VARIABLE",
    "HANGUP",
    "RECORD FILE",
    "SAY DIGITS",
    "SET VARIABLE",
    "STREAM FILE",
    "VERBOSE",
    "WAIT FOR DIGIT",
}
