"""Scenario 7 of the pbx tier: fifteen citizens in a minute on three agents. Every call
Asterisk saw is accounted for by the CTI as Asterisk accounts for it: `cti reconcile`
over the minute finds no disagreement (pytest -s prints its report)."""

from __future__ import annotations

import accounting
import pytest
from hotline import agents, hotline

pytestmark = pytest.mark.pbx


async def test_fifteen_callers_in_a_minute_on_three_agents(db_url: str) -> None:
    people = agents(
        {"answer_ms": 1000, "talk_ms": 11000},
        {"answer_ms": 1500, "talk_ms": 12000},
        {"answer_ms": 2000, "talk_ms": 13000},
    )
    async with hotline(db_url, people) as line:
        patient = [f"088855{n:04d}" for n in range(101, 113)]
        impatient = [f"088866{n:04d}" for n in range(201, 204)]
        waiting = line.call("patient", patient, per_minute=12)
        leaving = line.call("impatient", impatient, per_minute=3, stay_ms=4000)
        waiting.wait(180)
        leaving.wait(60)
        await line.settle(30)
        found = await line.interactions(len(patient) + len(impatient), timeout=15)
        calls = accounting.calls(line.asterisk)
        result = await accounting.reconcile(line.asterisk, db_url, line.started_at)
        left = line.asterisk.channels()
    print()
    print(result.report, result.errors)
    assert len(calls) == 15, f"Asterisk saw {len(calls)} calls"
    m = accounting.Mismatches()
    m.equal(left, [], "channels left in Asterisk")
    m.equal(len(found), 15, "interactions stored")
    m.reconciled(result, calls=15)
    answered = [c for c in calls.values() if c.outcome == "answered"]
    m.check(len(answered) >= 12, f"patient callers answered: {len(answered)} of 12")
    assert not m.found, str(m)
