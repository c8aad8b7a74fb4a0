"""Reader of the captured Asterisk transcripts (`tests/transcripts/*.txt` in the checkout).

Format (see each file's header): `#`-lines are annotations; `#> ...` blocks are what
the capturing client sent; every other line is what Asterisk sent, CRLF normalised to
LF. `# NOTE (capture script): ... bare LF ... at: '<bytes>'` marks the few places where
Asterisk really sent a bare LF; we restore those bytes exactly.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

_NOTE_BARE_LF = re.compile(r"bare LF byte\(s\).* at: ('.*?')\. In this file")
_CLOSED = re.compile(r"^# \[\+[\d.]+s \w+: connection closed by Asterisk")
_NOT_SENT = "not sent - connection already closed"


@dataclass
class Step:
    """One client action (None for what the server sends on connect) and the answer."""

    action: dict[str, str] | None
    server: str = ""  # exact wire text, CRLF line ends
    sent: bool = True

    @property
    def name(self) -> str:
        return (self.action or {}).get("Action", "")

    @property
    def action_id(self) -> str:
        return (self.action or {}).get("ActionID", "")


@dataclass
class Section:
    title: str
    steps: list[Step] = field(default_factory=list)
    close_after: int | None = None  # index of the step after which Asterisk hung up

    @property
    def server_bytes(self) -> bytes:
        return "".join(step.server for step in self.steps).encode("utf-8")


def default_dir() -> Path:
    """`CTI_TRANSCRIPTS_DIR`, else `tests/transcripts` of the checkout this package runs
    from (the tests and `cti bench ami` replay them; a wheel does not carry them)."""
    env = os.environ.get("CTI_TRANSCRIPTS_DIR")
    if env:
        return Path(env)
    # src/cti/sim/transcripts.py -> the checkout's root
    return Path(__file__).resolve().parents[3] / "tests" / "transcripts"


def find(number: int, folder: Path | None = None) -> Path:
    """Transcript `number` (`01-*.txt` ...) in `folder` (default: `default_dir()`)."""
    folder = folder or default_dir()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no Asterisk transcripts at {folder} (they live in a checkout's tests/transcripts);"
            " set CTI_TRANSCRIPTS_DIR or pass the folder"
        )
    matches = sorted(folder.glob(f"{number:02d}-*.txt"))
    if not matches:
        raise FileNotFoundError(f"no transcript {number:02d} in {folder}")
    return matches[0]


def _naive(ctx: str) -> str:
    """What the LF->CRLF reconstruction turned the real bytes `ctx` into."""
    out = []
    for i, ch in enumerate(ctx):
        if ch == "\n" and i > 0 and ctx[i - 1] != "\r":
            out.append("\r\n")
        else:
            out.append(ch)
    return "".join(out)


def load_ami(path: Path) -> list[Section]:
    """Parse an AMI transcript into connections, each a list of steps."""
    sections: list[Section] = []
    section: Section | None = None
    in_action = False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("#="):
            if line.startswith("#= "):
                section = Section(title=line[3:].strip())
                section.steps.append(Step(action=None))
                sections.append(section)
            continue
        if section is None:
            continue
        steps = section.steps
        if line.startswith("#> "):
            if line.startswith("#> [+") and line.rstrip().endswith("sent]"):
                steps.append(Step(action={}))
                in_action = True
                continue
            if in_action and ": " in line:
                key, _, value = line[3:].partition(": ")
                assert steps[-1].action is not None
                steps[-1].action[key] = value
            continue
        if line == "#>":
            in_action = False
            continue
        if line.startswith("#"):
            note = _NOTE_BARE_LF.search(line)
            if note:
                ctx = ast.literal_eval(note.group(1))
                text = steps[-1].server
                at = text.rfind(_naive(ctx))
                if at < 0:
                    raise ValueError(f"{path.name}: bare-LF note does not match: {ctx!r}")
                steps[-1].server = text[:at] + ctx + text[at + len(_naive(ctx)) :]
            elif _NOT_SENT in line:
                steps[-1].sent = False
            elif _CLOSED.match(line):
                section.close_after = len(steps) - 1
            continue
        steps[-1].server += line + "\r\n"
    for sec in sections:  # the file's trailing newline is not protocol
        if sec.steps and sec.steps[-1].server.endswith("\r\n\r\n\r\n"):
            sec.steps[-1].server = sec.steps[-1].server[:-2]
    return sections


@dataclass
class AgiStep:
    command: str  # the line our server sent (without LF)
    reply: str  # what Asterisk answered, LF line ends (may end with the HANGUP line)


@dataclass
class AgiSection:
    title: str
    env: str  # the environment block, LF line ends, with its empty line
    steps: list[AgiStep] = field(default_factory=list)


def load_agi(path: Path) -> list[AgiSection]:
    """The FastAGI sessions of a transcript (03): bare-LF bytes, as on the wire."""
    sections: list[AgiSection] = []
    current: AgiSection | None = None
    in_command = False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith("#= FastAGI session"):
            current = AgiSection(line[3:].strip(), "")
            sections.append(current)
            in_command = False
            continue
        if current is None:
            continue
        if line.startswith("#> [") and "AGI sent" in line:
            in_command = True
            continue
        if line.startswith("#> ") and in_command:
            current.steps.append(AgiStep(line[3:], ""))
            in_command = False
            continue
        if line.startswith("#"):
            in_command = False
            continue
        if current.steps:
            current.steps[-1].reply += line + "\n"
        else:
            current.env += line + "\n"
    for section in sections:  # the file's trailing newline is not a wire line
        if section.steps:
            last = section.steps[-1]
            last.reply = last.reply.rstrip("\n") + "\n" if last.reply.strip() else ""
        section.env = section.env.rstrip("\n") + "\n\n"
    return sections
