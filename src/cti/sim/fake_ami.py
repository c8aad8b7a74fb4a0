"""A fake Asterisk AMI server that replays the server side of a captured transcript.

Each accepted connection plays one `Section` (the last one repeats). When the client
sends the action the transcript's client sent next (same ActionID, or for Login /
Challenge / Logoff the same action name), the server writes the bytes Asterisk wrote
after it, with ActionIDs rewritten to the client's. Actions the transcript does not
have (our client's own Ping, CoreShowChannels, Status) get Asterisk-shaped generic
answers. Test hooks drop the link, go silent, or inject raw bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from cti.sim.transcripts import Section

BANNER = "Asterisk Call Manager/11.0.0\r\n"
_BY_NAME = frozenset({"login", "challenge", "logoff"})


def _reply(action_id: str, *lines: str) -> str:
    return "".join(f"{line}\r\n" for line in (lines[0], f"ActionID: {action_id}", *lines[1:]))


def list_reply(action_id: str, items: list[str], complete: str, message: str) -> str:
    """An AMI list answer exactly as Asterisk 22 frames it (see transcript 01)."""
    out = [_reply(action_id, "Response: Success", "EventList: start", f"Message: {message}")]
    out.append("\r\n")
    for item in items:
        out.append(item.replace("ActionID: {id}", f"ActionID: {action_id}"))
    out.append(
        f"Event: {complete}\r\nActionID: {action_id}\r\nEventList: Complete\r\n"
        f"ListItems: {len(items)}\r\n"
    )
    if complete == "StatusComplete":
        out.append(f"Items: {len(items)}\r\n")
    out.append("\r\n")
    return "".join(out)


@dataclass
class Script:
    """What one connection plays: a transcript section plus the live channel list."""

    section: Section
    # Raw `Event: CoreShowChannel` blocks (with `ActionID: {id}`) for resync answers.
    channels: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)


class FakeAmiServer:
    """Serves scripts on 127.0.0.1; one script per accepted connection."""

    def __init__(self, scripts: list[Script], *, answer_pings: bool = True) -> None:
        self.scripts = scripts
        self.answer_pings = answer_pings
        self.connections = 0
        self.received: list[dict[str, str]] = []  # every action, in arrival order
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._silenced: set[int] = set()
        self._live: set[int] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()  # handlers see EOF and return by themselves
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=2.0)
            for task in pending:  # only a handler stuck in a write gets here
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.wait_closed()

    def drop_all(self) -> None:
        """Close every client connection (like a network drop or an Asterisk restart)."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def silence(self) -> None:
        """Stop answering on the current connections, keeping them open (no FIN)."""
        self._silenced |= self._live

    def inject(self, data: bytes) -> None:
        """Write raw bytes to every connected client."""
        for writer in self._writers:
            writer.write(data)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        index = self.connections
        self.connections += 1
        self._live.add(index)
        try:
            await self._play(script, reader, writer, index)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._live.discard(index)
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.transport.abort()

    async def _play(
        self,
        script: Script,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        index: int,
    ) -> None:
        steps = [s for s in script.section.steps if s.sent]
        ids: dict[str, str] = {}
        writer.write(steps[0].server.encode("utf-8") or BANNER.encode())
        nxt = 1
        while True:
            action = await _read_action(reader)
            if action is None:
                return
            self.received.append(action)
            if index in self._silenced:
                continue
            name, action_id = action.get("Action", ""), action.get("ActionID", "")
            expected = steps[nxt] if nxt < len(steps) else None
            if expected is not None and (
                action_id == expected.action_id
                or (name.lower() in _BY_NAME and name.lower() == expected.name.lower())
            ):
                ids[expected.action_id] = action_id
                writer.write(_rewrite(expected.server, ids).encode("utf-8"))
                await writer.drain()
                if script.section.close_after is not None and nxt >= script.section.close_after:
                    return
                nxt += 1
                continue
            reply, close = self._generic(script, name, action_id)
            if reply:
                writer.write(reply.encode("utf-8"))
                await writer.drain()
            if close:
                return

    def _generic(self, script: Script, name: str, action_id: str) -> tuple[str, bool]:
        lname = name.lower()
        if lname == "ping":
            if not self.answer_pings:
                return "", False
            return _reply(action_id, "Response: Success", "Ping: Pong",
                          f"Timestamp: {time.time():.6f}") + "\r\n", False  # fmt: skip
        if lname == "coreshowchannels":
            return list_reply(action_id, script.channels, "CoreShowChannelsComplete",
                              "Channels will follow"), False  # fmt: skip
        if lname == "status":
            return list_reply(action_id, script.statuses, "StatusComplete",
                              "Channel status will follow"), False  # fmt: skip
        if lname == "logoff":
            return _reply(action_id, "Response: Goodbye",
                          "Message: Thanks for all the fish.") + "\r\n", True  # fmt: skip
        return _reply(action_id, "Response: Error",
                      f"Message: Invalid/unknown command: {name}. Use Action: ListCommands "
                      "to show available commands.") + "\r\n", False  # fmt: skip


def _rewrite(text: str, ids: dict[str, str]) -> str:
    for old, new in ids.items():
        if old and old != new:
            text = text.replace(f"ActionID: {old}\r\n", f"ActionID: {new}\r\n")
    return text


async def _read_action(reader: asyncio.StreamReader) -> dict[str, str] | None:
    fields: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line:
            return None
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            if fields:
                return fields
            continue
        key, _, value = text.partition(": ")
        fields.setdefault(key, value)
