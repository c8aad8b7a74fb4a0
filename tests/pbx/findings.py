"""Every way a scenario's outcome differs from what it expected, collected so that one run
reports them all: a test asserts `not findings` once, at its end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


class Findings:
    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.found.append(what)

    def equal(self, got: object, expected: object, what: str) -> None:
        """`got`: what the product stored or showed (or Asterisk did); `expected`: what
        Asterisk recorded or the person using it would expect."""
        self.check(got == expected, f"{what}: got {got!r}, expected {expected!r}")

    def close(self, got: float | None, expected: float | None, what: str, within: float) -> None:
        if got is None or expected is None:
            self.check(got is None and expected is None, f"{what}: got {got}, expected {expected}")
            return
        self.check(
            abs(got - expected) <= within,
            f"{what}: got {got:.3f}, expected {expected:.3f} (within {within})",
        )

    def __bool__(self) -> bool:
        return bool(self.found)

    def __str__(self) -> str:
        return "\n".join(["not as expected:", *self.found])


async def poll(check: Callable[[], Any], timeout: float) -> Any:
    """Poll `check` (Asterisk, the database: other processes, nothing to wait on) until
    it gives a truthy value or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)
