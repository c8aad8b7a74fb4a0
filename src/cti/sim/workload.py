"""Workload files: arrivals, topic mix, handling, patience and agent pools of a hotline,
plus seeded generators of calls from them. The reference one ships in `data/`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cti.config import load_yaml_model

Positive = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arrivals(_Model):
    process: Literal["poisson"]
    calls_per_hour: Positive


class Distribution(_Model):
    distribution: Literal["exponential", "fixed"]
    mean_s: Positive

    def sample(self, rng: random.Random) -> float:
        if self.distribution == "fixed":
            return self.mean_s
        return rng.expovariate(1.0 / self.mean_s)


class AgentPool(_Model):
    count: Annotated[int, Field(ge=1)]
    primary: str
    secondary: tuple[str, ...] = ()


class Workload(_Model):
    name: str
    seed: int
    replications: Annotated[int, Field(ge=1)] = 1
    duration_s: Positive
    warmup_s: Annotated[float, Field(ge=0)] = 0.0
    service_level_threshold_s: Positive
    arrivals: Arrivals
    topics: dict[str, Annotated[float, Field(gt=0)]]
    handling_time: Distribution
    wrap_up_s: Annotated[float, Field(ge=0)] = 0.0
    patience: Distribution
    required_level: Annotated[int, Field(ge=1, le=10)] = 1
    agents: tuple[AgentPool, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        total = sum(self.topics.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"topic shares must add up to 1, got {total:.4f}")
        for pool in self.agents:
            unknown = [t for t in (pool.primary, *pool.secondary) if t not in self.topics]
            if unknown:
                raise ValueError(f"agent pool {pool.primary}: unknown topics {unknown}")
        if self.warmup_s >= self.duration_s:
            raise ValueError("warmup_s must be shorter than duration_s")
        return self

    @property
    def agent_count(self) -> int:
        return sum(p.count for p in self.agents)

    def scaled(self, agents: int) -> Workload:
        """The same hotline with `agents` agents and proportionally more calls."""
        factor = agents / self.agent_count
        pools = []
        left = agents
        for i, pool in enumerate(self.agents):
            count = left if i == len(self.agents) - 1 else max(1, round(pool.count * factor))
            left -= count
            pools.append(pool.model_copy(update={"count": count}))
        if left < 0 or pools[-1].count < 1:
            raise ValueError(f"cannot scale {self.agent_count} agents to {agents}")
        arrivals = self.arrivals.model_copy(
            update={"calls_per_hour": self.arrivals.calls_per_hour * factor}
        )
        return self.model_copy(update={"agents": tuple(pools), "arrivals": arrivals})


@dataclass(frozen=True, slots=True)
class CallPlan:
    """One citizen's call as the workload draws it."""

    id: str
    arrival_s: float
    topic: str
    handling_s: float
    patience_s: float


def generate_calls(workload: Workload, replication: int = 0) -> list[CallPlan]:
    """The calls of one replication (seed + replication), in arrival order."""
    rng = random.Random(workload.seed + replication)
    rate = workload.arrivals.calls_per_hour / 3600.0
    topics = list(workload.topics)
    weights = list(workload.topics.values())
    calls = []
    t = rng.expovariate(rate)
    n = 0
    while t < workload.duration_s:
        n += 1
        topic = rng.choices(topics, weights)[0]
        calls.append(
            CallPlan(
                f"r{replication}-c{n}",
                t,
                topic,
                workload.handling_time.sample(rng),
                workload.patience.sample(rng),
            )
        )
        t += rng.expovariate(rate)
    return calls


def load_workload(path: Path) -> Workload:
    """Read and validate a workload file; ConfigError names every bad field."""
    return load_yaml_model(path, Workload)


def default_workload_path() -> Path:
    """The reference workload, `hotline-reference.yaml`, shipped with the package."""
    return Path(__file__).resolve().parent / "data" / "hotline-reference.yaml"
