"""The calling campaign in simulated time (`cti.sim.campaign`, `cti bench campaign`):
every number is done once, never outside the calling window nor over its attempts, and
the ACD's outbound policy is what holds the campaign back."""

from __future__ import annotations

import json
import subprocess
import sys

from cti.queues.models import OutboundPolicy
from cti.sim.campaign import Campaign, CampaignPlan, run_campaign
from cti.sim.routing import Scenario, skills_router
from cti.sim.workload import default_workload_path, load_workload


def _scenario(policy: OutboundPolicy) -> Scenario:
    wl = load_workload(default_workload_path())
    base = skills_router(wl)
    return Scenario(base.name, base.config.model_copy(update={"outbound": policy}), base.queue_of)


def test_every_number_is_done_once_within_the_window_and_its_attempts() -> None:
    wl = load_workload(default_workload_path())
    plan = CampaignPlan(numbers=200, p_answer=0.4, p_busy=0.2)  # many retries
    policy = OutboundPolicy(inbound_wait_limit_s=0, max_lines=4, keep_ready=4)
    f = run_campaign(wl, _scenario(policy), plan)
    assert f.completed_at_s is not None
    assert sum(f.outcomes.values()) == 200
    assert f.outcomes["failed"] > 0  # some ran out of attempts...
    assert (f.outside_hours, f.over_attempts) == (0, 0)  # ...never over them
    assert 200 < f.placed <= 200 * plan.max_attempts
    assert f.with_campaign.offered == f.without.offered > 0  # the same inbound days


def test_the_acd_policy_holds_the_campaign_back() -> None:
    wl = load_workload(default_workload_path())
    plan = CampaignPlan(numbers=50, max_days=1)
    none = run_campaign(wl, _scenario(OutboundPolicy(max_lines=0)), plan)
    assert (none.placed, none.completed_at_s) == (0, None)
    assert none.refusals["lines_busy"] > 0
    assert none.with_campaign.sl == none.without.sl  # no campaign: the same day exactly


def test_a_retry_waits_its_time_and_counts_its_attempt() -> None:
    run = Campaign(CampaignPlan(numbers=1, max_attempts=2, retry_after_s=3600))
    assert run.next_due(0.0) == 0
    run.placed(0, 10.0, 28_800)
    run.finished(0, "no_answer", 40.0)
    assert run.next_due(3000.0) is None  # not before its hour
    assert run.next_due(3640.0) == 0
    run.placed(0, 3640.0, 28_800)
    run.finished(0, "no_answer", 3670.0)  # the last attempt
    assert run.figures.outcomes == {"failed": 1}
    assert run.left == 0


def test_the_bench_prints_its_figures_and_a_json_last_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cti", "bench", "campaign", "--numbers", "60"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert "inbound SL change" in out
    last = json.loads(out.strip().splitlines()[-1])
    assert last["numbers"] == 60
    assert (last["calls_outside_hours"], last["numbers_over_attempts"]) == (0, 0)
    assert last["campaign_completion_days"] is not None
    assert abs(last["inbound_sl_change"]) < 0.2
