"""What both sides say about a call, in the terms of docs/records.md, and what differs.

`Call` is one interaction as one side recorded it: our stored record, or Asterisk's view
derived from its CEL. `QueueLogCall` and `CdrCall` are the partial views Asterisk's
queue_log and CDR give. `Disagreement` is one field on which they differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Leg:
    """One channel of an interaction: the caller's, an agent's phone, or another."""

    uniqueid: str
    channel: str
    role: str  # caller | agent | other
    agent: str | None
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None


@dataclass
class Call:
    """One interaction (Asterisk's Linkedid) with the figures docs/records.md defines."""

    id: str
    arrived_at: float
    outcome: str | None = None
    agent: str | None = None
    queue: str | None = None
    queued_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    wait_s: float | None = None
    ring_s: float | None = None
    talk_s: float | None = None
    hold_s: float | None = None
    hangup_side: str | None = None
    legs: list[Leg] = field(default_factory=list)
    finished: bool = True  # False: Asterisk's CEL has no end for it (crash, still up)


@dataclass
class QueueLogCall:
    """What app_queue's queue_log says of one call, in whole seconds."""

    id: str  # the Linkedid (the caller's Uniqueid mapped through CEL)
    queue: str
    entered_at: float
    agent: str | None = None
    wait_s: float | None = None
    ring_s: float | None = None
    talk_s: float | None = None
    outcome: str | None = None  # answered | abandoned | overflowed
    hangup_side: str | None = None  # caller | agent (COMPLETECALLER / COMPLETEAGENT)


@dataclass
class CdrCall:
    """What Asterisk's CDR rows of one Linkedid say: the agent whose Dial was answered;
    when the last row ended (not the call's end if the caller went on after the bridge)."""

    id: str
    agent: str | None
    ended_at: float | None


@dataclass(frozen=True)
class Disagreement:
    call: str
    field: str
    ours: object
    asterisk: object
    source: str  # CEL | CDR | queue_log


@dataclass(frozen=True)
class Period:
    """Calls that arrived in [start, end); times shown in start's time zone."""

    start: datetime
    end: datetime

    def contains(self, at: float) -> bool:
        return self.start.timestamp() <= at < self.end.timestamp()


class Agents:
    """Agent ids by their phones' endpoints (`PJSIP/agent-1001`), as the ACD has them.
    A channel `PJSIP/agent-1001-0000002a` is that endpoint's; an endpoint that is no
    agent's is named as itself (as app_queue names a member that is not ours)."""

    def __init__(self, endpoints: Iterable[tuple[str, str]] = ()) -> None:
        self.by_endpoint = {endpoint: agent for endpoint, agent in endpoints}

    @staticmethod
    def endpoint(channel: str) -> str:
        """`PJSIP/agent-1001-0000002a` -> `PJSIP/agent-1001` (Local/ channels too)."""
        return channel.rsplit("-", 1)[0] if "-" in channel.partition("/")[2] else channel

    def of_channel(self, channel: str) -> str | None:
        """The agent whose phone this channel is, or None."""
        return self.by_endpoint.get(self.endpoint(channel))

    def of_member(self, member: str) -> str:
        """app_queue's member (its interface, or a channel) as our agent id."""
        return self.by_endpoint.get(member) or self.of_channel(member) or member

    def name(self, channel: str) -> str:
        """The agent of this channel, else its endpoint."""
        return self.of_channel(channel) or self.endpoint(channel)
