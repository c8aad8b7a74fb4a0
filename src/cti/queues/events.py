"""What the ACD decides: commands for the PBX side and events for everyone else.

Every engine call returns a `Decisions` with both, in the order they happened.
Commands are requests the driver turns into AMI actions; events are facts that go on
the bus (and feed the statistics, the wallboard and the CDR).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

OfferFailure = Literal["no_answer", "busy", "unreachable"]
Outcome = Literal["answered", "abandoned", "overflowed", "callback_failed"]


@dataclass(frozen=True, slots=True)
class _Record:
    def to_dict(self) -> dict[str, Any]:
        """Shallow (every field is a scalar): asdict's deep copy costs on the call path."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["type"] = type(self).__name__
        return data


# --- commands: the PBX side acts on these ---------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectToAgent(_Record):
    """Ring the agent's endpoint and bridge the waiting caller on answer."""

    call: str
    agent: str
    endpoint: str
    ring_timeout_s: float


@dataclass(frozen=True, slots=True)
class PlaceCallback(_Record):
    """Call the agent, then the citizen who accepted a callback (agent first)."""

    call: str
    agent: str
    endpoint: str
    number: str
    ring_timeout_s: float


@dataclass(frozen=True, slots=True)
class CancelOffer(_Record):
    """Stop ringing the agent; the caller stays on hold, first in line."""

    call: str
    agent: str


@dataclass(frozen=True, slots=True)
class Announce(_Record):
    """Tell a waiting caller their position and expected wait (None: unknown)."""

    call: str
    position: int
    expected_wait_s: float | None


@dataclass(frozen=True, slots=True)
class OverflowCall(_Record):
    """Apply a queue's overflow action: offer a callback, voicemail, fallback queue."""

    call: str
    queue: str
    action: Literal["callback", "voicemail", "queue", "fallback"]
    target: str | None


@dataclass(frozen=True, slots=True)
class ReturnToLine(_Record):
    """Put a citizen whose conversation broke off (the agent's phone went away while the
    call was on hold) back on hold in `queue`: a new arrival there."""

    call: str
    queue: str
    channel: str


@dataclass(frozen=True, slots=True)
class HangUpLeg(_Record):
    """Hang up an agent's phone left alone in `[cti-agent-held]` (its caller is gone)."""

    call: str
    channel: str


Command = (
    ConnectToAgent
    | PlaceCallback
    | CancelOffer
    | Announce
    | OverflowCall
    | ReturnToLine
    | HangUpLeg
)


# --- events: facts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentStateChanged(_Record):
    at: float
    agent: str
    old: str
    new: str
    reason: str | None  # for not_ready
    previous_s: float  # time spent in the previous state


@dataclass(frozen=True, slots=True)
class CallQueued(_Record):
    at: float
    call: str
    queue: str
    position: int
    expected_wait_s: float | None


@dataclass(frozen=True, slots=True)
class CallOffered(_Record):
    at: float
    call: str
    queue: str
    agent: str
    waited_s: float
    level: int  # the agent's lowest level over the queue's required skills (10 if none)
    # Why this agent (cti.queues.explain): candidates, availability, reserves, the rule.
    # Not part of the event's identity: equal offers compare equal whatever the reasons.
    why: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CallRequeued(_Record):
    """An offer did not end in an answer; the call keeps its place in line."""

    at: float
    call: str
    queue: str
    agent: str
    cause: str  # no_answer | busy | unreachable | declined | agent_logout | ring_timeout


@dataclass(frozen=True, slots=True)
class CallAnswered(_Record):
    at: float
    call: str
    queue: str
    agent: str
    wait_s: float  # from joining the line to answer (ringing included)
    matched: bool  # the agent met the queue's base (unrelaxed) requirements


@dataclass(frozen=True, slots=True)
class CallCompleted(_Record):
    """An answered call ended; the agent goes to wrap-up."""

    at: float
    call: str
    queue: str
    agent: str
    talk_s: float


@dataclass(frozen=True, slots=True)
class CallHeld(_Record):
    """The agent put the citizen on hold (music); the agent stays on the call."""

    at: float
    call: str
    queue: str
    agent: str


@dataclass(frozen=True, slots=True)
class CallResumed(_Record):
    at: float
    call: str
    queue: str
    agent: str
    held_s: float


@dataclass(frozen=True, slots=True)
class CallTransferred(_Record):
    """An answered call handed from one agent straight to another (who is offered it)."""

    at: float
    call: str
    queue: str
    agent: str  # the agent who handed it on (now in wrap-up)
    to_agent: str


@dataclass(frozen=True, slots=True)
class CallAbandoned(_Record):
    at: float
    call: str
    queue: str
    wait_s: float
    while_ringing: str | None  # the agent whose phone was ringing, if any


@dataclass(frozen=True, slots=True)
class CallOverflowed(_Record):
    at: float
    call: str
    queue: str
    action: str
    target: str | None
    wait_s: float
    cause: Literal["max_wait", "max_length"]


@dataclass(frozen=True, slots=True)
class CallbackAccepted(_Record):
    at: float
    call: str
    queue: str
    number: str
    # The time the citizen picked in the IVR (Unix seconds, wall clock): a scheduled
    # callback task, the call leaves the line. None: as soon as an agent is free.
    scheduled_at: float | None = None


@dataclass(frozen=True, slots=True)
class CallbackFailed(_Record):
    at: float
    call: str
    queue: str
    agent: str


Event = (
    AgentStateChanged
    | CallQueued
    | CallOffered
    | CallRequeued
    | CallAnswered
    | CallCompleted
    | CallHeld
    | CallResumed
    | CallTransferred
    | CallAbandoned
    | CallOverflowed
    | CallbackAccepted
    | CallbackFailed
)


@dataclass(slots=True)
class Decisions:
    """What one engine step produced."""

    commands: list[Command] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.commands or self.events)

    def extend(self, other: Decisions) -> None:
        self.commands.extend(other.commands)
        self.events.extend(other.events)
