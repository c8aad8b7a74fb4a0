"""`cti bench routing WORKLOAD`: the ACD core in simulated time against the workload's
two references (siloed per-topic FCFS, pooled FCFS), a relaxation trade-off, and the
time one engine step takes with 30 and with 1,000 agents."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cti.queues.models import RelaxationStep
from cti.sim.routing import (
    RoutingResult,
    Scenario,
    pooled_fcfs,
    siloed_fcfs,
    simulate,
    skills_router,
)
from cti.sim.workload import Workload, default_workload_path, load_workload

L5 = 5  # the workload's secondary-expert level


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
TIMING_HOURS = 2.0  # simulated hours per decision-time run


def _figures(r: RoutingResult) -> dict[str, float]:
    return {
        "sl": round(r.sl, 3),
        "abandon": round(r.abandon, 3),
        "asa_s": round(r.asa_s, 1),
        "skill_match": round(r.skill_match, 3),
    }


def _row(label: str, r: RoutingResult) -> str:
    return (
        f"{label:<28} {r.offered:>7} {r.sl:>6.3f} {r.abandon:>8.3f} {r.asa_s:>6.1f} "
        f"{r.skill_match:>7.3f} {r.ewt_mae_s():>8.1f}"
    )


def _timing(workload: Workload, agents: int) -> RoutingResult:
    scaled = workload.scaled(agents)
    return simulate(
        scaled,
        skills_router(scaled),
        replications=1,
        duration_s=TIMING_HOURS * 3600,
        time_decisions=True,
    )


def run(workload_path: Path | None, replications: int | None) -> int:
    workload = load_workload(workload_path or default_workload_path())
    reps = replications or workload.replications
    started = time.perf_counter()
    print(
        f"workload {workload.name}: {workload.agent_count} agents, "
        f"{workload.arrivals.calls_per_hour:g} calls/h, {reps} x {workload.duration_s / 3600:g} h "
        f"(warm-up {workload.warmup_s:g} s), SL threshold {workload.service_level_threshold_s:g} s"
    )
    header = (
        f"{'':<28} {'offered':>7} {'SL':>6} {'abandon':>8} {'ASA s':>6} {'skill':>7} {'EWT err':>8}"
    )
    print(header)
    results: dict[str, RoutingResult] = {}
    scenarios: list[Scenario] = [
        skills_router(workload),
        siloed_fcfs(workload),
        pooled_fcfs(workload),
    ]
    for scenario in scenarios:
        results[scenario.name] = simulate(workload, scenario, reps)
        print(_row(scenario.name, results[scenario.name]))
    print()
    print("relaxation trade-off (router; level >= 5 after A s, anyone after B s):")
    print(header)
    trade: list[dict[str, Any]] = []
    for label, steps in TRADE_OFF:
        r = simulate(workload, skills_router(workload, steps), reps)
        print(_row(label, r))
        trade.append({"relaxation": label, **_figures(r)})
    print()
    print(
        f"decision time per engine step ({TIMING_HOURS:g} simulated hours, load scaled to agents):"
    )
    timing: dict[int, RoutingResult] = {}
    for agents in (30, 1000):
        timing[agents] = t = _timing(workload, agents)
        print(
            f"  {agents:>5} agents: {len(t.decision_ns):>7} steps  p50 {t.decision_us(0.5):7.1f} us"
            f"  p99 {t.decision_us(0.99):7.1f} us  max {t.decision_us(1.0):8.1f} us"
        )
    print(f"(took {time.perf_counter() - started:.1f} s of wall time)")
    print(
        json.dumps(
            {
                "router": _figures(results["router"]),
                "siloed": _figures(results["siloed"]),
                "pooled": _figures(results["pooled"]),
                "trade_off": trade,
                "decision_p50_us_30_agents": round(timing[30].decision_us(0.5), 1),
                "decision_p99_us_30_agents": round(timing[30].decision_us(0.99), 1),
                "decision_p50_us_1000_agents": round(timing[1000].decision_us(0.5), 1),
                "decision_p99_us_1000_agents": round(timing[1000].decision_us(0.99), 1),
            }
        )
    )
    return 0
