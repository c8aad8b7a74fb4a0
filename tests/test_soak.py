"""`cti soak`'s checks: what counts as lost, wrong, unseen, stuck; the memory slope."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cti.soak import check
from cti.soak.faults import ORDER, schedule
from cti.soak.truth import TrueCall, Truth


def row(call: str, **kw: Any) -> dict[str, Any]:
    at = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    base = {"id": call, "agent": None, "answered_at": None, "ended_at": at}
    return base | {"end_reason": "abandoned", "outcome": "abandoned"} | kw


def truth() -> Truth:
    t = Truth({"a1": "a1"})
    t.calls = {
        "ok": TrueCall("ok", "1", 100.0, 160.0, "a1", 110.0),
        "gone": TrueCall("gone", "2", 100.0, 130.0),
        "unseen": TrueCall("unseen", "3", 205.0, 215.0),
        "swapped": TrueCall("swapped", "4", 100.0, 150.0, "a1", 120.0),
        "unknown": TrueCall("unknown", "5", 190.0, 230.0, "a1", 210.0),
        "live": TrueCall("live", "6", 100.0),
    }
    t.away = [[200.0, 220.0]]
    return t


def test_lost_wrong_and_unseen_records_are_told_apart() -> None:
    answered = {"agent": "a1", "outcome": "answered", "end_reason": "completed"}
    rows = [
        row("ok", answered_at=1, **answered),
        row("swapped", answered_at=1, **answered | {"agent": "a2"}),
        # Asked at 190, answered at 210 while the CTI was away: unknowable, not wrong.
        row("unknown", end_reason="ended_while_disconnected", outcome=None),
        row("callback-of-ok"),  # another kind of interaction: not checked here
    ]
    f = check.Figures()
    check.records(truth(), rows, f)
    assert (f.calls, f.stored, f.unseen) == (5, 4, 1)
    assert (f.records_lost, f.records_wrong) == (1, 1)
    assert any(p.startswith("lost: gone") for p in f.problems)
    assert any(p.startswith("wrong: swapped agent 'a2'") for p in f.problems)


def test_a_record_without_an_end_or_an_outcome_is_wrong() -> None:
    t = truth()
    rows = [row("ok", agent="a1", answered_at=1, end_reason=None), row("gone", outcome=None)]
    f = check.Figures()
    check.records(t, rows, f)
    assert f.records_wrong == 2


def test_agents_on_a_call_at_the_end_are_stuck() -> None:
    f = check.Figures()
    views = [
        {"id": "a1", "state": "ready", "call": None},
        {"id": "a2", "state": "on_call", "call": "x"},
        {"id": "a3", "state": "reserved", "call": "y"},
        {"id": "a4", "state": "wrap_up", "call": None},
    ]
    check.agents(views, f)
    assert f.agents_stuck == 2


def test_memory_slope_in_mb_per_hour() -> None:
    flat = [(t * 10.0, 50.0) for t in range(30)]
    growing = [(t * 60.0, 50.0 + t * 0.5) for t in range(30)]  # 0.5 MB a minute
    assert check.rss_slope(flat) == 0.0
    assert abs(check.rss_slope(growing) - 30.0) < 1e-9


def test_every_fault_comes_once_and_the_ctis_own_in_the_first_half() -> None:
    plan = schedule(800.0)
    assert [name for _, name in plan] == list(ORDER)
    assert all(at < 400.0 + 1e-9 for at, name in plan if name.startswith("cti_"))
    assert all(0 < at < 800 for at, _ in plan)
