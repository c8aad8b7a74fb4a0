"""`cti bench routing --what-if`: staffing changes and the SL / skill-match frontier each
gives — the first step to staffing advice.

A change is `add:POOL` (one more agent in the pool of that primary topic) or
`train:POOL:TOPIC` (that pool's agents at level 7 in TOPIC). With no change named, every
pool +1 and every pool cross-trained in its first secondary topic. Each variant runs the
relaxation default, two relaxation settings that favour experts, and the reservation
settings at the default's guard; its frontier is the settings no other beats on both.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from cti.bench.routing_days import Figures, add_agent, cross_train, run_days
from cti.bench.routing_modes import (
    MATCH_TARGET,
    RELAXATION_DEFAULT,
    RESERVES,
    Mode,
    frontier,
    relaxation_modes,
    reserved,
)
from cti.sim.routing import Scenario
from cti.sim.workload import Workload

FRONTIER_RELAXATION = (RELAXATION_DEFAULT, "A=20 B=never", "A=0 keep 1, B=20")
CROSS_LEVEL = 7

Variant = tuple[str, Workload, Callable[[Scenario], Scenario]]


def variants(workload: Workload, specs: list[str]) -> list[Variant]:
    """The baseline and the named changes (ValueError naming a bad one)."""
    pools = {p.primary: p for p in workload.agents}
    if not specs:
        specs = [f"add:{t}" for t in pools]
        specs += [f"train:{t}:{p.secondary[0]}" for t, p in pools.items() if p.secondary]
    out: list[Variant] = [("baseline", workload, _same)]
    for spec in specs:
        kind, *args = spec.split(":")
        if kind == "add" and len(args) == 1 and args[0] in pools:
            out.append((f"+1 {args[0]}", add_agent(workload, args[0]), _same))
        elif kind == "train" and len(args) == 2 and args[0] in pools and args[1] in workload.topics:
            pool, topic = args
            out.append(
                (
                    f"{pool} at {CROSS_LEVEL} in {topic}",
                    workload,
                    partial(cross_train, pool=pool, topic=topic, level=CROSS_LEVEL),
                )
            )
        else:
            raise ValueError(
                f"what-if {spec!r}: use add:POOL or train:POOL:TOPIC with POOL one of "
                f"{sorted(pools)} and TOPIC one of {sorted(workload.topics)}"
            )
    return out


def _settings(default: Mode) -> list[Mode]:
    relax = [m for m in relaxation_modes() if m.label in FRONTIER_RELAXATION]
    guard = 180.0
    if default.mode == "reservation" and "guard" in default.label:
        guard = float(default.label.rsplit("guard ", 1)[1].split()[0])
    reserve = [
        Mode(
            f"{label}, guard {guard:g} s",
            "reservation",
            partial(reserved, reserves=r, guard_s=guard),
        )
        for label, r in RESERVES
    ]
    return relax + reserve


def what_if(
    workload: Workload, specs: list[str], days: range, default: Mode
) -> list[dict[str, Any]]:
    """Print and return each variant's frontier (SL, skill match, wait p99)."""
    found = variants(workload, specs)
    settings = _settings(default)
    print(f"\nwhat-if ({len(days)} days each; frontier = settings no other beats on both):")
    out = []
    for name, changed, transform in found:
        results: dict[str, Figures] = {}
        for mode in settings:
            results[mode.label] = run_days(changed, transform(mode.build(changed)), days)
        best = _best(results)
        points = [
            {
                "setting": label,
                "sl": round(results[label].sl, 3),
                "skill_match": round(results[label].skill_match, 3),
                "wait_p99_s": round(results[label].p99_s, 1),
            }
            for label in frontier(results)
        ]
        text = "  ".join(f"{p['sl']:.3f}/{p['skill_match']:.3f}" for p in points)
        headline = f"best SL at match >= {MATCH_TARGET}: " + (
            f"{results[best].sl:.3f} ({best})" if best else "none"
        )
        print(f"  {name:<40} SL/match {text}\n  {'':<40} {headline}", flush=True)
        at_target = {"setting": best, "sl": round(results[best].sl, 3)} if best else None
        out.append({"variant": name, "frontier": points, "best_at_target_match": at_target})
    return out


def _same(scenario: Scenario) -> Scenario:
    return scenario


def _best(results: dict[str, Figures]) -> str | None:
    good = [label for label, f in results.items() if f.skill_match >= MATCH_TARGET]
    return max(good, key=lambda label: results[label].sl) if good else None
