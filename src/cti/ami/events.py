"""Domain events the call tracker publishes: what happened to an interaction.

Every event carries a monotonic `seq` (per tracker), the time `at` (from the injected
clock) and the `interaction_id` (Asterisk's Linkedid, which survives Local-channel
optimisation where Uniqueid does not).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

# hangup: Asterisk said so. pbx_restart: Asterisk hung it up to shut down or restart
# (SoftHangupRequest with the SHUTDOWN flag, or gone after a Shutdown event); pbx_lost:
# gone when Asterisk came back with a new boot time and had not said it was going (a
# crash); ended_while_disconnected: the same Asterisk no longer has it after our link
# came back (it ended while we could not see it).
EndReason = Literal["hangup", "pbx_restart", "pbx_lost", "ended_while_disconnected"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent:
    seq: int
    at: float
    interaction_id: str

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        """Shallow (fields are scalars or tuples of str): no deep copy on the call path."""
        return {"type": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionStarted(CallEvent):
    uniqueid: str
    channel: str
    caller_num: str
    caller_name: str
    resynced: bool = False  # learnt from CoreShowChannels after a reconnect


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelJoined(CallEvent):
    """A further channel (agent leg, Local half, spy) joined the interaction."""

    uniqueid: str
    channel: str
    resynced: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionAnswered(CallEvent):
    uniqueid: str
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelAnswered(CallEvent):
    """Any channel of the interaction came up (the first of them also gives
    InteractionAnswered): an agent leg's answer ends its ring."""

    uniqueid: str
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupRequested(CallEvent):
    """Who asked for the hang-up: `soft` False is the channel's own side (a BYE from its
    phone or trunk: Asterisk's HangupRequest); True is something else ending it (an AMI
    Hangup, a bridge peer, a shutdown: SoftHangupRequest, whose cause is then a flag)."""

    uniqueid: str
    channel: str
    soft: bool
    cause: int
    shutdown: bool = False  # SoftHangupRequest with AST_SOFTHANGUP_SHUTDOWN


@dataclass(frozen=True, slots=True, kw_only=True)
class PbxShutdown(CallEvent):
    """Asterisk said it is shutting down or restarting (`interaction_id` is "")."""

    restart: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionBridged(CallEvent):
    uniqueid: str
    channel: str
    bridge_id: str
    peers: tuple[str, ...]  # channel names already in the bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionUnbridged(CallEvent):
    uniqueid: str
    channel: str
    bridge_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionHeld(CallEvent):
    uniqueid: str
    channel: str
    moh_class: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionResumed(CallEvent):
    uniqueid: str
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DtmfReceived(CallEvent):
    uniqueid: str
    digit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CtiVariableSet(CallEvent):
    """A `CTI_*` channel variable (leading `__`/`_` inheritance marks stripped)."""

    uniqueid: str
    name: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(CallEvent):
    uniqueid: str
    channel: str
    file: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStopped(CallEvent):
    uniqueid: str
    file: str
    by: Literal["stop", "hangup"]  # Asterisk sends no MixMonitorStop on hangup


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueJoined(CallEvent):
    uniqueid: str
    queue: str
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueLeft(CallEvent):
    uniqueid: str
    queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueAbandoned(CallEvent):
    uniqueid: str
    queue: str
    waited_s: int
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentRinging(CallEvent):
    queue: str
    member: str
    interface: str
    agent_channel: str
    agent_uniqueid: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentNoAnswer(CallEvent):
    queue: str
    member: str
    ring_s: float
    agent_uniqueid: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentAnswered(CallEvent):
    queue: str
    member: str
    agent_channel: str
    agent_uniqueid: str = ""
    waited_s: int
    ring_s: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCompleted(CallEvent):
    queue: str
    member: str
    agent_uniqueid: str = ""
    talk_s: int
    waited_s: int
    hung_up_by: str  # "agent" | "caller" | "transfer"


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginateResult(CallEvent):
    """Outcome of an async Originate; `interaction_id` is "" when no channel came up."""

    action_id: str
    success: bool
    reason_code: int
    reason: str
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnded(CallEvent):
    uniqueid: str
    channel: str
    cause: int
    cause_txt: str
    reason: EndReason


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionEnded(CallEvent):
    reason: EndReason
    duration_s: float
    cause: int
    cause_txt: str
