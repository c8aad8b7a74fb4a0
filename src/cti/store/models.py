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


class CaseCreate(_In):
    topic: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    phone: str | None = None
    organisation: str | None = None  # default: the topic's
    interaction_id: str | None = None  # link the call it was filed from


class CaseUpdate(_In):
    topic: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: str | None = None
    organisation: str | None = None


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


class ScreenPop(BaseModel):
    """What an agent sees when a call is offered: who it is and their history."""

    phone: str
    caller: Caller | None
    interactions: list[InteractionSummary]
    open_cases: list[Case]
