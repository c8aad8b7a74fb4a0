"""The lines of an old system's CSV exports that `cti import` accepts, one pydantic model
per file, validated against what the store knows (topics, organisations) and the time
zone of times written without one. Pure: no database, no file."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cti.store.errors import StoreError
from cti.store.models import CASE_MOVES, MAX_DESCRIPTION, Channel
from cti.store.phone import normalise


@dataclass(frozen=True, slots=True)
class Topic:
    organisation: str | None
    regulation_days: int | None


@dataclass(frozen=True, slots=True)
class Context:
    """What a line is checked against: the classifier as stored, and the zone of times
    written without an offset (the old system's local time)."""

    zone: ZoneInfo
    topics: dict[str, Topic]
    organisations: frozenset[str]


def _context(info: ValidationInfo) -> Context:
    context = info.context
    assert isinstance(context, Context), "validate lines with context=Context(...)"
    return context


_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
)
_DATES = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y")
_TRUE = {"1", "true", "yes", "y", "t", "да", "д", "x"}
_FALSE = {"0", "false", "no", "n", "f", "не", "н", ""}
_NUMBER = re.compile(r"^[A-Za-z0-9А-Яа-я/._-]{1,40}$")
OUR_NUMBER = re.compile(r"^(\d{4})-(\d{6})$")  # 2026-000123: our own case numbers
OUTCOMES = ("answered", "abandoned", "overflowed", "callback", "failed", "ivr_only")


def parse_time(text: str, zone: ZoneInfo) -> dt.datetime:
    """ISO 8601 (with or without an offset), `2024-03-05 14:30[:15]`, `05.03.2024 14:30`
    or `05/03/2024 14:30`; a time without an offset is the old system's local time."""
    value = text.strip()
    when: dt.datetime | None = None
    try:
        when = dt.datetime.fromisoformat(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        for fmt in _FORMATS:
            try:
                when = dt.datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if when is None or len(value) < 12:  # a bare date is no time of a call
        raise ValueError(f"not a date and time: {text!r} (e.g. 2024-03-05 14:30)")
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(dt.UTC)


def parse_date(text: str) -> dt.date:
    value = text.strip()
    for fmt in _DATES:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r} (e.g. 2024-03-05)")


def parse_bool(value: Any) -> Any:
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"not yes or no: {value!r}")
    return value


def parse_seconds(value: Any) -> Any:
    """`12`, `12.5`, `12,5` (a decimal comma) or `0:01:05`; never negative."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace(",", ".")
    try:
        if ":" in text:
            seconds = 0.0
            for part in text.split(":"):
                seconds = seconds * 60 + float(part)
        else:
            seconds = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {value!r}") from None
    if text.startswith("-") or not 0 <= seconds <= 7 * 86400:
        raise ValueError(f"must be 0 or more seconds (at most a week), got {value!r}")
    return seconds


def phone(value: str) -> str:
    try:
        return normalise(value)
    except StoreError:
        raise ValueError(f"bad phone number: {value!r}") from None


def status(value: str) -> str:
    if value not in CASE_MOVES:
        raise ValueError(f"unknown status {value!r} (one of: {', '.join(CASE_MOVES)})")
    return value


def known_topic(value: str, info: ValidationInfo) -> str:
    if value not in _context(info).topics:
        raise ValueError(f"unknown topic {value!r}: not in the classifier (cti load-classifier)")
    return value


Id = Annotated[str, Field(min_length=1, max_length=200)]
Short = Annotated[str, Field(max_length=64)]
Phone = Annotated[str, AfterValidator(phone)]
Status = Annotated[str, AfterValidator(status)]
TopicCode = Annotated[str, AfterValidator(known_topic)]
Flag = Annotated[bool, BeforeValidator(parse_bool)]
Seconds = Annotated[float, BeforeValidator(parse_seconds)]


class Line(BaseModel):
    """A line of an export: `id` is the old system's own key for it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    kind: ClassVar[str]
    required: ClassVar[tuple[str, ...]]
    id: Id


class CallerLine(Line):
    kind = "caller"
    required = ("id", "phone")
    phone: Phone
    name: Annotated[str, Field(max_length=300)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    notes: Annotated[str, Field(max_length=4000)] | None = None
    consent_recording: Flag = False
    consent_contact: Flag = False


class CaseLine(Line):
    kind = "case"
    required = ("id", "topic", "status", "created_at")
    number: str | None = None  # the old system's case number, kept if free
    phone: Phone | None = None
    topic: TopicCode
    organisation: str | None = None  # default: the topic's
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""
    status: Status
    created_at: dt.datetime
    deadline: dt.date | None = None  # default: created + the topic's regulation days
    address: Annotated[str, Field(max_length=500)] = ""
    emergency: Flag = False
    paid: Flag = False
    channel: Channel = "phone"
    created_by: Short | None = None

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        if not _NUMBER.match(value):
            raise ValueError(f"not a case number: {value!r} (letters, digits, / . _ -)")
        return value

    @field_validator("organisation")
    @classmethod
    def _organisation(cls, value: str, info: ValidationInfo) -> str:
        if value not in _context(info).organisations:
            raise ValueError(f"unknown organisation {value!r}")
        return value

    @field_validator("created_at", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_time(value, _context(info).zone) if isinstance(value, str) else value

    @field_validator("deadline", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return parse_date(value) if isinstance(value, str) else value

    def defaults(self, context: Context) -> tuple[str | None, dt.date]:
        """The organisation and deadline of a line that gives none: the topic's, and the
        registration day + the topic's regulation days (kept out of the line as imported,
        so a later change of the classifier does not make the line look changed)."""
        topic = context.topics[self.topic]
        days = dt.timedelta(days=topic.regulation_days or 30)
        deadline = self.deadline or self.created_at.astimezone(context.zone).date() + days
        return self.organisation or topic.organisation, deadline


class CaseEventLine(Line):
    """A line of a case's history; without an `id` it is keyed by its content."""

    kind = "case_event"
    required = ("case", "at")
    case: Id
    at: dt.datetime
    actor: Short | None = None
    action: Annotated[str, Field(min_length=1, max_length=64)] = "note"
    status: Status | None = None  # the status the case moved to, if it did
    note: Annotated[str, Field(max_length=MAX_DESCRIPTION)] = ""

    @field_validator("at", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_time(value, _context(info).zone) if isinstance(value, str) else value


class CallLine(Line):
    kind = "call"
    required = ("id", "arrived_at", "outcome")
    arrived_at: dt.datetime
    direction: str = "inbound"
    caller: Phone | None = None  # the citizen's number (the number called, outbound)
    called: Short | None = None  # the hotline's number they dialled
    queue: Short | None = None
    topic: TopicCode | None = None
    agent: Short | None = None
    outcome: str
    wait_s: Seconds | None = None  # in line before an agent answered (or they gave up)
    talk_s: Seconds | None = None
    hold_s: Seconds | None = None
    wrap_up_s: Seconds | None = None
    hangup_side: str | None = None
    disposition: Short | None = None
    case: Id | None = None  # the old system's id of the case it was filed under

    @field_validator("arrived_at", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_time(value, _context(info).zone) if isinstance(value, str) else value

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: str) -> str:
        if value not in ("inbound", "outbound"):
            raise ValueError(f"unknown direction {value!r} (inbound or outbound)")
        return value

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, value: str) -> str:
        if value not in OUTCOMES:
            raise ValueError(f"unknown outcome {value!r} (one of: {', '.join(OUTCOMES)})")
        return value

    @field_validator("hangup_side")
    @classmethod
    def _side(cls, value: str) -> str:
        if value not in ("caller", "agent", "system"):
            raise ValueError(f"unknown hangup side {value!r} (caller, agent or system)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CallLine:
        if self.outcome != "answered" and self.talk_s:
            raise ValueError(f"talk_s: {self.talk_s:g} s of talk on a call {self.outcome}")
        return self

    def record(self) -> dict[str, Any]:
        """The call as our own records have it (docs/records.md): queued on arrival (the
        old system kept no IVR path), answered after its wait, ended after talk and hold."""
        answered = self.outcome == "answered"
        wait = dt.timedelta(seconds=self.wait_s or 0)
        answered_at = self.arrived_at + wait if answered else None
        ended_at: dt.datetime | None = None
        if answered_at is not None and self.talk_s is not None:
            ended_at = answered_at + dt.timedelta(seconds=self.talk_s + (self.hold_s or 0))
        elif not answered and self.wait_s is not None:
            ended_at = self.arrived_at + wait
        return {
            "queued_at": self.arrived_at if self.outcome != "ivr_only" else None,
            "answered_at": answered_at,
            "ended_at": ended_at,
            "end_reason": "completed" if answered else self.outcome,
        }


LINES: dict[str, type[Line]] = {
    "callers": CallerLine,
    "cases": CaseLine,
    "case_history": CaseEventLine,
    "calls": CallLine,
}


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(column, why) for each problem pydantic found in a line."""
    out = []
    for err in exc.errors():
        column = str(err["loc"][0]) if err["loc"] else ""
        why = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if err["type"] == "missing":
            why = "required, but empty or missing"
        elif column == "" and ": " in why:  # a check across columns names its column first
            column, why = why.split(": ", 1)
        out.append((column, why))
    return out
