"""Start a coroutine at once, in the caller's step of the event loop, instead of behind
everything already queued on the loop.

`asyncio.ensure_future` only schedules a coroutine: its first line runs after every
callback already ready, which on a busy loop is milliseconds later. A websocket send
is almost always complete in its first step (aiohttp writes the frame to the socket
and waits only when the socket's buffer is full), so a screen-pop can leave within the
AMI read that offered the call. Python 3.12's `eager_start` tasks do this; 3.11, which
we support, has none, so this runs the coroutine's first step itself and hands the
rest, if any, to a task that waits for what the coroutine waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def start_eagerly(coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
    """Run `coro` up to its first wait, now. A future of its result: already done if it
    finished in that step (its exception, if it raised), else a task running the rest."""
    try:
        waits_for = coro.send(None)
    except StopIteration as stop:
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        done.set_result(stop.value)
        return done
    except Exception as exc:  # given to whoever awaits the result
        failed: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed
    rest = asyncio.ensure_future(_rest(coro, waits_for))
    rest.add_done_callback(lambda _: coro.close())  # cancelled before it ran, too
    return rest


async def _rest(coro: Coroutine[Any, Any, T], waits_for: Any) -> T:
    """Drive `coro` on as a task would: wait for the future it yielded (a bare yield
    is one turn of the loop), then resume it; its awaits read their results themselves."""
    while True:
        if waits_for is None:
            await asyncio.sleep(0)
        elif asyncio.isfuture(waits_for):
            waits_for._asyncio_future_blocking = False
            await asyncio.wait({waits_for})
        else:
            raise RuntimeError(f"a coroutine yielded {waits_for!r}, not a future")
        try:
            waits_for = coro.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
