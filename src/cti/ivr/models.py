"""IVR definitions (YAML, see deploy/ivr.yaml), validated at start and on reload.

A definition is a set of named nodes, a start node per FastAGI script, and the dialled
numbers whose calls start elsewhere (`numbers`). Errors name the node and the field
(`nodes.main.options.1: no node 'socal'`).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cti.config import ConfigError, TimeZone, load_yaml_model, read_text
from cti.ivr.agi import PROMPT_MAX, PROMPT_PATTERN

Prompt = Annotated[str, Field(min_length=1, max_length=PROMPT_MAX, pattern=PROMPT_PATTERN)]
Digit = Annotated[str, Field(pattern=r"^[0-9*#]$")]
NodeName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
NUMBER = re.compile(r"^\+?[0-9]{2,20}$")  # a dialled number as Asterisk gives it
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
    choices: dict[Digit, LanguageCode]
    default: LanguageCode  # no key or a wrong one (the dialled number's language first)
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
    """Offer a callback on the caller's number as soon as an agent is free (1), on
    another number (2), on the caller's number at a time (`times`: a key -> a slot of
    `callback_slots`), or to keep waiting (anything else): sets CTI_CALLBACK to the
    number, or to "", and CTI_CALLBACK_AT to the chosen time (Unix seconds) or ""."""

    kind: Literal["callback_offer"]
    prompt: Prompt
    other_number_prompt: Prompt
    confirm_prompt: Prompt | None = None
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 6.0
    times: dict[Digit, NodeName] = {}  # key -> slot name (keys 1 and 2 are taken)


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


class CallbackSlot(_Node):
    """A time the citizen may pick at the callback offer ("tomorrow morning"): the start
    of `window` on the next day after today that `calendar` is open within it (closed
    days and holidays skipped; the window clipped to the day's opening hours)."""

    window: str  # "HH:MM-HH:MM" in the definition's time zone
    calendar: NodeName = "default"
    confirm_prompt: Prompt | None = None  # "we will call you tomorrow morning"

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        m = _SPAN.match(value)
        if m is None or _minutes(m.group(1), m.group(2)) >= _minutes(m.group(3), m.group(4)):
            raise ValueError(f"{value!r} is not HH:MM-HH:MM (start before end)")
        if _minutes(m.group(3), m.group(4)) > 24 * 60:
            raise ValueError(f"{value!r} ends after 24:00")
        return value


def _minutes(hours: str, minutes: str) -> int:
    return int(hours) * 60 + int(minutes)


def _span_minutes(span: str) -> tuple[int, int] | None:
    """A weekly span as minutes of the day (start, end); None: closed."""
    if span == "24h":
        return 0, 24 * 60
    m = _SPAN.match(span)
    if m is None:
        return None
    return _minutes(m.group(1), m.group(2)), _minutes(m.group(3), m.group(4))


class Number(_Node):
    """A dialled number of the hotline: where its calls start (instead of the `inbound`
    script's node), the language they start in, and its name in reports."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    start: NodeName
    language: LanguageCode | None = None


class IvrDefinition(_Node):
    timezone: TimeZone = "UTC"
    calendars: dict[NodeName, Calendar] = {"default": Calendar(weekly={"daily": "24h"})}
    scripts: dict[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")], NodeName]
    numbers: dict[str, Number] = {}  # dialled number -> its entry (else scripts.inbound)
    callback_slots: dict[NodeName, CallbackSlot] = {}  # times a callback offer names
    nodes: dict[NodeName, Node]

    @field_validator("numbers", mode="before")
    @classmethod
    def _number_keys(cls, value: object) -> object:
        # YAML reads 1818 as an int and 0800 as an octal: the number must be quoted.
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str) or NUMBER.match(k) is None]
            if bad:
                raise ValueError(
                    "got "
                    + ", ".join(f"{k!r} ({type(k).__name__})" for k in bad)
                    + ": not a dialled number (2-20 digits, a leading + allowed;"
                    " quoted in YAML)"
                )
        return value

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = []
        for script, start in self.scripts.items():
            if start not in self.nodes:
                problems.append(f"scripts.{script}: no node {start!r}")
        for number, entry in self.numbers.items():
            if entry.start not in self.nodes:
                problems.append(f"numbers.{number}.start: no node {entry.start!r}")
        for name, node in self.nodes.items():
            for field_name, target in _targets(node):
                if target not in self.nodes:
                    problems.append(f"nodes.{name}.{field_name}: no node {target!r}")
            if isinstance(node, Hours) and node.calendar and node.calendar not in self.calendars:
                problems.append(f"nodes.{name}.calendar: no calendar {node.calendar!r}")
            if isinstance(node, CallbackOffer):
                problems += self._times_problems(name, node)
        for slot_name, slot in self.callback_slots.items():
            if slot.calendar not in self.calendars:
                problems.append(
                    f"callback_slots.{slot_name}.calendar: no calendar {slot.calendar!r}"
                )
        if "default" not in self.calendars:
            problems.append("calendars: a 'default' calendar is needed")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _times_problems(self, name: str, node: CallbackOffer) -> list[str]:
        problems = []
        for key, slot in node.times.items():
            if key in ("1", "2"):
                taken = "this number now" if key == "1" else "another number"
                problems.append(f"nodes.{name}.times.{key}: key {key} is used twice ({taken})")
            if slot not in self.callback_slots:
                problems.append(f"nodes.{name}.times.{key}: no slot {slot!r} in callback_slots")
        return problems

    def callback_time(self, slot_name: str, now: dt.datetime) -> dt.datetime | None:
        """When a callback for `slot_name` picked at `now` is due (aware, UTC): the
        slot's window start on the first open day after today, in the centre's time
        zone; None if its calendar opens in that window on none of the next 60 days."""
        slot = self.callback_slots[slot_name]
        # A copy made without validation (the demo's always-open hours) may lack it.
        calendar = self.calendars.get(slot.calendar) or self.calendars["default"]
        zone = ZoneInfo(self.timezone)
        window = _span_minutes(slot.window)
        assert window is not None
        today = now.astimezone(zone).date()
        for ahead in range(1, 61):
            day = today + dt.timedelta(days=ahead)
            if day in calendar.holidays:
                continue
            hours = _span_minutes(calendar.weekly.get(DAYS[day.weekday()], "closed"))
            if hours is None:
                continue
            start, end = max(window[0], hours[0]), min(window[1], hours[1])
            if start < end:
                local = dt.datetime.combine(day, dt.time(start // 60, start % 60), zone)
                return local.astimezone(dt.UTC)
        return None

    def is_open(self, when: dt.datetime, calendar: str | None = None) -> bool:
        local = when.astimezone(ZoneInfo(self.timezone))
        return self.calendars[calendar or "default"].is_open(local)

    def entry(self, script: str, dialled: str | None) -> tuple[str, Number | None]:
        """Where a call to `dialled` starts `script`: the number's node for `inbound` if
        the number is listed, else the script's own (None: not a listed number)."""
        number = self.numbers.get(dialled or "") if script == "inbound" else None
        return (number.start if number else self.scripts[script]), number


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
    definition = load_yaml_model(path, IvrDefinition)
    text = read_text(path)
    twice = numbers_listed_twice(text)
    if twice:
        raise ConfigError([f"{path}: numbers.{n}: listed twice" for n in twice])
    keys = times_keys_twice(text)
    if keys:
        raise ConfigError([f"{path}: nodes.{n}.times.{k}: key {k} is used twice" for n, k in keys])
    return definition


def numbers_listed_twice(text: str) -> list[str]:
    """The keys of `numbers` the YAML text gives more than once (a YAML mapping keeps
    the last silently: a number moved by copying its entry would go unnoticed)."""
    import yaml

    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return []
    seen: set[str] = set()
    twice: list[str] = []
    for key, value in root.value:
        if key.value != "numbers" or not isinstance(value, yaml.MappingNode):
            continue
        for number, _ in value.value:
            if number.value in seen and number.value not in twice:
                twice.append(number.value)
            seen.add(number.value)
    return twice


def times_keys_twice(text: str) -> list[tuple[str, str]]:
    """(node, key) for each key a callback offer's `times` gives more than once (YAML
    keeps the last silently: two slots on one key would go unnoticed)."""
    import yaml

    root = yaml.compose(text)
    out: list[tuple[str, str]] = []
    for nodes in _mapping(root, "nodes"):
        if not isinstance(nodes, yaml.MappingNode):
            continue
        for name, node in nodes.value:
            for times in _mapping(node, "times"):
                if not isinstance(times, yaml.MappingNode):
                    continue
                seen: set[str] = set()
                for key, _ in times.value:
                    if key.value in seen and (name.value, key.value) not in out:
                        out.append((name.value, key.value))
                    seen.add(key.value)
    return out


def _mapping(node: object, key: str) -> list[object]:
    """The values under `key` in a composed YAML mapping (none if it is no mapping)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return []
    return [value for k, value in node.value if k.value == key]
