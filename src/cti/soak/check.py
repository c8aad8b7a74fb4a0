"""The soak's invariants, computed from what happened (`Truth`) and what the CTI stored
and shows: every call it saw stored exactly once with an end and a reason, and with the
agent who answered it; no agent reserved or on a call without one; no caller waiting
outside the ACD's line; memory flat."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cti.soak.truth import TrueCall, Truth


@dataclass
class Figures:
    calls: int = 0  # citizens' calls the simulated Asterisk had (and ended)
    unseen: int = 0  # began and ended while the CTI was away: not the CTI's to store
    stored: int = 0
    records_lost: int = 0
    records_wrong: int = 0
    agents_stuck: int = 0
    callers_stranded: int = 0
    agents_not_restored: int = 0  # logged out by a CTI restart
    api_500_while_db_away: int = 0  # PostgreSQL kills during which the API said 500
    rss_mb_per_h: float = 0.0
    rss_mb_end: float = 0.0
    rss_minutes: float = 0.0  # how long the memory slope was measured over
    problems: list[str] = field(default_factory=list)


def records(truth: Truth, rows: Iterable[dict[str, Any]], f: Figures) -> None:
    """Each ended call against its stored interaction (`id` = Asterisk's linkedid)."""
    stored = {row["id"]: row for row in rows}
    f.stored = len(stored)
    for call in truth.calls.values():
        if call.ended is None:
            continue
        f.calls += 1
        row = stored.pop(call.linkedid, None)
        if row is None:
            if truth.unseen(call):
                f.unseen += 1
            else:
                f.records_lost += 1
                f.problems.append(f"lost: {call.linkedid} {_life(truth, call)}")
            continue
        wrong = _wrong(truth, call, row)
        if wrong:
            f.records_wrong += 1
            f.problems.append(f"wrong: {call.linkedid} {wrong} {_life(truth, call)}")
    # Rows left in `stored` are other interactions (callbacks, spied calls): not the
    # citizens' calls this check is about.


def _wrong(truth: Truth, call: TrueCall, row: dict[str, Any]) -> str:
    if row["ended_at"] is None or row["end_reason"] is None:
        return f"no end ({row['ended_at']}, {row['end_reason']})"
    # A call that ended while no CTI ran, unanswered as far as the CTI knew: whether it
    # was abandoned or answered meanwhile is not the CTI's to know (docs/soak.md).
    unknown = row["end_reason"] == "ended_while_disconnected" and row["answered_at"] is None
    if row["outcome"] is None and not unknown:
        return f"no outcome ({row['end_reason']})"
    if unknown and truth.during_absence(call.answered):
        return ""
    if (row["agent"] or None) != call.agent:
        return f"agent {row['agent']!r}, Asterisk's {call.agent!r} ({row['outcome']})"
    if (row["answered_at"] is None) != (call.answered is None):
        return f"answered_at {row['answered_at']}, Asterisk answered: {call.answered is not None}"
    return ""


def _life(truth: Truth, call: TrueCall) -> str:
    flags = [
        name
        for name, moment in (
            ("began", call.began),
            ("answered", call.answered),
            ("ended", call.ended),
        )
        if truth.during_absence(moment)
    ]
    return f"({', '.join(flags)} while the CTI was away)" if flags else ""


def agents(views: Iterable[dict[str, Any]], f: Figures) -> None:
    """At the end every call is over: nobody may be reserved for or on one."""
    for agent in views:
        if agent["state"] in ("reserved", "on_call") or agent.get("call"):
            f.agents_stuck += 1
            f.problems.append(f"stuck: {agent['id']} {agent['state']} call {agent.get('call')}")


def rss_slope(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    n = len(samples)
    if n < 3:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 3600


def table(f: Figures) -> str:
    rows = [
        ("citizens' calls (ended)", f.calls),
        ("  began and ended while the CTI was away", f.unseen),
        ("interactions stored", f.stored),
        ("records lost", f.records_lost),
        ("records wrong", f.records_wrong),
        ("agents stuck", f.agents_stuck),
        ("callers stranded", f.callers_stranded),
        ("agents not restored after a CTI restart", f.agents_not_restored),
        ("database kills answered with 500", f.api_500_while_db_away),
        (f"CTI memory slope (MB/h, over {f.rss_minutes:.0f} min)", f"{f.rss_mb_per_h:.1f}"),
        ("CTI memory at the end (MB)", f"{f.rss_mb_end:.0f}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>8}" for name, value in rows)
