"""Frames that leave from `publish` itself: `start_eagerly` runs a coroutine's first step
at once and the rest as a task; `Outgoing` keeps a connection's frames in order whether
they leave from `publish` or from its pump, and stops at the first failed send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cti.api.sockets import Outgoing
from cti.bus import BusEvent, EventBus
from cti.eager import start_eagerly


async def test_a_coroutine_that_does_not_wait_is_done_on_return() -> None:
    ran: list[str] = []

    async def work() -> int:
        ran.append("ran")
        return 7

    result = start_eagerly(work())
    assert ran == ["ran"]  # before any turn of the loop
    assert result.done()
    assert result.result() == 7


async def test_the_rest_of_a_coroutine_that_waits_runs_as_a_task() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def work() -> str:
        steps.append("first")
        got = await gate
        steps.append("second")
        await asyncio.sleep(0)
        return got + "!"

    result = start_eagerly(work())
    assert steps == ["first"]
    assert not result.done()
    gate.set_result("open")
    assert await result == "open!"
    assert steps == ["first", "second"]


async def test_failures_reach_whoever_awaits_the_result() -> None:
    async def at_once() -> None:
        raise ValueError("now")

    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def later() -> None:
        await gate  # the gate's own exception is raised inside the coroutine

    with pytest.raises(ValueError, match="now"):
        await start_eagerly(at_once())
    pending = start_eagerly(later())
    gate.set_exception(KeyError("later"))
    with pytest.raises(KeyError, match="later"):
        await pending


async def test_cancelling_the_rest_ends_the_coroutine_where_it_waits() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ended: list[str] = []

    async def work() -> None:
        try:
            await gate
        finally:
            ended.append("closed")

    rest = start_eagerly(work())
    rest.cancel()
    with pytest.raises(asyncio.CancelledError):
        await rest
    assert ended == ["closed"]


class Socket:
    """A connection whose writes can be held (its buffer full) frame by frame."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.wrote = asyncio.Event()
        self.held: dict[int, asyncio.Future[None]] = {}
        self.closed: tuple[int, str] | None = None

    def hold(self, seq: int) -> None:
        self.held[seq] = asyncio.get_running_loop().create_future()

    async def write(self, frame: dict[str, Any]) -> bool:
        gate = self.held.get(frame["seq"])
        if gate is not None:
            await gate
        self.written.append(frame["seq"])
        self.wrote.set()
        return frame["seq"] != 13  # the socket goes at frame 13

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def outgoing(socket: Socket, made_later: set[int]) -> Outgoing:
    def frame_now(event: BusEvent) -> dict[str, Any] | None:
        return None if event.seq in made_later else {"seq": event.seq}

    async def send(event: BusEvent) -> bool:
        await asyncio.sleep(0.01)  # a screen-pop whose history is still being read
        return await socket.write({"seq": event.seq})

    return Outgoing(frame_now, socket.write, send)


async def test_frames_leave_in_order_from_publish_or_from_the_pump() -> None:
    bus, socket = EventBus(), Socket()
    out = outgoing(socket, made_later={4})
    sub = bus.subscribe(agent="a1")
    sub.now = out.now
    pump = asyncio.create_task(out.pump(socket, sub))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    socket.hold(2)
    bus.publish("acd.AgentStateChanged", {"agent": "a1"})  # 1: written within publish
    assert socket.written == [1]
    for _ in range(5):  # 2 waits for its socket; 3-6 queue behind it; 4 is made later
        bus.publish("acd.AgentStateChanged", {"agent": "a1"})
    assert socket.written == [1]
    socket.held[2].set_result(None)
    while len(socket.written) < 6:
        socket.wrote.clear()
        await asyncio.wait_for(socket.wrote.wait(), 1)
    bus.publish("acd.AgentStateChanged", {"agent": "a1"})  # 7: idle again, at once
    assert socket.written == [1, 2, 3, 4, 5, 6, 7]
    bus.unsubscribe(sub)
    await asyncio.wait_for(pump, 1)
    assert socket.closed is None  # ended by its own side, not cut off


async def test_a_failed_send_stops_the_frames_and_a_cut_off_client_gets_4008() -> None:
    bus, socket = EventBus(), Socket()
    out = outgoing(socket, made_later=set())
    sub = bus.subscribe(agent="a1")
    sub.now = out.now
    pump = asyncio.create_task(out.pump(socket, sub))  # type: ignore[arg-type]
    for _ in range(15):
        bus.seq = max(bus.seq, 12)
        bus.publish("acd.AgentStateChanged", {"agent": "a1"})
    assert socket.written == [13]  # nothing after the failed one
    assert out.failed
    bus.unsubscribe(sub)  # as the handler does when its socket has gone
    await asyncio.wait_for(pump, 1)
    assert socket.written == [13]

    bus, socket = EventBus(buffer=3), Socket()
    out = outgoing(socket, made_later=set())
    sub = bus.subscribe(agent="a1")
    sub.now = out.now
    pump = asyncio.create_task(out.pump(socket, sub))  # type: ignore[arg-type]
    socket.hold(1)
    for _ in range(5):  # 1 held, 2-4 fill the buffer, 5 is one too many
        bus.publish("acd.AgentStateChanged", {"agent": "a1"})
    socket.held[1].set_result(None)
    await asyncio.wait_for(pump, 1)
    assert socket.written == [1, 2, 3, 4]
    assert socket.closed == (4008, "slow_consumer")
