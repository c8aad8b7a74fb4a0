"""Our records against Asterisk's, field by field (pure: no I/O).

Times and durations both sides measure to the microsecond (ours: when the CTI got
Asterisk's event; CEL, CDR: Asterisk's clock) agree within `tolerance` seconds.
queue_log counts whole seconds: its second `t` covers [t, t + 1), and a duration it
gives differs from the exact one by less than 1 s, so those are compared with that
second added to the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cti.reconcile.models import Call, CdrCall, Disagreement, QueueLogCall

TIMES = ("arrived_at", "queued_at", "answered_at", "ended_at")
DURATIONS = ("wait_s", "ring_s", "talk_s", "hold_s")
# What a call's end decides: not compared when Asterisk's CEL has no end for it (nor,
# then, the outcome and wait of a call no agent answered: Asterisk does not say them).
NEEDS_END = {"ended_at", "talk_s", "hold_s", "hangup_side"}
OUTCOMES = ("answered", "abandoned", "overflowed", "callback", "failed", "ivr_only")


def _close(a: float | None, b: float | None, within: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= within + 1e-6


class _Found:
    def __init__(self, call: str, source: str) -> None:
        self.call, self.source = call, source
        self.found: list[Disagreement] = []

    def add(self, name: str, ours: object, asterisk: object) -> None:
        self.found.append(Disagreement(self.call, name, ours, asterisk, self.source))

    def equal(self, name: str, ours: object, asterisk: object) -> None:
        if ours != asterisk:
            self.add(name, ours, asterisk)

    def close(self, name: str, ours: float | None, asterisk: float | None, within: float) -> None:
        if not _close(ours, asterisk, within):
            self.add(name, ours, asterisk)


def compare_cel(ours: Call | None, asterisk: Call | None, tolerance: float) -> list[Disagreement]:
    """One interaction: stored record and legs against Asterisk's CEL."""
    either = ours or asterisk
    f = _Found(either.id if either else "?", "CEL")
    if ours is None or asterisk is None:
        f.add("call", "present" if ours else "missing", "present" if asterisk else "missing")
        return f.found
    skip = set() if asterisk.finished else set(NEEDS_END)
    if not asterisk.finished and asterisk.answered_at is None:
        skip |= {"outcome", "wait_s"}
    for name in ("outcome", "agent"):
        if name not in skip:
            f.equal(name, getattr(ours, name), getattr(asterisk, name))
    for name in (*TIMES, *DURATIONS):
        if name not in skip:
            f.close(name, getattr(ours, name), getattr(asterisk, name), tolerance)
    if "hangup_side" not in skip:
        f.equal("hangup_side", ours.hangup_side, asterisk.hangup_side)
    mine = {leg.uniqueid: leg for leg in ours.legs}
    for leg in asterisk.legs:
        name = f"leg {leg.channel}"
        stored = mine.pop(leg.uniqueid, None)
        if stored is None:
            f.add(name, "missing", "present")
            continue
        f.equal(f"{name} role", stored.role, leg.role)
        f.equal(f"{name} agent", stored.agent, leg.agent)
        f.close(f"{name} started_at", stored.started_at, leg.started_at, tolerance)
        f.close(f"{name} answered_at", stored.answered_at, leg.answered_at, tolerance)
        if asterisk.finished:
            f.close(f"{name} ended_at", stored.ended_at, leg.ended_at, tolerance)
    for leg in mine.values():
        f.add(f"leg {leg.channel}", "present", "missing")
    return f.found


def compare_queue_log(
    ours: Call, queued: QueueLogCall, first_line_is_queue: bool, tolerance: float
) -> list[Disagreement]:
    """One call app_queue handled. Its wait and entry are app_queue's alone: compared
    only when app_queue was the call's first line (not after our ACD's overflow)."""
    f = _Found(queued.id, "queue_log")
    within = tolerance + 1.0
    if queued.outcome is not None:
        f.equal("outcome", ours.outcome, queued.outcome)
    if queued.agent is not None:
        f.equal("agent", ours.agent, queued.agent)
    if first_line_is_queue:
        at = ours.queued_at
        if at is None or not queued.entered_at - tolerance <= at < queued.entered_at + within:
            f.add("queued_at", at, queued.entered_at)
        if queued.wait_s is not None:
            f.close("wait_s", ours.wait_s, queued.wait_s, within)
    if queued.ring_s is not None:
        f.close("ring_s", ours.ring_s, queued.ring_s, within)
    if queued.talk_s is not None:
        # app_queue's call time runs from CONNECT to the end, holds included.
        both = None if ours.talk_s is None else ours.talk_s + (ours.hold_s or 0.0)
        f.close("talk_s + hold_s", both, queued.talk_s, within)
    if queued.hangup_side is not None:
        f.equal("hangup_side", ours.hangup_side, queued.hangup_side)
    return f.found


def compare_cdr(ours: Call, cdr: CdrCall) -> list[Disagreement]:
    """One Linkedid's CDR rows: the agent who took it. Not the end: a CDR ends with its
    Dial's bridge, and a caller who stays in the dialplan after it (hung up on hold in
    [cti-held], in the survey) is in no CDR row (seen on Asterisk 22.10.1)."""
    f = _Found(cdr.id, "CDR")
    f.equal("agent", ours.agent, cdr.agent)
    return f.found


@dataclass
class Totals:
    """Counts and summed figures of a set of calls (one side, one queue)."""

    calls: int = 0
    unfinished: int = 0  # with no end in Asterisk's CEL
    outcomes: dict[str, int] = field(default_factory=dict)
    wait_s: float = 0.0
    talk_s: float = 0.0
    hold_s: float = 0.0

    def add(self, call: Call) -> None:
        self.calls += 1
        self.unfinished += not call.finished
        outcome = call.outcome or "unknown"  # no end in Asterisk's CEL, not answered
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.wait_s += call.wait_s or 0.0
        self.talk_s += call.talk_s or 0.0
        self.hold_s += call.hold_s or 0.0


def totals(calls: Iterable[Call]) -> Totals:
    out = Totals()
    for call in calls:
        out.add(call)
    return out
