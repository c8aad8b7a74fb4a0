"""Asterisk's CEL read as the call-control and fault scenarios need it: the rows of a
call, when a channel did what in which context, music on hold, the apps a channel ran.

Read straight from the CSV (columns as deploy/asterisk/cel_custom.conf names them), not
through the product's `cti.reconcile`: these are the test's own observations of what
Asterisk did, to hold the product's records against."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from asterisk import DEPLOY


def columns() -> list[str]:
    """`EventType,EventTime(double),...` of the deployment's mapping -> `eventtype`, ..."""
    text = (DEPLOY / "asterisk" / "cel_custom.conf").read_text()
    found = re.search(r"^fields\s*=\s*(.+)$", text, re.M)
    assert found, "no fields in deploy/asterisk/cel_custom.conf"
    return [re.sub(r"\(.*\)", "", f).strip().lower() for f in found.group(1).split(",")]


@dataclass(frozen=True)
class Row:
    kind: str  # CHAN_START, ANSWER, STREAM_BEGIN, HANGUP, APP_START, ...
    at: float
    channel: str
    uniqueid: str
    linkedid: str
    context: str
    app: str
    data: str
    extra: dict[str, object]


class Cel:
    """Every CEL row Asterisk wrote, in file order (the order of the events)."""

    def __init__(self, path: Path) -> None:
        names = columns()
        text = path.read_text(errors="replace") if path.exists() else ""
        self.rows: list[Row] = []
        for values in csv.reader(io.StringIO(text)):
            if not values:
                continue
            r = dict(zip(names, values, strict=False))
            try:
                extra = json.loads(r.get("eventextra") or "{}")
            except ValueError:
                extra = {}
            self.rows.append(
                Row(
                    r["eventtype"],
                    float(r["eventtime"]),
                    r["channame"],
                    r["uniqueid"],
                    r["linkedid"],
                    r["context"],
                    r["appname"],
                    r["appdata"],
                    extra if isinstance(extra, dict) else {},
                )
            )

    def calls(self) -> list[str]:
        """Linkedids of the calls citizens made through the trunk, in order."""
        return [
            r.linkedid
            for r in self.rows
            if r.kind == "CHAN_START"
            and r.channel.startswith("PJSIP/trunk-")
            and r.uniqueid == r.linkedid
        ]

    def of(self, linkedid: str) -> list[Row]:
        return [r for r in self.rows if r.linkedid == linkedid]

    def channels(self, prefix: str, linkedid: str | None = None) -> list[str]:
        """Channels whose name starts with `prefix` (`PJSIP/agent-1001-`), by start."""
        return [
            r.channel
            for r in self.rows
            if r.kind == "CHAN_START"
            and r.channel.startswith(prefix)
            and (linkedid is None or r.linkedid == linkedid)
        ]

    def times(
        self, kind: str, channel: str, context: str | None = None, linkedid: str | None = None
    ) -> list[float]:
        """When `channel` had `kind` events (in `context`). Channel names start again
        at -00000000 after Asterisk restarts: give the call's `linkedid` then."""
        return [
            r.at
            for r in self.rows
            if r.kind == kind
            and r.channel == channel
            and context in (None, r.context)
            and linkedid in (None, r.linkedid)
        ]

    def first(
        self, kind: str, channel: str, context: str | None = None, linkedid: str | None = None
    ) -> float | None:
        found = self.times(kind, channel, context, linkedid)
        return found[0] if found else None

    def music(self, channel: str, context: str) -> list[tuple[float, float]]:
        """Stretches of music on hold the channel heard, begun in `context`."""
        out: list[tuple[float, float]] = []
        begun: float | None = None
        for r in self.rows:
            if r.channel != channel:
                continue
            if r.kind == "STREAM_BEGIN" and r.context == context and begun is None:
                begun = r.at
            elif r.kind in ("STREAM_END", "HANGUP") and begun is not None:
                out.append((begun, r.at))
                begun = None
        return out

    def hangup_source(self, channel: str) -> str:
        for r in self.rows:
            if r.kind == "HANGUP" and r.channel == channel:
                return str(r.extra.get("hangupsource", ""))
        return ""

    def apps(self, channel_prefix: str) -> list[tuple[str, str]]:
        """(app, data) of every APP_START of the channels starting with the prefix."""
        return [
            (r.app, r.data)
            for r in self.rows
            if r.kind == "APP_START" and r.channel.startswith(channel_prefix)
        ]
