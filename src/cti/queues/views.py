"""Read-only snapshots of the ACD's agents, calls and queues for the API and the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cti.queues.models import AgentState
from cti.queues.routing import Routing
from cti.queues.state import Agent, Call, CallState, Queue


@dataclass(frozen=True, slots=True)
class AgentView:
    id: str
    state: AgentState
    reason: str | None
    since: float
    call: str | None
    pending: str | None
    reachable: bool
    pending_reason: str | None = None  # the not-ready reason asked for during the call
    wrap_until: float | None = None  # when the wrap-up ends (ACD time), in wrap-up only


@dataclass(frozen=True, slots=True)
class CallView:
    id: str
    queue: str
    state: CallState
    agent: str | None
    entered: float
    arrived: float
    callback_number: str | None
    held: bool = False
    outbound: bool = False  # an agent's own call (click-to-call): in no queue's figures


@dataclass(frozen=True, slots=True)
class QueueView:
    name: str
    waiting: int
    ringing: int
    longest_wait_s: float
    agents_logged_in: int
    agents_ready: int
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    service_level: float | None
    abandon_rate: float | None
    asa_s: float | None
    aht_s: float | None
    expected_wait_s: float | None  # for a caller joining now


def agent_view(a: Agent) -> AgentView:
    return AgentView(
        a.profile.id,
        a.state,
        a.reason,
        a.since,
        a.call.id if a.call else None,
        a.pending[0].value if a.pending else None,
        a.reachable,
        a.pending[1] if a.pending else None,
        a.wrap_until if a.state == AgentState.WRAP_UP else None,
    )


def call_view(c: Call) -> CallView:
    return CallView(
        c.id,
        c.queue,
        c.state,
        c.agent.profile.id if c.agent else None,
        c.entered,
        c.arrived,
        c.callback_number,
        c.held_since is not None,
        c.outbound,
    )


def queue_view(q: Queue, calls: Mapping[str, Call], now: float) -> QueueView:
    waits = [now - calls[cid].entered for _, cid in q.waiting]
    ringing = sum(
        1
        for a in q.members.values()
        if a.state == AgentState.RESERVED and not (a.call and a.call.outbound)
    )
    s = q.stats
    return QueueView(
        q.name,
        len(q.waiting),
        ringing,
        max(waits, default=0.0),
        len(q.members),
        len(q.ready),
        s.offered,
        s.answered,
        s.abandoned,
        s.overflowed,
        s.service_level,
        s.abandon_rate,
        s.asa_s,
        s.aht_s,
        Routing.expected_wait(q, len(q.waiting) + 1),
    )
