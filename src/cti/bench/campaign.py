"""`cti bench campaign`: telling `numbers` citizens a result, in simulated time beside the
reference inbound load, through the real ACD core and its outbound policy
(`cti.sim.campaign`). Prints the campaign's course and the inbound figures with and
without it over the same days; last line JSON (`campaign_completion_days`,
`calls_outside_hours`, `numbers_over_attempts`, `inbound_sl_change`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cti.queues.models import OutboundPolicy
from cti.sim.campaign import DAY_S, CampaignPlan, run_campaign
from cti.sim.routing import Scenario, skills_router
from cti.sim.workload import default_workload_path, load_workload

# The policy deploy/acd.yaml ships, chosen with this bench (docs/outbound.md).
POLICY = OutboundPolicy(inbound_wait_limit_s=0.0, max_lines=4, keep_ready=6)


def run(workload_path: Path | None, numbers: int, policy: OutboundPolicy = POLICY) -> int:
    started = time.perf_counter()
    workload = load_workload(workload_path or default_workload_path())
    base = skills_router(workload)
    scenario = Scenario(
        base.name, base.config.model_copy(update={"outbound": policy}), base.queue_of
    )
    plan = CampaignPlan(numbers=numbers)
    print(
        f"campaign: {numbers} numbers to tell a result, beside {workload.name}"
        f" ({workload.arrivals.calls_per_hour:g} inbound calls/h, {workload.agent_count} agents,"
        f" {workload.duration_s / 3600:g} h a day = the calling window)"
    )
    print(
        f"policy: keep {policy.keep_ready} agents of her queues ready, {policy.max_lines} lines,"
        f" no task call while a caller has waited over {policy.inbound_wait_limit_s:g} s;"
        f" {plan.max_attempts} attempts, {plan.retry_after_s / 3600:g} h apart"
    )
    f = run_campaign(workload, scenario, plan)
    done = f.completed_at_s
    # In calling days: whole days before the last one, and the share of its window used.
    days = None if done is None else done // DAY_S + (done % DAY_S) / workload.duration_s
    print(f"\n{'figure':<44}{'value':>14}")
    rows: list[tuple[str, Any]] = [
        ("days simulated", f.days),
        ("completed after (calling days)", "not within" if days is None else round(days, 2)),
        ("calls placed", f.placed),
        ("calls placed outside the calling window", f.outside_hours),
        ("numbers tried more often than allowed", f.over_attempts),
        *((f"outcome: {k}", v) for k, v in sorted(f.outcomes.items())),
        *((f"placements the ACD refused: {k}", v) for k, v in sorted(f.refusals.items())),
        ("inbound SL with the campaign", round(f.with_campaign.sl, 4)),
        ("inbound SL without (same days)", round(f.without.sl, 4)),
        ("inbound SL change", round(f.sl_change, 4)),
        (
            "inbound abandon with / without",
            f"{f.with_campaign.abandon:.3f} / {f.without.abandon:.3f}",
        ),
    ]
    for name, value in rows:
        print(f"{name:<44}{value!s:>14}")
    print(f"(took {time.perf_counter() - started:.1f} s of wall time)")
    summary = {
        "numbers": numbers,
        "campaign_completion_days": None if days is None else round(days, 2),
        "days_simulated": f.days,
        "calls_placed": f.placed,
        "calls_outside_hours": f.outside_hours,
        "numbers_over_attempts": f.over_attempts,
        "outcomes": f.outcomes,
        "refusals": f.refusals,
        "inbound_sl_with": round(f.with_campaign.sl, 4),
        "inbound_sl_without": round(f.without.sl, 4),
        "inbound_sl_change": round(f.sl_change, 4),
        "policy": policy.model_dump(),
    }
    print(json.dumps(summary))
    return 0
