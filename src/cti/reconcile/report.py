"""The report a supervisor reads: every disagreement (call, field, ours, Asterisk's), the
totals side by side (all calls, then by queue), and a last line of JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from cti.reconcile.compare import OUTCOMES, Totals
from cti.reconcile.models import Disagreement


def value(v: object, name: str, tz: tzinfo | None) -> str:
    """A field's value as the table shows it: times in the period's zone, seconds to
    the millisecond, a missing value as `-`."""
    if v is None:
        return "-"
    if isinstance(v, float) and name.endswith("_at"):
        return datetime.fromtimestamp(v, tz).isoformat(sep=" ", timespec="milliseconds")
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _difference(d: Disagreement) -> str:
    if isinstance(d.ours, float) and isinstance(d.asterisk, float):
        return f"{d.asterisk - d.ours:+.3f}"
    return ""


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def disagreements(found: Sequence[Disagreement], tz: tzinfo | None) -> list[str]:
    if not found:
        return ["No disagreements."]
    rows = [
        [
            d.call,
            d.field,
            value(d.ours, d.field, tz),
            value(d.asterisk, d.field, tz),
            _difference(d),
            d.source,
        ]
        for d in found
    ]
    head = ["call", "field", "ours", "Asterisk", "Asterisk - ours", "from"]
    return [f"Disagreements ({len(found)}):", *_table(head, rows, {4})]


def _figures(t: Totals) -> list[str]:
    return [
        str(t.calls),
        *(str(t.outcomes.get(o, 0)) for o in OUTCOMES),
        f"{t.wait_s:.1f}",
        f"{t.talk_s:.1f}",
        f"{t.hold_s:.1f}",
    ]


def totals(
    ours: Totals, asterisk: Totals, by_queue: Mapping[str, tuple[Totals, Totals]]
) -> list[str]:
    """All calls, then each queue: our figures and Asterisk's on consecutive lines."""
    head = ["queue", "side", "calls", *OUTCOMES, "wait s", "talk s", "hold s"]
    rows = [["all", "ours", *_figures(ours)], ["", "Asterisk", *_figures(asterisk)]]
    for queue, (mine, theirs) in sorted(by_queue.items()):
        rows += [[queue, "ours", *_figures(mine)], ["", "Asterisk", *_figures(theirs)]]
    note = []
    if asterisk.unfinished:
        note = [
            f"({asterisk.unfinished} calls have no end in Asterisk's CEL: their talk and hold,"
            " and the outcome and wait of those no agent answered, are not in its totals)"
        ]
    return ["Totals:", *_table(head, rows, set(range(2, len(head)))), *note]


def summary(calls_ours: int, calls_asterisk: int, found: int) -> str:
    return json.dumps(
        {"calls_ours": calls_ours, "calls_asterisk": calls_asterisk, "disagreements": found}
    )
