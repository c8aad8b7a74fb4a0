"""The ACD's timers: relaxation steps, maximum wait, announcements, ring guard, wrap-up end,
the reservation groups' long-wait guard.

A heap of (when, order, kind, agent or call id, epoch); a timer whose call has changed
state since (another epoch) is stale and ignored when it fires.
"""

from __future__ import annotations

import heapq
from typing import Literal

TimerKind = Literal["relax", "max_wait", "announce", "ring", "wrap", "guard"]
Timer = tuple[float, int, TimerKind, str, int]


class Timers:
    """Pending timers in firing order (ties: the order they were set)."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0

    def push(self, at: float, kind: TimerKind, ident: str, epoch: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, ident, epoch))

    def pop_due(self, now: float) -> Timer | None:
        """The next timer due at or before `now`, taken off the heap (None: none due)."""
        heap = self._heap
        if heap and heap[0][0] <= now:
            return heapq.heappop(heap)
        return None

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None
