"""The ACD's live records: agents, calls and queues as the engine keeps them.

Mutable and internal to the engine's parts; the rest of the program sees views.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cti.queues.models import AgentProfile, AgentState, QueueConfig
from cti.queues.stats import AgentStats, QueueStats

CallState = Literal["waiting", "offered", "connected"]
Requirement = dict[str, int] | None  # skill -> min level; None: any agent of the queue


@dataclass(slots=True, eq=False)
class Agent:
    profile: AgentProfile
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    call: Call | None = None
    wrap_until: float = 0.0
    pending: tuple[AgentState, str | None] | None = None  # applied when wrap-up ends
    reachable: bool = True
    stats: AgentStats = field(default_factory=AgentStats)


@dataclass(slots=True, eq=False)
class Call:
    id: str
    queue: str
    priority: int
    arrived: float  # first arrival in the ACD
    entered: float  # joined the current queue's line: its place
    seq: int
    key: tuple[float, float, int] = (0.0, 0.0, 0)
    state: CallState = "waiting"
    agent: Agent | None = None
    offered_at: float = 0.0
    answered_at: float = 0.0
    step: int = 0  # relaxation steps in force
    # Bumps on every state change; stale timers compare it. It starts at seq << 20 so
    # that a call id that comes back (a transfer: a new arrival with the same id) never
    # matches the timers left by its earlier life.
    epoch: int = 0
    callback_number: str | None = None
    calling_back: bool = False  # the current offer is the callback to the citizen
    # An agent's own call to a citizen (click-to-call, a notification): never in a line,
    # never in the queue's inbound figures; unanswered, it is over.
    outbound: bool = False
    task: bool = False  # placed for a task (not her own click-to-call): inbound first
    overflow_offered: bool = False
    held_since: float | None = None  # on hold (answered calls only)

    def __post_init__(self) -> None:
        self.epoch = self.seq << 20


@dataclass(slots=True, eq=False)
class Queue:
    name: str
    config: QueueConfig
    requirements: list[Requirement]  # index = relaxation steps in force
    reserves: list[int]  # experts a helper must leave ready at home, per step
    waiting: list[tuple[tuple[float, float, int], str]] = field(default_factory=list)
    ready: dict[str, Agent] = field(default_factory=dict)  # ready, reachable members
    members: dict[str, Agent] = field(default_factory=dict)  # logged-in members
    not_ready: set[str] = field(default_factory=set)  # members not ready (expected wait)
    ready_experts: set[str] = field(default_factory=set)  # ready members at base level
    # `ready` in routing order: (-level or 0, idle since, id), and each member's key.
    ready_order: list[tuple[int, float, str]] = field(default_factory=list)
    ready_keys: dict[str, tuple[int, float, str]] = field(default_factory=dict)
    # The queue's pool (agents whose home, first, queue it is): the ready ones and
    # those in wrap-up, for reservation routing (reservation.py).
    pool_ready: dict[str, Agent] = field(default_factory=dict)
    pool_wrapping: dict[str, Agent] = field(default_factory=dict)
    stats: QueueStats = field(default_factory=QueueStats)
