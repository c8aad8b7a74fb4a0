"""`cti bench routing WORKLOAD`: the ACD core in simulated time against the workload's
two references (siloed per-topic FCFS, pooled FCFS), the relaxation (delay-based) and
reservation (availability-based) settings with their wait tails, the default picked by
the issue's target, the time one engine step takes with 30 and with 1,000 agents;
`--days N` the same on N further days (seeds after the reference's), `--what-if` the
frontier each staffing change gives (routing_whatif.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from cti.bench.routing_days import Figures, run_days
from cti.bench.routing_modes import (
    MATCH_TARGET,
    RELAXATION_DEFAULT,
    SL_TARGET,
    Mode,
    pick_default,
    relaxation_modes,
    reservation_modes,
)
from cti.bench.routing_whatif import variants, what_if
from cti.sim.routing import pooled_fcfs, siloed_fcfs
from cti.sim.workload import Workload, default_workload_path, load_workload

TIMING_HOURS = 2.0  # simulated hours per decision-time run
HEADER = (
    f"{'':<40} {'offered':>7} {'SL':>6} {'abandon':>8} {'ASA s':>6} {'skill':>7} "
    f"{'EWT err':>8} {'p99 s':>6} {'max s':>6}"
)


def figures(f: Figures) -> dict[str, float]:
    return {
        "sl": round(f.sl, 3),
        "abandon": round(f.abandon, 3),
        "asa_s": round(f.asa_s, 1),
        "skill_match": round(f.skill_match, 3),
        "wait_p99_s": round(f.p99_s, 1),
        "wait_max_s": round(f.max_s, 1),
    }


def row(label: str, f: Figures) -> str:
    return (
        f"{label:<40} {f.offered:>7} {f.sl:>6.3f} {f.abandon:>8.3f} {f.asa_s:>6.1f} "
        f"{f.skill_match:>7.3f} {f.ewt_mae_s:>8.1f} {f.p99_s:>6.0f} {f.max_s:>6.0f}"
    )


def _table(workload: Workload, modes: list[Mode], days: range) -> dict[str, Figures]:
    print(HEADER)
    out = {}
    for mode in modes:
        out[mode.label] = run_days(workload, mode.build(workload), days)
        print(row(mode.label, out[mode.label]), flush=True)
    return out


def _timing(workload: Workload, mode: Mode, agents: int) -> Figures:
    scaled = workload.scaled(agents).model_copy(update={"duration_s": TIMING_HOURS * 3600})
    return run_days(scaled, mode.build(scaled), range(1), timed=True)


def run(
    workload_path: Path | None,
    replications: int | None,
    days: int = 0,
    what_ifs: list[str] | None = None,
) -> int:
    workload = load_workload(workload_path or default_workload_path())
    reps = replications or workload.replications
    if what_ifs is not None:
        try:
            variants(workload, what_ifs)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    reference = range(reps)
    started = time.perf_counter()
    print(
        f"workload {workload.name}: {workload.agent_count} agents, "
        f"{workload.arrivals.calls_per_hour:g} calls/h, {reps} x {workload.duration_s / 3600:g} h "
        f"(warm-up {workload.warmup_s:g} s), SL threshold {workload.service_level_threshold_s:g} s"
    )
    refs = [
        Mode("siloed", "reference", siloed_fcfs),
        Mode("pooled", "reference", pooled_fcfs),
    ]
    print("references (FCFS):")
    ref = _table(workload, refs, reference)
    print("\nrelaxation (delay-based; level >= 5 after A s, anyone after B s):")
    relax = _table(workload, relaxation_modes(), reference)
    print("\nreservation (availability-based; reserves per pool, long-wait guard):")
    reserve = _table(workload, reservation_modes(), reference)
    modes = {m.label: m for m in (*relaxation_modes(), *reservation_modes())}
    results = {**relax, **reserve}
    default, met = pick_default(results)
    target = f"SL >= {SL_TARGET} with skill match >= {MATCH_TARGET}"
    if met:
        print(f"\ndefault: {modes[default].mode} '{default}' ({target}, shortest wait tail)")
    else:
        print(f"\nno setting reaches {target}: the default stays relaxation '{default}'")
    further: dict[str, Any] = {}
    if days > 0:
        extra = range(workload.replications, workload.replications + days)
        print(f"\n{days} further days (seeds {workload.seed + extra.start}..):")
        chosen = [m for m in (*refs, *modes.values()) if m.label in {default, RELAXATION_DEFAULT}]
        chosen += [m for m in reservation_modes() if m.label.endswith("guard 180 s")][:1]
        chosen += [m for m in reservation_modes() if m.label.endswith("no guard")]
        further = {
            label: figures(f)
            for label, f in _table(
                workload, list({m.label: m for m in chosen}.values()), extra
            ).items()
        }
    hours = f"{TIMING_HOURS:g} simulated hours"
    print(f"\ndecision time per engine step ({hours}, load scaled to agents):")
    timing: dict[tuple[str, int], Figures] = {}
    for label in dict.fromkeys((default, RELAXATION_DEFAULT)):
        for agents in (30, 1000):
            timing[label, agents] = t = _timing(workload, modes[label], agents)
            print(
                f"  {label:<40} {agents:>5} agents: {len(t.decision_ns):>7} steps"
                f"  p50 {t.decision_us(0.5):7.1f} us  p99 {t.decision_us(0.99):7.1f} us"
            )
    whatif = what_if(workload, what_ifs, reference, modes[default]) if what_ifs is not None else []
    print(f"(took {time.perf_counter() - started:.1f} s of wall time)")
    summary: dict[str, Any] = {
        "router": figures(results[default]),
        "router_mode": modes[default].mode,
        "router_setting": default,
        "router_meets_target": met,
        "siloed": figures(ref["siloed"]),
        "pooled": figures(ref["pooled"]),
        "trade_off": [{"relaxation": k, **figures(v)} for k, v in relax.items()],
        "reservation": [{"reservation": k, **figures(v)} for k, v in reserve.items()],
        "decision_p50_us_30_agents": round(timing[default, 30].decision_us(0.5), 1),
        "decision_p99_us_30_agents": round(timing[default, 30].decision_us(0.99), 1),
        "decision_p50_us_1000_agents": round(timing[default, 1000].decision_us(0.5), 1),
        "decision_p99_us_1000_agents": round(timing[default, 1000].decision_us(0.99), 1),
    }
    if further:
        summary["further_days"] = {"days": days, **further}
    if whatif:
        summary["what_if"] = whatif
    print(json.dumps(summary))
    return 0
