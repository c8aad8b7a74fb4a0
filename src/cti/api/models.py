"""Request and message models of the API: they validate what comes in and generate
the OpenAPI document, from one definition."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from cti.store.models import CaseCreate


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginRequest(_In):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class LoginReply(BaseModel):
    token: str
    role: str
    agent_id: str | None


class StateChange(_In):
    state: Literal["login", "ready", "not_ready", "logout"]
    reason: Annotated[str, Field(max_length=40)] | None = None


class ErrorReply(BaseModel):
    code: str
    message: str
    fields: list[dict[str, str]] | None = None


class PendingState(BaseModel):
    state: str
    reason: str | None


class AgentView(BaseModel):
    id: str
    name: str  # the person's name (the id when the profile has none)
    state: str
    reason: str | None
    since: float
    in_state_s: float
    call: str | None
    skills: dict[str, int]
    queues: list[str]
    reachable: bool
    # A state asked for (or forced) during a call, applied when the call and wrap-up end.
    pending: PendingState | None = None


class LanguageChange(_In):
    language: Literal["en", "bg", "ru", "hu"]


class QueueLive(BaseModel):
    name: str
    waiting: int
    ringing: int
    longest_wait_s: float
    agents_logged_in: int
    agents_ready: int
    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    service_level_s: float
    service_level_target: float
    asa_s: float | None
    expected_wait_s: float | None
    source: Literal["cti", "asterisk"] = "cti"  # who routes it: our ACD, or app_queue


# --- websocket: what an agent's client may send ---------------------------------------


class _Msg(_In):
    id: Annotated[str, Field(min_length=1, max_length=64)]


class WsLogin(_Msg):
    type: Literal["login"]


class WsReady(_Msg):
    type: Literal["ready"]


class WsNotReady(_Msg):
    type: Literal["not_ready"]
    reason: Annotated[str, Field(min_length=1, max_length=40)]


class WsLogout(_Msg):
    type: Literal["logout"]


class WsExtendWrapUp(_Msg):
    type: Literal["extend_wrap_up"]
    seconds: Annotated[float, Field(gt=0, le=3600)]


class WsRecording(_Msg):
    type: Literal["pause_recording", "resume_recording"]


class WsResume(_Msg):
    type: Literal["resume"]
    since: Annotated[int, Field(ge=0, le=2**63 - 1)]
    # The `stream` of the hello/snapshot that numbered `since`; another one: a gap.
    stream: Annotated[str, Field(max_length=64)] | None = None


class WsPing(_Msg):
    type: Literal["ping"]


class WsHangup(_Msg):
    type: Literal["hangup"]


class WsCancelPending(_Msg):
    """Forget the not-ready (or logout) asked for during the call: ready after it."""

    type: Literal["cancel_pending"]


class WsCurrentCall(_Msg):
    """The screen-pop of the agent's current call (ack's `pop`; null: no call)."""

    type: Literal["current_call"]


class TransferTarget(_In):
    """Where an answered call goes: exactly one of a queue (a new arrival there), a
    ready agent (offered at once; back in line if unanswered) or an outside number."""

    queue: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    agent: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    number: Annotated[str, Field(min_length=3, max_length=32)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> TransferTarget:
        given = [n for n in ("queue", "agent", "number") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of queue, agent, number (got {given or 'none'})")
        return self


class WsTransfer(_Msg, TransferTarget):
    type: Literal["transfer"]


class WsHold(_Msg):
    """Put the current call on hold (music for the citizen) or take it back."""

    type: Literal["hold", "unhold"]


class WsAnswer(_Msg):
    """Answer the ringing call on phones that accept a SIP NOTIFY `Event: talk`."""

    type: Literal["answer"]


class WsWrapUp(_Msg):
    """Finish after-call work: a disposition, and a new case or an existing one."""

    type: Literal["wrap_up"]
    disposition: Annotated[str, Field(min_length=1, max_length=64)]
    case: CaseCreate | None = None
    case_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    ready: bool = True


AgentMessage = Annotated[
    WsLogin
    | WsReady
    | WsNotReady
    | WsLogout
    | WsExtendWrapUp
    | WsRecording
    | WsResume
    | WsPing
    | WsHangup
    | WsCurrentCall
    | WsCancelPending
    | WsAnswer
    | WsHold
    | WsTransfer
    | WsWrapUp,
    Field(discriminator="type"),
]
AGENT_MESSAGE: TypeAdapter[AgentMessage] = TypeAdapter(AgentMessage)


# --- websocket: what a supervisor's client may send --------------------------------------


class WsForceState(_Msg):
    type: Literal["force_state"]
    agent: Annotated[str, Field(min_length=1, max_length=64)]
    state: Literal["ready", "not_ready", "logout"]
    reason: Annotated[str, Field(max_length=40)] | None = None


class WsBroadcast(_Msg):
    type: Literal["broadcast"]
    text: Annotated[str, Field(min_length=1, max_length=500)]
    agents: Annotated[list[str], Field(max_length=1000)] | None = None  # None: every agent


class WsSpy(_Msg):
    """Listen to an agent's call (silently), whisper to the agent, or barge in, from the
    supervisor's own phone (ChanSpy)."""

    type: Literal["listen", "whisper", "barge"]
    agent: Annotated[str, Field(min_length=1, max_length=64)]
    endpoint: Annotated[str, Field(pattern=r"^PJSIP/[A-Za-z0-9_.-]{1,64}$")]


class WsSpyStop(_Msg):
    """End the supervisor's listen / whisper / barge on an agent's call."""

    type: Literal["stop_spy"]
    agent: Annotated[str, Field(min_length=1, max_length=64)]


SupervisorMessage = Annotated[
    WsForceState | WsBroadcast | WsSpy | WsSpyStop | WsResume | WsPing,
    Field(discriminator="type"),
]
SUPERVISOR_MESSAGE: TypeAdapter[SupervisorMessage] = TypeAdapter(SupervisorMessage)
