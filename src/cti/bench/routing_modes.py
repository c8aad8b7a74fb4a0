"""The routing settings `cti bench routing` compares on a workload: the relaxation
trade-off (delay-based) and the reservation settings (availability-based), each a
scenario for the real ACD core, and the rule that picks the default among them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from cti.bench.routing_days import Figures, reserve_router
from cti.queues.models import RelaxationStep
from cti.sim.routing import Scenario, skills_router
from cti.sim.workload import Workload

L5 = 5  # the workload's secondary-expert level
SL_TARGET, MATCH_TARGET = 0.85, 0.80  # issue 23: what the default mode must reach


def _s(after_s: float, level: int | None = L5, reserve: int = 0) -> RelaxationStep:
    if level is None:
        return RelaxationStep(after_s=after_s, any_agent=True, reserve=reserve)
    return RelaxationStep(after_s=after_s, min_level=level, reserve=reserve)


# Relaxation settings for the trade-off table: secondary experts (level >= 5) after A s,
# anyone after B s; "keep 1" = a helper must leave one expert of its own pool ready.
TRADE_OFF: list[tuple[str, tuple[RelaxationStep, ...]]] = [
    ("experts only", ()),
    ("A=0 B=never", (_s(0),)),
    ("A=5 B=15", (_s(5), _s(15, None))),
    ("A=10 B=15 (default)", (_s(10), _s(15, None))),
    ("A=10 B=20", (_s(10), _s(20, None))),
    ("A=10 B=30", (_s(10), _s(30, None))),
    ("A=15 B=45", (_s(15), _s(45, None))),
    ("A=20 B=never", (_s(20),)),
    ("A=0 keep 1, B=never", (_s(0, reserve=1),)),
    ("A=0 keep 1, B=20", (_s(0, reserve=1), _s(20, None))),
]
RELAXATION_DEFAULT = "A=10 B=15 (default)"

Reserves = Callable[[Workload], dict[str, int]]


def _by_traffic(workload: Workload) -> list[str]:
    """The pools from the busiest topic to the quietest."""
    return sorted((p.primary for p in workload.agents), key=lambda t: -workload.topics[t])


def one_but_quietest(workload: Workload) -> dict[str, int]:
    """About one per pool, none for the quietest (the issue's suggestion)."""
    order = _by_traffic(workload)
    return {t: 0 if t == order[-1] else 1 for t in order}


def two_one_zero(workload: Workload) -> dict[str, int]:
    """Two for the busiest pool, none for the quietest, one for the others."""
    order = _by_traffic(workload)
    return {t: 2 if t == order[0] else 0 if t == order[-1] else 1 for t in order}


def each(n: int) -> Reserves:
    return lambda workload: {p.primary: n for p in workload.agents}


RESERVES: list[tuple[str, Reserves]] = [
    ("r 1, quietest 0", one_but_quietest),
    ("r 2 busiest, 1, quietest 0", two_one_zero),
    ("r 1 each", each(1)),
    ("r 0 each", each(0)),
]
GUARDS: list[float | None] = [180.0, 120.0]


@dataclass(frozen=True, slots=True)
class Mode:
    """One routing setting: its label, its mode and how to build it for a workload."""

    label: str
    mode: str  # "relaxation" | "reservation"
    build: Callable[[Workload], Scenario]


def _relaxed(workload: Workload, steps: tuple[RelaxationStep, ...]) -> Scenario:
    return skills_router(workload, steps)


def reserved(workload: Workload, reserves: Reserves, guard_s: float | None) -> Scenario:
    """The reservation router with these reserves and guard."""
    return reserve_router(workload, reserves(workload), guard_s=guard_s)


def relaxation_modes() -> list[Mode]:
    return [Mode(label, "relaxation", partial(_relaxed, steps=steps)) for label, steps in TRADE_OFF]


def reservation_modes() -> list[Mode]:
    out = [
        Mode(
            f"{label}, guard {guard:g} s",
            "reservation",
            partial(reserved, reserves=r, guard_s=guard),
        )
        for guard in GUARDS
        for label, r in RESERVES
    ]
    label, r = RESERVES[0]
    out.append(
        Mode(f"{label}, no guard", "reservation", partial(reserved, reserves=r, guard_s=None))
    )
    return out


def meets(f: Figures) -> bool:
    return f.sl >= SL_TARGET and f.skill_match >= MATCH_TARGET


def pick_default(results: dict[str, Figures]) -> tuple[str, bool]:
    """The setting meeting SL >= 0.85 with skill match >= 0.80 with the shortest wait
    tail (p99, then max); none: the relaxation default, and False."""
    good = [label for label, f in results.items() if meets(f)]
    if not good:
        return RELAXATION_DEFAULT, False
    return min(good, key=lambda label: (results[label].p99_s, results[label].max_s)), True


def frontier(results: dict[str, Figures]) -> list[str]:
    """The settings no other beats on both SL and skill match, by SL."""
    out = [
        label
        for label, f in results.items()
        if not any(
            g.sl >= f.sl
            and g.skill_match >= f.skill_match
            and (g.sl, g.skill_match) != (f.sl, f.skill_match)
            for g in results.values()
        )
    ]
    return sorted(out, key=lambda label: -results[label].sl)
