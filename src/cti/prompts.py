"""`cti prompts list FILE` and `cti prompts make FILE DIR --lang bg,en`: the sound files an
IVR definition or a survey campaign (its spec as posted, or its questionnaire alone)
plays, and placeholder recordings of them.

Asterisk plays `<sounds>/<language>/<name>.wav` for a prompt `name` once the IVR has set
the channel's language, so every prompt is needed once per language. A missing file makes
Asterisk end the AGI with AGISTATUS=FAILURE. Real recordings replace the placeholders;
until then `make` speaks a text per prompt with espeak-ng and converts it with sox to
what Asterisk plays without transcoding (WAV, 8 kHz, mono, 16-bit).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cti.campaigns.models import Questionnaire
from cti.config import ConfigError, format_validation_error, load_yaml_model, read_text
from cti.ivr import models as m

# What a placeholder says when no text is given: the prompt's name, read out.
Runner = Callable[[Sequence[str]], None]


def prompt_names(definition: m.IvrDefinition) -> list[str]:
    """Every prompt the definition can play, sorted, each once. (Announcements' prompts
    live in the database and are not listed.)"""
    names: set[str] = set()
    for node in definition.nodes.values():
        names.update(_prompts(node))
    for slot in definition.callback_slots.values():
        if slot.confirm_prompt:
            names.add(slot.confirm_prompt)
    return sorted(names)


def questionnaire_prompt_names(questionnaire: Questionnaire) -> list[str]:
    """Every prompt a survey call can play: the intro, each question's, the "invalid",
    "thanks" and "you will not be called again" prompts; sorted, each once."""
    q = questionnaire
    names = {q.intro_prompt, q.invalid_prompt, q.thanks_prompt, q.opted_out_prompt}
    names.update(question.prompt for question in q.questions)
    return sorted(names)


def file_prompt_names(path: Path) -> list[str]:
    """The prompts of an IVR definition (YAML) or of a survey campaign: a file with
    `questionnaire` (the spec as posted) or `questions` (a questionnaire; JSON is YAML
    too). ConfigError names the file and every bad field."""
    import yaml

    try:
        top = yaml.safe_load(read_text(path))
    except (yaml.YAMLError, RecursionError):
        top = None  # the loader below says what is wrong
    if isinstance(top, dict) and "questionnaire" in top:
        if not isinstance(top["questionnaire"], dict):
            raise ConfigError([f"{path}: questionnaire: expected a mapping"])
        try:
            return questionnaire_prompt_names(Questionnaire.model_validate(top["questionnaire"]))
        except ValidationError as exc:
            problems = format_validation_error(exc)
            raise ConfigError([f"{path}: questionnaire.{p}" for p in problems]) from None
    if isinstance(top, dict) and "questions" in top:
        return questionnaire_prompt_names(load_yaml_model(path, Questionnaire))
    return prompt_names(m.load_ivr(path))


def _prompts(node: m.Node) -> Iterable[str]:
    if isinstance(node, m.Play | m.RecordingNotice | m.Voicemail | m.Hangup):
        yield from node.prompts
    if isinstance(node, m.Menu | m.Collect):
        yield node.prompt
        if node.invalid_prompt:
            yield node.invalid_prompt
    if isinstance(node, m.Language):
        yield node.prompt
    if isinstance(node, m.CaseStatus):
        yield node.prompt
        yield node.not_found_prompt
        yield from node.status_prompts.values()
    if isinstance(node, m.CallbackOffer):
        yield node.prompt
        yield node.other_number_prompt
        if node.confirm_prompt:
            yield node.confirm_prompt
    if isinstance(node, m.Survey):
        yield node.prompt
        if node.thanks_prompt:
            yield node.thanks_prompt


def spoken(name: str) -> str:
    """The placeholder's text: `cti/main-menu` -> "main menu"."""
    return name.rsplit("/", 1)[-1].replace("-", " ").replace("_", " ")


@dataclass(frozen=True)
class Planned:
    path: Path
    language: str
    text: str
    exists: bool


def plan(
    names: Sequence[str],
    languages: Sequence[str],
    folder: Path,
    texts: dict[str, dict[str, str]] | None = None,
) -> list[Planned]:
    """The files to have: `<folder>/<language>/<name>.wav` with their texts (`texts`:
    prompt -> language -> words; the prompt's name read out otherwise)."""
    texts = texts or {}
    out = []
    for language in languages:
        for name in names:
            path = folder / language / f"{name}.wav"
            text = texts.get(name, {}).get(language) or spoken(name)
            out.append(Planned(path, language, text, path.exists()))
    return out


def _run(args: Sequence[str]) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=60)


def missing_tools() -> list[str]:
    return [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]


def synthesise(item: Planned, run: Runner = _run) -> None:
    """One placeholder: espeak-ng in the prompt's language, then 8 kHz mono 16-bit WAV."""
    item.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cti-prompt-") as tmp:
        raw = Path(tmp) / "espeak.wav"
        run(["espeak-ng", "-v", item.language, "-w", str(raw), item.text])
        run(
            [
                "sox",
                "-V1",  # errors only: espeak's loud peaks make sox warn about clipping
                str(raw),
                "-r",
                "8000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                str(item.path),
            ]
        )


def make(
    names: Sequence[str],
    folder: Path,
    languages: Sequence[str],
    *,
    texts: dict[str, dict[str, str]] | None = None,
    overwrite: bool = False,
    run: Runner = _run,
) -> tuple[list[Planned], list[Planned]]:
    """Make the missing placeholders (all with `overwrite`); (made, kept)."""
    made, kept = [], []
    for item in plan(names, languages, folder, texts):
        if item.exists and not overwrite:
            kept.append(item)
            continue
        synthesise(item, run)
        made.append(item)
    return made, kept
