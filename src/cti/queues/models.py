"""ACD configuration (queues, not-ready reasons, routing policy) and agent profiles.

Loaded from YAML and validated with pydantic; every problem names the queue and field
(`queues.benefits.relaxation.1.after_s: must be increasing`).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from cti.config import Names, load_yaml_model


class AgentState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RESERVED = "reserved"  # a call is offered: the agent's phone rings
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"


def _name(value: str) -> str:
    if not value or len(value) > 64 or not all(c.isalnum() or c in "_-." for c in value):
        raise ValueError(f"must be 1-64 letters, digits, '_', '-' or '.', got {value!r}")
    return value


Name = Annotated[str, AfterValidator(_name)]
Level = Annotated[int, Field(ge=1, le=10)]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]

# Reasons the ACD itself puts agents in; a configuration must not redefine them.
MISSED = "missed"  # the agent did not answer an offered call (ring-no-answer)
UNREACHABLE = "unreachable"  # the agent's phone could not be rung
LOGIN = "login"  # just logged in, not yet ready
SYSTEM_REASONS = frozenset({MISSED, UNREACHABLE, LOGIN})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelaxationStep(_Model):
    """From `after_s` of waiting on, accept agents at `min_level` (or any agent)."""

    after_s: NonNegative
    min_level: Level | None = None
    any_agent: bool = False
    # While this step is in force, an agent below the queue's unrelaxed levels (a
    # helper) takes the call only if `reserve` other experts of its own home queue
    # (its first queue) stay ready: helping must not leave its own callers unserved.
    reserve: int = Field(default=0, ge=0, le=100)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.min_level is None) == (not self.any_agent):
            raise ValueError("give exactly one of min_level or any_agent: true")
        return self


class Overflow(_Model):
    """What happens to a call that waited `max_wait_s` or found the queue full."""

    action: Literal["callback", "voicemail", "queue", "fallback"]
    # For action=queue: the queue the call moves to.
    target: Name | None = None

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.action == "queue" and self.target is None:
            raise ValueError("action 'queue' needs a target queue")
        if self.action != "queue" and self.target is not None:
            raise ValueError(f"action {self.action!r} takes no target")
        return self


class QueueConfig(_Model):
    """A routing target and its rules."""

    names: Names = Field(default_factory=dict)  # as people see it, per language
    skills: dict[Name, Level] = Field(default_factory=dict)  # required skill -> min level
    priority: int = Field(default=0, ge=-100, le=100)
    relaxation: tuple[RelaxationStep, ...] = ()
    max_wait_s: Positive | None = None
    max_length: int | None = Field(default=None, ge=0)
    overflow: Overflow | None = None
    service_level_s: Positive = 20.0
    # The share of calls to answer within service_level_s (the wallboard's colour).
    service_level_target: float = Field(default=0.8, gt=0, le=1)
    wrap_up_s: NonNegative = 20.0
    ring_timeout_s: Positive = 15.0
    # Position / expected-wait announcement to waiting callers every N s (None: never).
    announce_every_s: Positive | None = None
    # Expected handling time (talk + wrap-up) until the queue has its own history.
    default_handle_s: Positive = 300.0

    @model_validator(mode="after")
    def _rules(self) -> Self:
        times = [step.after_s for step in self.relaxation]
        if times != sorted(set(times)):
            raise ValueError("relaxation steps must have strictly increasing after_s")
        if (self.max_wait_s is not None or self.max_length is not None) and not self.overflow:
            raise ValueError("max_wait_s / max_length need an overflow action")
        return self


class OutboundPolicy(_Model):
    """Calls the centre places for tasks (telling citizens a result): inbound first.
    An agent's own click-to-call is hers to decide and is not held back."""

    # No task call takes an agent while a caller of one of her queues has waited longer.
    inbound_wait_limit_s: NonNegative = 20.0
    # Task calls in progress at once (lines of the trunk the centre lends them).
    max_lines: Annotated[int, Field(ge=0, le=1000)] = 10
    # Agents of her queues who must stay ready for inbound callers when she takes one.
    keep_ready: Annotated[int, Field(ge=0, le=1000)] = 0


class ReservationGroup(_Model):
    """Queues routed by availability-based reservation (docs/acd.md, "Reservation").

    Each queue's *pool* is the agents whose home queue (first queue) it is. A call goes
    to its own pool when an agent there is ready or ends wrap-up within `service_level_s`;
    otherwise it may borrow an agent of another pool of the group only while that pool
    keeps more than `queues[pool]` agents available, and only while some uncovered call
    can still be answered within `service_level_s`. From `guard_s` of waiting on, any
    agent of the queue may take it, reserves or not.
    """

    queues: dict[Name, Annotated[int, Field(ge=0, le=100)]]  # queue (pool) -> reserve
    service_level_s: Positive = 20.0
    guard_s: Positive | None = 180.0

    @model_validator(mode="after")
    def _some(self) -> Self:
        if not self.queues:
            raise ValueError("a reservation group needs at least one queue")
        return self


class AgentProfile(_Model):
    """Who an agent is to the ACD: phone endpoint, skills, queues in preference order."""

    id: Name
    endpoint: str = Field(min_length=1, max_length=128)  # e.g. PJSIP/agent-1001
    name: str | None = Field(default=None, min_length=1, max_length=128)  # as people see it
    skills: dict[Name, Level] = Field(default_factory=dict)
    queues: tuple[Name, ...] = ()
    # The agent's own after-call work and ring time, over the queue's (None: the
    # queue's). Amazon Connect sets ACW per user; the demo's person works at human pace.
    wrap_up_s: NonNegative | None = None
    ring_timeout_s: Positive | None = None


class AcdConfig(_Model):
    """The whole ACD: queues, not-ready reasons and the routing policy."""

    queues: dict[Name, QueueConfig]
    not_ready_reasons: tuple[Name, ...] = ("break", "lunch", "training", "meeting", "admin")
    # Which ready agent gets a call: the best skill level for the call, then the
    # longest idle ("best_level"); or simply the longest idle ("longest_idle").
    agent_selection: Literal["best_level", "longest_idle"] = "best_level"
    # Effective priority of a waiting call = priority + ageing_per_s * seconds waited.
    # A positive value means a low-priority call is never starved.
    ageing_per_s: NonNegative = 1 / 60
    # Priority points a ready agent adds to calls of queues whose unrelaxed skill
    # requirements it meets: it takes a call it is expert for unless another has
    # waited match_bonus / ageing_per_s seconds longer (default: 1 point = 60 s).
    match_bonus: NonNegative = 1.0
    # Queue groups routed by availability-based reservation instead of relaxation.
    groups: dict[Name, ReservationGroup] = Field(default_factory=dict)
    outbound: OutboundPolicy = OutboundPolicy()
    agents: tuple[AgentProfile, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = []
        for name, queue in self.queues.items():
            if queue.overflow and queue.overflow.target is not None:
                if queue.overflow.target not in self.queues:
                    problems.append(
                        f"queue {name}: overflow target {queue.overflow.target!r} is not a queue"
                    )
                elif queue.overflow.target == name:
                    problems.append(f"queue {name}: overflow target is the queue itself")
        grouped: dict[str, str] = {}
        for group_name, group in self.groups.items():
            for name in group.queues:
                if name not in self.queues:
                    problems.append(f"group {group_name}: {name!r} is not a queue")
                elif name in grouped:
                    problems.append(f"group {group_name}: queue {name} is in {grouped[name]}")
                grouped.setdefault(name, group_name)
        clash = SYSTEM_REASONS & set(self.not_ready_reasons)
        if clash:
            problems.append(f"not_ready_reasons: {sorted(clash)} are reserved for the ACD")
        seen: set[str] = set()
        for agent in self.agents:
            if agent.id in seen:
                problems.append(f"agents: duplicate id {agent.id!r}")
            seen.add(agent.id)
            unknown = [q for q in agent.queues if q not in self.queues]
            if unknown:
                problems.append(f"agent {agent.id}: unknown queues {unknown}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_acd_config(path: Path) -> AcdConfig:
    """Read and validate an ACD file; ConfigError names every bad field."""
    return load_yaml_model(path, AcdConfig)
