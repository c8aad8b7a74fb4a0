"""A second AMI session that records every event Asterisk sends, as the CTI's own
session receives them: `(monotonic time, {header: value})` in arrival order.

It reads in a thread of its own with a blocking socket, so an event is stamped when
its bytes arrive, whatever the test's event loop is doing (and Asterisk, which drops a
session that does not read, always finds this one reading)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

Message = dict[str, str]
Lines = Iterator[tuple[float, str]]


class AmiTap:
    def __init__(self, port: int, username: str, secret: str) -> None:
        self.port, self.username, self.secret = port, username, secret
        self.events: list[tuple[float, Message]] = []
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> AmiTap:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self._sock = sock
        lines = _lines(sock)
        next(lines)  # "Asterisk Call Manager/…"
        sock.sendall(
            (
                f"Action: Login\r\nUsername: {self.username}\r\nSecret: {self.secret}\r\n"
                "Events: on\r\nActionID: tap\r\n\r\n"
            ).encode()
        )
        first = _block(lines)[1]
        if first.get("Response") != "Success":
            raise RuntimeError(f"AMI tap login refused: {first}")
        sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, args=(lines,), daemon=True)
        self._thread.start()
        return self

    def _read(self, lines: Lines) -> None:
        with contextlib.suppress(OSError, StopIteration):
            while True:
                at, message = _block(lines)
                if "Event" in message:
                    self.events.append((at, message))

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)


def _lines(sock: socket.socket) -> Lines:
    """(monotonic time the line's bytes arrived, line) until the socket closes."""
    pending = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return
        at = time.monotonic()
        pending += chunk
        *complete, pending = pending.split(b"\r\n")
        for line in complete:
            yield at, line.decode(errors="replace")


def _block(lines: Lines) -> tuple[float, Message]:
    """The next message: when its first line arrived, and its headers."""
    out: Message = {}
    first = 0.0
    for at, text in lines:
        if not text:
            if out:
                return first, out
            continue
        if not out:
            first = at
        key, _, value = text.partition(":")
        out.setdefault(key.strip(), value.strip())
    raise StopIteration
