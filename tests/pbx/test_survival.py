"""Scenario 5 of the pbx tier: the CTI is killed; a new citizen is still answered, by
Asterisk's own fallback queue; the CTI comes back, reconnects and picks up the call that
is going on, and records it as Asterisk does (`cti reconcile` with CEL, CDR and
queue_log)."""

from __future__ import annotations

import asyncio
import time

import accounting
import pytest
from hotline import agents, hotline

pytestmark = pytest.mark.pbx


async def test_cti_killed_the_fallback_queue_answers_and_the_cti_catches_up(db_url: str) -> None:
    people = agents({"answer_ms": 1000}, {"answer_ms": 1000}, {"answer_ms": 1000})
    async with hotline(db_url, people) as line:
        line.kill_cti()
        caller = line.call("citizen", ["0888555077"], stay_ms=14000)
        deadline = time.monotonic() + 20
        while not any(e[4] == "CONNECT" for e in line.asterisk.queue_log()):
            assert time.monotonic() < deadline, line.asterisk.queue_log()
            await asyncio.sleep(0.2)
        await line.start_cti()
        assert line.session is not None
        headers = {"Authorization": f"Bearer {line.tokens['boss']}"}
        async with line.session.get(f"{line.base}/api/v1/calls", headers=headers) as r:
            live = await r.text()
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await line.interactions(1)
        calls = accounting.calls(line.asterisk)
        queue_log = line.asterisk.queue_log()
        resynced = line.cti_events("ami.resynced")
        result = await accounting.reconcile(line.asterisk, db_url, line.started_at)
    (call,) = calls.values()
    assert call.queue == "cti-fallback", call  # app_queue was its line
    assert call.outcome == "answered", call
    events = [e[4] for e in queue_log if e[1] == call.id]
    assert events[:2] == ["ENTERQUEUE", "CONNECT"], events
    assert events[-1].startswith("COMPLETE"), events
    m = accounting.Mismatches()
    m.check(call.id in live, f"the live call after the CTI came back: {live}")
    m.check(any(e.get("channels", 0) >= 2 for e in resynced), f"resync after restart: {resynced}")
    m.equal(len(rows), 1, "interactions stored for the fallback call")
    m.reconciled(result, calls=1)
    assert not m.found, str(m)
