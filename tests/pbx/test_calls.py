"""Scenarios 1-3 of the pbx tier: one citizen each, through the deployment's IVR and the
ACD to sipp agents' phones on a real Asterisk. What the CTI stored is checked against
what Asterisk itself recorded (CEL, CDR, queue_log) by `cti reconcile`; what it showed,
against the scenario and `core show channels`."""

from __future__ import annotations

import hashlib
import io
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import accounting
import pytest
from hotline import Hotline, agents, hotline

pytestmark = pytest.mark.pbx

NUMBER = "0888555001"
E164 = "+359888555001"


async def stored(line: Hotline) -> list[dict[str, Any]]:
    """The interactions, once the outbox has written them."""
    return await line.interactions(1)


def read_files(paths: Iterable[str]) -> dict[str, bytes]:
    return {path: Path(path).read_bytes() for path in paths}


def asterisk_is_idle(line: Hotline, m: accounting.Mismatches) -> None:
    """No channel left, and Asterisk's own queue was never used (the ACD routed)."""
    m.equal(line.asterisk.channels(), [], "channels left in Asterisk (core show channels)")
    entered = [e for e in line.asterisk.queue_log() if e[4] == "ENTERQUEUE"]
    m.equal(entered, [], "calls in Asterisk's fallback queue (queue_log)")


@pytest.mark.parametrize("hangs_up", ["agent", "caller"])
async def test_ivr_queue_agent_answers_talks_and_hangs_up(db_url: str, hangs_up: str) -> None:
    """Scenario 1: IVR (English, topic 1) -> queue -> ivanova's phone rings -> she answers
    after 1.5 s -> they talk -> one of them hangs up. Screen-pop, record, recording."""
    first = {"answer_ms": 1500, "talk_ms": 4000 if hangs_up == "agent" else 0}
    people = agents(first, {"ready": False}, {"ready": False})
    async with hotline(db_url, people) as line:
        stay = 0 if hangs_up == "agent" else 8000  # after the topic key: ~5 s of talk
        caller = line.call("citizen", [NUMBER], stay_ms=stay)
        desktop = line.desktops["ivanova"]
        pop = await desktop.wait(lambda f: f["type"] == "screen_pop", 25)
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await stored(line)
        recordings = await line.rows("SELECT * FROM recordings")
        files = read_files(r["path"] for r in recordings)  # before the RUN folder goes
        calls = accounting.calls(line.asterisk)
        cdr = accounting.cdr(line.asterisk)
        m = accounting.Mismatches()
        m.reconciled(await accounting.reconcile(line.asterisk, db_url, line.started_at), calls=1)
        asterisk_is_idle(line, m)
        states = desktop.states()
    assert len(calls) == 1, calls
    (call,) = calls.values()
    assert len(rows) == 1, rows
    (row,) = rows
    assert call.agent == "ivanova", call  # the scenario did what it says
    assert call.hangup_side == hangs_up, call
    # The screen-pop: this call, its caller, the IVR path.
    m.equal(pop["call"], row["id"], "screen-pop call")
    m.equal(pop["number"], E164, "screen-pop number (as stored for the caller)")
    m.equal(pop["queue"], "social_assistance", "screen-pop queue")
    m.check("main:1" in pop["ivr_path"], f"screen-pop IVR path {pop['ivr_path']}")
    m.check("language:en" in pop["ivr_path"], f"screen-pop IVR path {pop['ivr_path']}")
    # The talk ended the call in its Dial's bridge: Asterisk's CDR ends with it.
    m.close(row["ended_at"].timestamp(), cdr[call.id].ended_at, "ended_at vs CDR end", 0.1)
    # The agent's states as the desktop showed them.
    m.equal(
        [s for s, _ in states],
        ["not_ready", "ready", "reserved", "on_call", "wrap_up"] + (["ready"] * (len(states) > 5)),
        "agent states on the desktop",
    )
    # The recording: linked to the call, the file as stored, audio for the talk.
    m.equal(len(recordings), 1, "recordings")
    for rec in recordings:
        m.equal(rec["interaction_id"], row["id"], "recording's interaction")
        data = files[rec["path"]]
        m.equal(rec["size_bytes"], len(data), "recording size")
        m.equal(rec["sha256"], hashlib.sha256(data).hexdigest(), "recording checksum")
        with wave.open(io.BytesIO(data)) as w:
            seconds = w.getnframes() / w.getframerate()
        m.close(rec["duration_s"], seconds, "recording duration vs the file", 0.05)
        m.close(seconds, call.talk_s, "recorded audio vs talk (CEL)", 1.0)
    assert not m.found, str(m)


async def test_caller_gives_up_while_waiting(db_url: str) -> None:
    """Scenario 2: nobody is ready; the citizen waits ~6 s in music on hold and hangs up."""
    people = agents({"ready": False}, {"ready": False}, {"ready": False})
    async with hotline(db_url, people) as line:
        wallboard = await line.open_wallboard()
        caller = line.call("citizen", [NUMBER], stay_ms=7000)
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await stored(line)
        calls = accounting.calls(line.asterisk)
        m = accounting.Mismatches()
        m.reconciled(await accounting.reconcile(line.asterisk, db_url, line.started_at), calls=1)
        asterisk_is_idle(line, m)
    (call,) = calls.values()
    assert call.outcome == "abandoned", call
    assert call.hangup_side == "caller", call
    assert len(rows) == 1, rows
    events = [f.get("event") for f in wallboard if f.get("type") == "event"]
    m.check("acd.CallQueued" in events, f"wallboard: no acd.CallQueued in {events}")
    m.check("acd.CallAbandoned" in events, f"wallboard: no acd.CallAbandoned in {events}")
    assert not m.found, str(m)


async def test_agent_phone_rings_unanswered_and_the_next_agent_takes_the_call(
    db_url: str,
) -> None:
    """Scenario 3: ivanova (longest idle) does not answer: after the ring timeout (6 s)
    she goes not ready (missed) and petrov's phone rings; he answers; the citizen hangs
    up after a while."""
    people = agents({"answer_ms": None}, {"answer_ms": 1000}, {"ready": False})
    async with hotline(db_url, people) as line:
        caller = line.call("citizen", [NUMBER], stay_ms=14000)
        petrov = line.desktops["petrov"]
        await petrov.wait(lambda f: f["type"] == "screen_pop", 40)
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await stored(line)
        calls = accounting.calls(line.asterisk)
        m = accounting.Mismatches()
        m.reconciled(await accounting.reconcile(line.asterisk, db_url, line.started_at), calls=1)
        asterisk_is_idle(line, m)
        ivanova = line.desktops["ivanova"]
        ivanova_pops = [f for f in ivanova.frames if f["type"] == "screen_pop"]
        ivanova_states = ivanova.states()
    (call,) = calls.values()
    agent_legs = [leg for leg in call.legs if leg.role == "agent"]
    assert [leg.agent for leg in agent_legs] == ["ivanova", "petrov"], call.legs
    assert call.agent == "petrov", call
    assert len(rows) == 1, rows
    m.equal(len(ivanova_pops), 1, "screen-pops on ivanova's desktop")
    m.check(
        ("not_ready", "missed") in ivanova_states,
        f"ivanova after ring-no-answer: {ivanova_states}",
    )
    first = agent_legs[0]
    assert first.ended_at is not None
    m.close(
        first.ended_at - first.started_at, 6.0, "ivanova's phone rang for the ring timeout", 0.5
    )
    assert not m.found, str(m)
