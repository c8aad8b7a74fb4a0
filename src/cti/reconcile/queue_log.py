"""What app_queue wrote to `queue_log` about each call (whole seconds): the queue, when
it entered, who took it after how long (`CONNECT|holdtime|uniqueid|ringtime`), how
long they talked and who ended it (`COMPLETEAGENT|hold|talk|pos`, `COMPLETECALLER`),
or how it left unanswered (`ABANDON|pos|origpos|wait`, `EXITWITHTIMEOUT`, `EXITEMPTY`,
`EXITWITHKEY|key|pos|origpos|wait`).

A line is `time|callid|queue|agent|event|data...`; callid is the caller's Uniqueid,
mapped to the interaction's Linkedid through CEL. Lines of no call (`NONE`, e.g. the
`QUEUESTART` at every boot) are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cti.reconcile.errors import InputError
from cti.reconcile.files import lines, number
from cti.reconcile.models import Agents, QueueLogCall

LEFT_UNANSWERED = {
    # event -> (outcome, index of the wait in data)
    "ABANDON": ("abandoned", 2),
    "EXITWITHTIMEOUT": ("overflowed", 2),
    "EXITEMPTY": ("overflowed", 2),
    "EXITWITHKEY": ("overflowed", 3),
}
COMPLETED = {"COMPLETEAGENT": "agent", "COMPLETECALLER": "caller"}


@dataclass(frozen=True)
class QueueLogEntry:
    line: int
    at: float
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


def read_queue_log(path: Path, option: str = "--queue-log") -> list[QueueLogEntry]:
    out = []
    for line, text in lines(path, option):
        if not text.strip():
            continue
        parts = text.split("|")
        if len(parts) < 5:
            raise InputError(
                "bad_row",
                f"{path} line {line}: {len(parts)} fields, expected at least 5"
                " (time|callid|queue|agent|event|data...)",
            )
        at = number(parts[0], "time", path, line)
        out.append(
            QueueLogEntry(line, at, parts[1], parts[2], parts[3], parts[4], tuple(parts[5:]))
        )
    return out


def _seconds(entry: QueueLogEntry, index: int, path: Path) -> float | None:
    if index >= len(entry.data) or entry.data[index] == "":
        return None
    return number(entry.data[index], f"{entry.event} field {index + 1}", path, entry.line)


def calls_from_queue_log(
    entries: list[QueueLogEntry],
    linkedid_of: Mapping[str, str],
    agents: Agents,
    path: Path = Path("queue_log"),
) -> dict[str, QueueLogCall]:
    """Each call app_queue handled, by Linkedid."""
    out: dict[str, QueueLogCall] = {}
    for e in entries:
        if e.callid in ("", "NONE"):
            continue
        call_id = linkedid_of.get(e.callid, e.callid)
        call = out.get(call_id)
        if e.event == "ENTERQUEUE":
            if call is None:
                out[call_id] = QueueLogCall(call_id, e.queue, e.at)
            else:
                call.queue = e.queue
            continue
        if call is None:
            continue  # entered before this file began
        if e.event == "CONNECT":
            call.outcome, call.agent = "answered", agents.of_member(e.agent)
            call.wait_s, call.ring_s = _seconds(e, 0, path), _seconds(e, 2, path)
        elif e.event in COMPLETED:
            call.hangup_side = COMPLETED[e.event]
            call.talk_s = _seconds(e, 1, path)
        elif e.event in LEFT_UNANSWERED and call.outcome != "answered":
            call.outcome, index = LEFT_UNANSWERED[e.event]
            call.wait_s = _seconds(e, index, path)
    return out
