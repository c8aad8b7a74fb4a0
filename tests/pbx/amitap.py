"""A second AMI session that records every event Asterisk sends, as the CTI's own
session receives them: `(monotonic time, {header: value})` in arrival order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

Message = dict[str, str]


class AmiTap:
    def __init__(self, port: int, username: str, secret: str) -> None:
        self.port, self.username, self.secret = port, username, secret
        self.events: list[tuple[float, Message]] = []
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> AmiTap:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._writer = writer
        await reader.readline()  # "Asterisk Call Manager/…"
        writer.write(
            (
                f"Action: Login\r\nUsername: {self.username}\r\nSecret: {self.secret}\r\n"
                "Events: on\r\nActionID: tap\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        first = await _block(reader)
        if first.get("Response") != "Success":
            raise RuntimeError(f"AMI tap login refused: {first}")
        self._task = asyncio.create_task(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            message = await _block(reader)
            if not message:
                return
            if "Event" in message:
                self.events.append((time.monotonic(), message))

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()


async def _block(reader: asyncio.StreamReader) -> Message:
    out: Message = {}
    while True:
        line = await reader.readline()
        if not line:
            return out
        text = line.decode(errors="replace").rstrip("\r\n")
        if not text:
            if out:
                return out
            continue
        key, _, value = text.partition(":")
        out.setdefault(key.strip(), value.strip())
