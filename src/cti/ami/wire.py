"""AMI framing: bytes from the socket in, header dicts out.

Asterisk sends `Key: Value` lines ending in CRLF, one blank line after each message,
and a one-line banner (`Asterisk Call Manager/11.0.0`) before the first message.
What real Asterisk 22 does that a naive reader trips on (see the transcripts):
- a value may end in a bare LF before its CRLF (`Message: Park successful\\n\\r\\n`);
- a UTF-8 caller name may be split across two TCP reads;
- `Key: ` with an empty value is common (`AccountCode: `).
The framer keeps memory bounded: a message larger than `max_message_size` characters
is dropped whole and reported, and reading continues at the next message.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cti.ami.errors import AmiError

BANNER_PREFIX = "Asterisk Call Manager/"
_TERMINATOR = "\r\n\r\n"


class FramingError(Exception):
    """The peer does not speak AMI (no banner); the connection must be dropped."""


@dataclass(slots=True)
class RawMessage:
    """One AMI message: first value of each header, plus every value of repeated ones."""

    headers: dict[str, str]
    repeated: dict[str, list[str]] | None = None

    def all(self, key: str) -> list[str]:
        """Every value of a header that may repeat (`Variable`, `Output`)."""
        if self.repeated is not None and key in self.repeated:
            return self.repeated[key]
        value = self.headers.get(key)
        return [] if value is None else [value]


@dataclass(slots=True)
class FramerStats:
    messages: int = 0
    dropped_oversized: int = 0
    dropped_headerless: int = 0


def parse_block(block: str, on_problem: Callable[[str], None] | None = None) -> RawMessage | None:
    """Parse the text of one message (without its blank-line terminator)."""
    headers: dict[str, str] = {}
    repeated: dict[str, list[str]] | None = None
    lines = block.split("\r\n")
    if block.count("\n") != len(lines) - 1:  # a bare LF inside: a line break too
        lines = [part for line in lines for part in line.split("\n")]
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            if not line:
                continue
            if line.endswith(":") and " " not in line:
                key, value = line[:-1], ""
            else:
                if on_problem is not None:
                    on_problem(f"garbage line ignored: {line[:80]!r}")
                continue
        if key in headers:
            if repeated is None:
                repeated = {}
            if key not in repeated:
                repeated[key] = [headers[key]]
            repeated[key].append(value)
        else:
            headers[key] = value
    if not headers:
        return None
    return RawMessage(headers, repeated)


class AmiFramer:
    """Incremental reader of the AMI byte stream."""

    def __init__(
        self,
        max_message_size: int = 1_048_576,
        on_problem: Callable[[str], None] | None = None,
        expect_banner: bool = True,
    ) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buf = ""
        self._max = max_message_size
        self._skipping = False
        self._on_problem = on_problem
        self.banner: str | None = None if expect_banner else ""
        self.stats = FramerStats()

    def _problem(self, text: str) -> None:
        if self._on_problem is not None:
            self._on_problem(text)

    def feed(self, data: bytes) -> list[RawMessage]:
        """Add bytes from the socket; return every message they complete."""
        text = self._buf + self._decoder.decode(data)
        if self.banner is None:
            end = text.find("\r\n")
            if end < 0:
                if len(text) > 256:
                    raise FramingError(f"no AMI banner; peer sent {text[:60]!r}")
                self._buf = text
                return []
            line = text[:end]
            if not line.startswith(BANNER_PREFIX):
                raise FramingError(f"not an Asterisk manager interface: first line {line[:60]!r}")
            self.banner = line
            text = text[end + 2 :]
        parts = text.split(_TERMINATOR)
        tail = parts.pop()
        out: list[RawMessage] = []
        max_size = self._max
        for i, block in enumerate(parts):
            if self._skipping and i == 0:
                self._skipping = False  # end of the oversized message we were skipping
                continue
            if len(block) > max_size:
                self.stats.dropped_oversized += 1
                self._problem(f"oversized message dropped ({len(block)} chars > {max_size})")
                continue
            if not block:
                continue
            msg = parse_block(block, self._on_problem)
            if msg is None or ("Event" not in msg.headers and "Response" not in msg.headers):
                self.stats.dropped_headerless += 1
                self._problem(f"message without Event or Response dropped: {block[:80]!r}")
                continue
            out.append(msg)
        if len(tail) > max_size:
            if not self._skipping:
                self.stats.dropped_oversized += 1
                self._problem(f"oversized message dropped (> {max_size} chars, still arriving)")
            self._skipping = True
            tail = tail[-3:]  # may hold the start of the terminator
        self._buf = tail
        self.stats.messages += len(out)
        return out


_BREAKS = ("\r", "\n", "\x00")


def check_action(fields: dict[str, Any]) -> dict[str, Any]:
    """The action as given, if every header (list items too) is one line Asterisk can
    take: no CR, LF or NUL in a value (they would end the header or cut the value), no
    `:` in a name. Raises AmiError naming the header otherwise; nothing is sent."""
    for key, value in fields.items():
        items = value if isinstance(value, list | tuple) else (value,)
        if any(c in text for text in (key, *map(str, items)) for c in _BREAKS):
            raise AmiError(f"{key[:40]!r}: line breaks and NUL are not allowed in AMI")
        if ":" in key:
            raise AmiError(f"{key[:40]!r}: not a header name AMI can take")
    return fields
