"""IVR definitions (YAML, see deploy/ivr.yaml), validated at start and on reload.

A definition is a set of named nodes and a start node per FastAGI script. Errors name
the node and the field (`nodes.main.options.1: no node 'socal'`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cti.config import TimeZone, load_yaml_model
from cti.ivr.agi import PROMPT_MAX, PROMPT_PATTERN

Prompt = Annotated[str, Field(min_length=1, max_length=PROMPT_MAX, pattern=PROMPT_PATTERN)]
Digit = Annotated[str, Field(pattern=r"^[0-9*#]$")]
NodeName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
_SPAN = re.compile(r"^([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Play(_Node):
    kind: Literal["play"]
    prompts: tuple[Prompt, ...]
    next: NodeName | None = None  # None: the script ends here


class RecordingNotice(_Node):
    """Tells the caller the call is recorded (sets CTI_RECORDING_NOTICE=1)."""

    kind: Literal["recording_notice"]
    prompts: tuple[Prompt, ...]
    next: NodeName


class Menu(_Node):
    kind: Literal["menu"]
    prompt: Prompt
    options: dict[Digit, NodeName]
    repeat: Digit | None = "*"
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    invalid_prompt: Prompt | None = None
    on_failure: NodeName  # after the retries (no input or wrong input)


class Collect(_Node):
    """Digits into a variable (e.g. a case number), checked before going on."""

    kind: Literal["collect"]
    prompt: Prompt
    variable: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,40}$")]
    min_digits: Annotated[int, Field(ge=1, le=30)] = 1
    max_digits: Annotated[int, Field(ge=1, le=30)] = 10
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 6.0
    retries: Annotated[int, Field(ge=0, le=5)] = 2
    pattern: str | None = None  # a regular expression the digits must match
    invalid_prompt: Prompt | None = None
    next: NodeName
    on_failure: NodeName

    @model_validator(mode="after")
    def _lengths(self) -> Self:
        if self.min_digits > self.max_digits:
            raise ValueError("min_digits is larger than max_digits")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return self


class Hours(_Node):
    """Business hours (the definition's `hours`, or this node's own)."""

    kind: Literal["hours"]
    open: NodeName
    closed: NodeName
    calendar: NodeName | None = None  # the name of a calendar in `calendars`


class Announcements(_Node):
    """Live notices for a topic (from the store), played only while valid."""

    kind: Literal["announcements"]
    topic: str | None = None
    next: NodeName


class Language(_Node):
    kind: Literal["language"]
    prompt: Prompt
    choices: dict[Digit, Annotated[str, Field(pattern=r"^[a-z]{2}$")]]
    default: Annotated[str, Field(pattern=r"^[a-z]{2}$")]
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 4.0
    next: NodeName


class CaseStatus(_Node):
    """Self-service: the caller keys a case number and hears its status."""

    kind: Literal["case_status"]
    prompt: Prompt
    not_found_prompt: Prompt
    status_prompts: dict[str, Prompt]  # status -> prompt
    max_digits: Annotated[int, Field(ge=4, le=20)] = 10
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 8.0
    next: NodeName


class Queue(_Node):
    """Hand the call to the ACD: sets CTI_QUEUE / CTI_TOPIC / CTI_PRIORITY, ends the
    script; the dialplan goes on to [cti-hold]."""

    kind: Literal["queue"]
    queue: Annotated[str, Field(min_length=1, max_length=64)]
    topic: str | None = None
    priority: Annotated[int, Field(ge=-100, le=100)] = 0


class CallbackOffer(_Node):
    """Offer a callback on the caller's number (1), on another number (2), or to keep
    waiting (anything else): sets CTI_CALLBACK to the number, or to ""."""

    kind: Literal["callback_offer"]
    prompt: Prompt
    other_number_prompt: Prompt
    confirm_prompt: Prompt | None = None
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 6.0


class Voicemail(_Node):
    kind: Literal["voicemail"]
    prompts: tuple[Prompt, ...] = ()


class Survey(_Node):
    """Post-call satisfaction (1-5), stored with the interaction."""

    kind: Literal["survey"]
    question: Annotated[str, Field(min_length=1, max_length=64)]
    prompt: Prompt
    thanks_prompt: Prompt | None = None
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 6.0


class Hangup(_Node):
    kind: Literal["hangup"]
    prompts: tuple[Prompt, ...] = ()


Node = Annotated[
    Play
    | RecordingNotice
    | Menu
    | Collect
    | Hours
    | Announcements
    | Language
    | CaseStatus
    | Queue
    | CallbackOffer
    | Voicemail
    | Survey
    | Hangup,
    Field(discriminator="kind"),
]


class Calendar(_Node):
    """Opening hours per weekday ("08:00-20:00", or "closed") and holidays."""

    weekly: dict[str, str]
    holidays: tuple[dt.date, ...] = ()

    @field_validator("weekly")
    @classmethod
    def _spans(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, span in value.items():
            days = DAYS if key == "daily" else tuple(d.strip() for d in key.split(","))
            for day in days:
                if day not in DAYS:
                    raise ValueError(f"{key}: not a weekday (mon..sun or daily)")
                if span != "closed" and span != "24h":
                    m = _SPAN.match(span)
                    if m is None or int(m.group(1)) > 23 or int(m.group(3)) > 24:
                        raise ValueError(f"{key}: {span!r} is not HH:MM-HH:MM, 24h or closed")
                out[day] = span
        return out

    def is_open(self, local: dt.datetime) -> bool:
        if local.date() in self.holidays:
            return False
        span = self.weekly.get(DAYS[local.weekday()], "closed")
        if span == "24h":
            return True
        if span == "closed":
            return False
        m = _SPAN.match(span)
        assert m is not None
        start = int(m.group(1)) * 60 + int(m.group(2))
        end = int(m.group(3)) * 60 + int(m.group(4))
        now = local.hour * 60 + local.minute
        return start <= now < end


class IvrDefinition(_Node):
    timezone: TimeZone = "UTC"
    calendars: dict[NodeName, Calendar] = {"default": Calendar(weekly={"daily": "24h"})}
    scripts: dict[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")], NodeName]
    nodes: dict[NodeName, Node]

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = []
        for script, start in self.scripts.items():
            if start not in self.nodes:
                problems.append(f"scripts.{script}: no node {start!r}")
        for name, node in self.nodes.items():
            for field_name, target in _targets(node):
                if target not in self.nodes:
                    problems.append(f"nodes.{name}.{field_name}: no node {target!r}")
            if isinstance(node, Hours) and node.calendar and node.calendar not in self.calendars:
                problems.append(f"nodes.{name}.calendar: no calendar {node.calendar!r}")
        if "default" not in self.calendars:
            problems.append("calendars: a 'default' calendar is needed")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def is_open(self, when: dt.datetime, calendar: str | None = None) -> bool:
        local = when.astimezone(ZoneInfo(self.timezone))
        return self.calendars[calendar or "default"].is_open(local)


def _targets(node: BaseModel) -> list[tuple[str, str]]:
    out = []
    for field_name in ("next", "on_failure", "open", "closed"):
        target = getattr(node, field_name, None)
        if isinstance(target, str):
            out.append((field_name, target))
    if isinstance(node, Menu):
        out += [(f"options.{digit}", target) for digit, target in node.options.items()]
    return out


def load_ivr(path: Path) -> IvrDefinition:
    """Read and validate; ConfigError names the file, the node and the field."""
    return load_yaml_model(path, IvrDefinition)
