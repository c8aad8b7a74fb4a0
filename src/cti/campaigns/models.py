"""A survey campaign's pure core: the questionnaire, the rules for a number's next
attempt, the calling hours and the pacing, and the check of an uploaded CSV list.
Nothing here does I/O; the runner (`runner.py`), the IVR script (`cti.ivr.campaign`)
and the store apply what it decides."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cti.ivr.agi import AgiArgumentError, prompt_name
from cti.ivr.models import IvrDefinition
from cti.store.errors import StoreError
from cti.store.phone import normalise

Kind = Literal["scale", "yes_no", "digits", "comment"]
STATES = ("draft", "running", "paused", "done")
OUTCOMES = (
    "completed", "partial", "no_answer", "busy", "machine", "refused", "opted_out", "failed"
)  # fmt: skip
# Outcomes after which a number is not called again (its status is the outcome).
FINAL = frozenset({"completed", "partial", "refused", "opted_out"})
OPT_OUT_KEY = "9"  # "press 9 never to be called again"
# The moves a supervisor may make (done is reached when no number is left, or by hand).
MOVES = {
    ("draft", "running"),
    ("running", "paused"),
    ("paused", "running"),
    ("running", "done"),
    ("paused", "done"),
}
MAX_UPLOAD_LINES = 100_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _prompt(value: str) -> str:
    try:
        return prompt_name(value)
    except AgiArgumentError as exc:
        raise ValueError(str(exc)) from None


class Question(_Model):
    """One question: its id (the results' column), kind and prompt (a sound name played
    the IVR's way: `<sounds>/<language>/<prompt>.wav`)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
    kind: Kind
    prompt: str
    max_digits: Annotated[int, Field(ge=1, le=6)] = 3  # digits: the longest answer
    max_s: Annotated[int, Field(ge=3, le=300)] = 60  # comment: the longest recording
    timeout_s: Annotated[float, Field(ge=1, le=30)] = 6.0

    _check_prompt = field_validator("prompt")(_prompt)


class Questionnaire(_Model):
    """The questions and the prompts around them. The intro says who calls, why, and
    "press 9 never to be called again"."""

    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] = "bg"
    intro_prompt: str = "cti/survey-intro"
    invalid_prompt: str = "cti/invalid-choice"
    thanks_prompt: str = "cti/survey-thanks"
    opted_out_prompt: str = "cti/survey-opted-out"
    questions: Annotated[list[Question], Field(min_length=1, max_length=30)]

    _check_prompts = field_validator(
        "intro_prompt", "invalid_prompt", "thanks_prompt", "opted_out_prompt"
    )(_prompt)

    @model_validator(mode="after")
    def _unique(self) -> Questionnaire:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        return self

    def answers_needed(self) -> int:
        """Questions a completed questionnaire answers (a spoken comment is optional)."""
        return sum(1 for q in self.questions if q.kind != "comment")


def accepted(question: Question, keys: str | None) -> str | None:
    """The stored answer for what the citizen keyed, or None when it is no answer."""
    if not keys:
        return None
    if question.kind == "scale":
        return keys if keys in ("1", "2", "3", "4", "5") else None
    if question.kind == "yes_no":
        return {"1": "yes", "2": "no"}.get(keys)
    if question.kind == "digits":
        return keys if keys.isdigit() and len(keys) <= question.max_digits else None
    return None


def survey_outcome(answered: int, needed: int) -> str:
    """completed (every answer), partial (some), refused (none)."""
    if answered >= needed:
        return "completed"
    return "partial" if answered else "refused"


@dataclass(frozen=True)
class Rules:
    max_attempts: int = 3
    retry_after_s: float = 3600.0


def after_attempt(
    outcome: str, attempts: int, rules: Rules, now: dt.datetime
) -> tuple[str, dt.datetime]:
    """A number's status and next attempt after an attempt ended with `outcome`: final
    outcomes stay; no answer, busy, a machine and a failed call are tried again after
    the spacing until the attempts are spent (then `failed`)."""
    if outcome in FINAL:
        return outcome, now
    if attempts >= rules.max_attempts:
        return "failed", now
    return "pending", now + dt.timedelta(seconds=rules.retry_after_s)


def outside_hours(
    definition: IvrDefinition | None, calendar: str | None, when: dt.datetime
) -> str | None:
    """Why citizens may not be called at `when` (None: they may): the notifications'
    rule — the IVR calendar (the campaign's, else the definition's default) in the IVR's
    time zone, summer time and holidays included; no IVR, no calendar to keep."""
    if definition is None:
        return None
    name = calendar if calendar in definition.calendars else None
    if definition.is_open(when, name):
        return None
    return f"outside the calling hours (calendar {name or 'default'}, {definition.timezone})"


def lines_free(campaign_lines: int, mine: int, all_survey_calls: int, max_lines: int) -> int:
    """Calls a campaign may place now: its own `lines`, and all survey calls together
    never above the ACD's outbound `max_lines`."""
    return max(0, min(campaign_lines - mine, max_lines - all_survey_calls))


def inbound_waiting_too_long(waits_s: list[float], limit_s: float) -> bool:
    """Inbound first: no survey call while a caller has waited beyond the limit."""
    return any(w > limit_s for w in waits_s)


@dataclass(frozen=True)
class BadLine:
    line: int
    text: str
    reason: str
    code: str = "bad_phone"  # the reason's stable code, for a page to say it in its language


def _rows(rows: Iterable[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """The CSV's rows with their line numbers; a row the reader cannot take (a field
    longer than its limit) refuses the list (StoreError `bad_list`)."""
    n = 0
    try:
        for n, row in enumerate(rows, start=1):
            yield n, row
    except csv.Error as exc:
        raise StoreError("bad_list", f"line {n + 1} cannot be read: {exc}") from None


def parse_list(text: str) -> tuple[list[str], list[BadLine], int]:
    """A CSV of numbers (the first column; a header line without digits is skipped):
    the numbers in E.164 in order, the bad lines with their reason, and how many
    duplicates were merged. A list of more than MAX_UPLOAD_LINES lines that hold something
    (a header besides) is refused whole
    (StoreError `list_too_long`): a part of it would be a campaign nobody asked for."""
    numbers: list[str] = []
    seen: set[str] = set()
    bad: list[BadLine] = []
    merged = 0
    rows = csv.reader(io.StringIO(text))
    header, lines = 0, 0
    for n, row in _rows(rows):
        # The first column, also of a list saved with ";" or tabs (spreadsheets in many
        # locales): no phone number holds either.
        cell = re.split(r"[;\t]", row[0], maxsplit=1)[0].strip() if row else ""
        if not cell:
            continue
        lines += 1
        if lines > MAX_UPLOAD_LINES + header:  # a header line besides
            raise StoreError(
                "list_too_long", f"a list has at most {MAX_UPLOAD_LINES} lines; nothing was added"
            )
        if n == 1 and not any(c.isdigit() for c in cell):
            header = 1
            continue
        try:
            phone = normalise(cell)
        except StoreError as exc:
            bad.append(BadLine(n, cell[:40], exc.message, exc.code))
            continue
        if phone in seen:
            merged += 1
            continue
        seen.add(phone)
        numbers.append(phone)
    return numbers, bad, merged
