"""Closing a websocket whose client is behind: aiohttp may end its close at once and
close the transport with frames still in its buffer, the close frame last. They must
reach a client that reads them within the grace; only one that does not is cut off."""

from __future__ import annotations

import asyncio
from typing import Any

from cti.api.sockets import Conn


class Transport:
    """Holds `held` bytes until `drains_after_s` (never if None), as a socket whose
    client reads late."""

    def __init__(self, drains_after_s: float | None) -> None:
        self.held, self.aborted = 64_000, False
        if drains_after_s is not None:
            asyncio.get_running_loop().call_later(drains_after_s, self._drained)

    def _drained(self) -> None:
        self.held = 0

    def get_write_buffer_size(self) -> int:
        return self.held

    def abort(self) -> None:
        self.aborted = True


class Ws:
    """aiohttp's close when the handler's receive has already seen it: done at once."""

    closed = False

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []

    async def close(self, *, code: int, message: bytes) -> bool:
        self.sent.append((code, message))
        return True


class Request:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport


def conn(transport: Transport, grace_s: float) -> Conn:
    request: Any = Request(transport)
    return Conn(Ws(), request, "agent1", "hash", close_grace_s=grace_s)  # type: ignore[arg-type]


async def test_frames_still_buffered_at_the_close_reach_a_client_that_reads_in_time() -> None:
    transport = Transport(drains_after_s=0.3)
    c = conn(transport, grace_s=2.0)
    await c.close(4008, "slow_consumer")
    assert c.ws.sent == [(4008, b"slow_consumer")]  # type: ignore[attr-defined]
    assert transport.held == 0
    assert not transport.aborted


async def test_a_client_that_never_reads_is_cut_off_when_the_grace_ends() -> None:
    transport = Transport(drains_after_s=None)
    c = conn(transport, grace_s=0.3)
    began = asyncio.get_running_loop().time()
    await c.close(4008, "slow_consumer")
    waited = asyncio.get_running_loop().time() - began
    assert transport.aborted
    assert 0.25 <= waited < 1.0
