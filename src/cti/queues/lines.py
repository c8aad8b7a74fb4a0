"""What a reservation group's line needs (reservation.py): the pools' figures, its own
pool's cover, whether a helper gains a caller the threshold, whether the guard is due."""

from __future__ import annotations

from typing import Any

Pool = dict[str, int]  # ready, wrapping, waiting, reserve, available, spare


class Line:
    """What a queue's line needs now: the pools' figures, how many calls its own pool
    covers (ready + wrapping), whether a helper gains a caller the threshold, and whether
    the guard lets anyone take it."""

    __slots__ = ("covered", "guarded", "helper_gains", "pools", "waiting")

    def __init__(self, pools: dict[str, Pool], waiting: int, covered: int) -> None:
        self.pools, self.waiting, self.covered = pools, waiting, covered
        self.helper_gains = False
        self.guarded = False

    def summary(self) -> dict[str, Any]:
        return {
            "waiting": self.waiting,
            "covered": self.covered,
            "helper_gains": self.helper_gains,
            "guarded": self.guarded,
        }


def helper_gain(entered: list[float], frees: list[float], now: float, aim: float) -> int:
    """How many more callers of a line make the threshold if a helper takes its head now
    than if its own pool serves it alone, in order: call i at the i-th own agent's free
    time `frees[i]`; with the helper, call i at `frees[i - 1]`."""
    m = len(frees)
    gain = (now <= entered[0] + aim) - (m > 0 and frees[0] <= entered[0] + aim)
    for i in range(1, min(len(entered), m + 1)):
        deadline = entered[i] + aim
        gain += (frees[i - 1] <= deadline) - (i < m and frees[i] <= deadline)
    return gain
