"""What Asterisk's CDR (cdr_custom CSV, deploy/asterisk/cdr_custom.conf) says of each
call: one row per Dial (or Queue, or the caller alone), grouped by Linkedid.

CDR cannot give wait or talk on this dialplan: its `answer` is the IVR's `Answer()`, so
`billsec` runs from the greeting; nor always the end: a row ends with its Dial's bridge,
and a caller who goes on in the dialplan after it (on hold in `[cti-held]`) is in no
row. It does say whose phone took the call: the first `ANSWERED` row whose `dstchannel`
is an agent's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cti.queues.dialplan import CONNECT
from cti.reconcile.files import csv_rows, number
from cti.reconcile.models import Agents, CdrCall

# The columns of deploy/asterisk/cdr_custom.conf, in its order (a test checks they agree).
CDR_FIELDS = (
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "uniqueid",
    "linkedid",
)


@dataclass(frozen=True)
class CdrRow:
    line: int
    linkedid: str
    dcontext: str
    dstchannel: str
    lastapp: str
    start: float
    end: float | None
    disposition: str


def read_cdr(path: Path, option: str = "--cdr") -> list[CdrRow]:
    out = []
    for line, row in csv_rows(path, option, CDR_FIELDS):
        end = number(row["end"], "end", path, line) if row["end"] else None
        out.append(
            CdrRow(
                line,
                row["linkedid"],
                row["dcontext"],
                row["dstchannel"],
                row["lastapp"],
                number(row["start"], "start", path, line),
                end or None,  # an unset time is written as 0
                row["disposition"],
            )
        )
    return out


def calls_from_cdr(rows: Iterable[CdrRow], agents: Agents) -> dict[str, CdrCall]:
    out: dict[str, CdrCall] = {}
    for row in sorted(rows, key=lambda r: r.start):
        call = out.setdefault(row.linkedid, CdrCall(row.linkedid, None, None))
        if row.end is not None:
            call.ended_at = max(call.ended_at or row.end, row.end)
        agent = agents.of_channel(row.dstchannel) if row.dstchannel else None
        if agent is None and row.dstchannel and (row.lastapp == "Queue" or row.dcontext == CONNECT):
            agent = agents.name(row.dstchannel)  # a member app_queue rang, or Dial of an agent
        if call.agent is None and row.disposition == "ANSWERED" and agent is not None:
            call.agent = agent
    return out
