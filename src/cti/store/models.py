"""What the store accepts and returns (pydantic: the REST edge reuses these models)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CaseStatus = Literal[
    "registered", "forwarded", "in_progress", "resolved", "citizen_informed", "closed"
]
# Allowed status moves; `closed` is final. From `registered` a case may be closed at
# once (a duplicate, a question answered on the call).
CASE_MOVES: dict[str, frozenset[str]] = {
    "registered": frozenset({"forwarded", "in_progress", "closed"}),
    "forwarded": frozenset({"in_progress", "registered"}),
    "in_progress": frozenset({"resolved", "forwarded"}),
    "resolved": frozenset({"citizen_informed", "in_progress"}),
    "citizen_informed": frozenset({"closed", "in_progress"}),
    "closed": frozenset(),
}
MAX_DESCRIPTION = 10_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CallerIn(_In):
    phone: str
    name: Annotated[str, Field(max_length=300)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    notes: Annotated[str, Field(max_length=4000)] | None = None
    consent_recording: bool = False
    consent_contact: bool = False


class Caller(BaseModel):
    id: int
    phone: str
    name: str | None
    address: str | None
    notes: str | None
    consent_recording: bool
    consent_contact: bool


Channel = Literal["phone", "email", "web", "letter", "visit", "other"]
Address = Annotated[str, Field(max_length=500)]


class CaseCreate(_In):
    topic: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    phone: str | None = None
    organisation: str | None = None  # default: the topic's
    interaction_id: str | None = None  # link the call it was filed from
    address: Address = ""  # what the request is about (a flat, a street), searchable
    emergency: bool = False
    paid: bool = False  # a fee was paid for the service
    channel: Channel = "phone"


class CaseUpdate(_In):
    topic: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: str | None = None
    organisation: str | None = None
    address: Address | None = None
    emergency: bool | None = None
    paid: bool | None = None
    channel: Channel | None = None


class Case(BaseModel):
    id: int
    number: str
    phone: str | None
    caller_id: int | None
    topic: str
    organisation: str | None
    description: str
    status: CaseStatus
    deadline: dt.date | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    address: str = ""
    emergency: bool = False
    paid: bool = False
    channel: Channel = "phone"
    assignee: str | None = None  # who of the organisation works it (the journal)
    result: str = ""  # what the citizen is told, set when the case is resolved


class JournalCase(Case):
    """A case as an organisation's journal shows it: with the caller's name (the personal
    data a case needs; the caller's other cases and calls are not part of it)."""

    caller_name: str | None = None


class CaseEvent(BaseModel):
    at: dt.datetime
    actor: str
    action: str
    changes: dict[str, Any]


class InteractionSummary(BaseModel):
    id: str
    direction: str
    arrived_at: dt.datetime
    queue: str | None
    topic: str | None
    agent: str | None
    outcome: str | None
    talk_s: float | None
    disposition: str | None = None  # what the agent picked in wrap-up
    cases: str | None = None  # the numbers of the cases the call was filed under


class ResultToTell(BaseModel):
    """A resolved case's result this citizen is still to be told (docs/outbound.md)."""

    id: int
    case_number: str
    topic: str
    result: str


class ScreenPop(BaseModel):
    """What an agent sees when a call is offered: who it is and their history."""

    phone: str
    caller: Caller | None
    interactions: list[InteractionSummary]
    open_cases: list[Case]
    # Told in this call if the citizen calls in first: the agent records it as informed.
    results_to_tell: list[ResultToTell] = []
