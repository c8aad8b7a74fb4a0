"""The routing simulation against the figures the workload file gives for plain FCFS,
and the workload loader's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cti.config import ConfigError
from cti.sim.routing import pooled_fcfs, siloed_fcfs, simulate, skills_router
from cti.sim.workload import default_workload_path, generate_calls, load_workload


@pytest.fixture(scope="module")
def workload():  # type: ignore[no-untyped-def]
    return load_workload(default_workload_path())


def test_fcfs_references_match_the_workload_file(workload) -> None:  # type: ignore[no-untyped-def]
    # The file says: siloed SL 0.66, abandon 0.13, ASA 19 s; pooled SL 0.87, abandon 0.03, ASA 5 s.
    siloed = simulate(workload, siloed_fcfs(workload), replications=4)
    pooled = simulate(workload, pooled_fcfs(workload), replications=4)
    assert 0.60 <= siloed.sl <= 0.72
    assert 0.09 <= siloed.abandon <= 0.17
    assert 14 <= siloed.asa_s <= 24
    assert siloed.skill_match == 1.0
    assert 0.83 <= pooled.sl <= 0.91
    assert pooled.abandon <= 0.05
    assert pooled.asa_s <= 8
    assert pooled.offered == siloed.offered > 8000


def test_skills_router_beats_siloed_and_keeps_more_experts_than_pooled(workload) -> None:  # type: ignore[no-untyped-def]
    router = simulate(workload, skills_router(workload), replications=4)
    pooled = simulate(workload, pooled_fcfs(workload), replications=4)
    assert router.sl >= 0.85
    assert router.skill_match > pooled.skill_match + 0.3


def test_calls_are_reproducible_from_the_seed(workload) -> None:  # type: ignore[no-untyped-def]
    assert generate_calls(workload, 3) == generate_calls(workload, 3)
    assert generate_calls(workload, 3) != generate_calls(workload, 4)
    calls = generate_calls(workload, 0)
    shares = {t: sum(c.topic == t for c in calls) / len(calls) for t in workload.topics}
    assert shares["social_assistance"] == pytest.approx(0.35, abs=0.04)


def test_scaling_keeps_the_load_per_agent(workload) -> None:  # type: ignore[no-untyped-def]
    big = workload.scaled(1000)
    assert big.agent_count == 1000
    assert big.arrivals.calls_per_hour == pytest.approx(300 * 40)


def test_bad_workload_names_the_field(tmp_path: Path) -> None:
    data = yaml.safe_load(default_workload_path().read_text(encoding="utf-8"))
    data["topics"]["employment"] = 0.5
    data["patience"]["distribution"] = "gamma"
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_workload(path)
    text = str(exc.value)
    assert "patience.distribution" in text
