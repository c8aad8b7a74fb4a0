"""Scenario 4 of the pbx tier: call control through the product's own interfaces on a real
Asterisk — hold and resume from the agent's desktop, transfer to another agent (desktop)
and to a queue (REST), listen / whisper / barge from the wallboard with the supervisor's
sipp phone, the survey after the agent hangs up, click-to-call (REST), and a callback
offered at a queue's overflow and placed when an agent becomes ready. Each checks what
the people saw (desktop, wallboard, REST) and what Asterisk itself recorded (CEL, its
log, `core show channels`) against what the CTI stored."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from celfacts import Cel
from findings import Findings, poll
from hotline import ACD_FILE, Agent, Hotline, agents, hotline
from peers import citizen_phone, keying_citizen

pytestmark = pytest.mark.pbx

NUMBER = "0888555001"
E164 = "+359888555001"
OUTSIDE = "0888555009"  # the citizen the agent calls (click-to-call)
OUTSIDE_E164 = "+359888555009"
REST_TIMEOUT = aiohttp.ClientTimeout(total=30)
SUPERVISOR = Agent("boss", "sup1", "127.0.0.14", answer_ms=300, talk_ms=3000)


@pytest.fixture
def acd_file(tmp_path: Path) -> Path:
    """The tier's ACD with two more queues for the same three agents: child_protection
    (menu key 2: a transfer target) and employment (menu key 3), where a caller waits at
    most 4 s before he is offered a callback."""
    config = yaml.safe_load(ACD_FILE.read_text())
    base = config["queues"]["social_assistance"]
    config["queues"]["child_protection"] = {**base, "skills": {}}
    config["queues"]["employment"] = {
        **base,
        "skills": {},
        "max_wait_s": 4,
        "overflow": {"action": "callback"},
        "ring_timeout_s": 10,
    }
    for agent in config["agents"]:
        agent["queues"] = [*agent["queues"], "child_protection", "employment"]
    path = tmp_path / "acd.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# --- helpers ------------------------------------------------------------------------------


async def rest(
    line: Hotline, method: str, path: str, who: str, body: Any = None
) -> tuple[int, Any]:
    assert line.session is not None
    headers = {"Authorization": f"Bearer {line.tokens[who]}"}
    async with line.session.request(
        method, f"{line.base}{path}", json=body, headers=headers, timeout=REST_TIMEOUT
    ) as r:
        return r.status, await r.json()


async def until(what: str, check: Callable[[], Any], timeout: float) -> Any:
    """`poll`, failing on the spot (naming `what`) when nothing came."""
    value = await poll(check, timeout)
    if not value:
        raise AssertionError(f"timed out waiting for {what}")
    return value


async def stored(line: Hotline, expected: int) -> dict[str, dict[str, Any]]:
    """The stored interactions by id, each with its `legs`, once `expected` are there."""
    rows = await line.interactions(expected)
    legs = await line.rows("SELECT * FROM legs ORDER BY started_at")
    out = {}
    for row in rows:
        row["legs"] = [leg for leg in legs if leg["interaction_id"] == row["id"]]
        out[row["id"]] = row
    return out


def ts(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())


def leg_of(row: dict[str, Any], channel: str) -> dict[str, Any]:
    found = [leg for leg in row["legs"] if leg["channel"] == channel]
    assert found, f"no stored leg {channel} in {[leg['channel'] for leg in row['legs']]}"
    leg: dict[str, Any] = found[0]
    return leg


def check_leg(m: Findings, row: dict[str, Any], cel: Cel, channel: str, agent: str) -> None:
    """A stored agent leg against the channel's CEL: its agent, answer and end."""
    leg = leg_of(row, channel)
    m.equal(leg["role"], "agent", f"leg {channel} role")
    m.equal(leg["agent"], agent, f"leg {channel} agent")
    m.close(ts(leg["answered_at"]), cel.first("ANSWER", channel), f"leg {channel} answered_at", 0.1)
    m.close(ts(leg["ended_at"]), cel.first("HANGUP", channel), f"leg {channel} ended_at", 0.1)


def talked(cel: Cel, channels: list[str]) -> float:
    """Seconds the agents' phones were answered: each leg's ANSWER to its HANGUP."""
    total = 0.0
    for channel in channels:
        answer, end = cel.first("ANSWER", channel), cel.first("HANGUP", channel)
        assert answer is not None, f"CEL: {channel} never answered"
        assert end is not None, f"CEL: {channel} never hung up"
        total += end - answer
    return total


def presented(messages: str) -> str:
    """Who the citizen's phone is told is calling: the From of the INVITE it got."""
    found = re.search(r"^From:.*$", messages.split("INVITE sip:", 1)[-1], re.M)
    return found.group(0) if found else ""


def check_presented(m: Findings, messages: str) -> None:
    """The hotline calls the citizen; the agent's internal phone and her name stay inside."""
    shown = presented(messages)
    m.check(
        "agent1001" not in shown and "ivanova" not in shown,
        f"the citizen's phone is shown the agent's own phone and name: {shown}",
    )


def states(desktop_frames: list[dict[str, Any]]) -> list[str]:
    return [
        f["data"]["new"]
        for f in desktop_frames
        if f.get("type") == "event" and f.get("event") == "acd.AgentStateChanged"
    ]


# --- hold and resume ------------------------------------------------------------------------


async def test_agent_holds_and_resumes_the_call(db_url: str, acd_file: Path) -> None:
    """ivanova answers, puts the citizen on hold from her desktop (he hears music), takes
    him back 3 s later; the citizen hangs up. hold_s is Asterisk's music time in
    [cti-held], and talk excludes it."""
    people = agents({"answer_ms": 1000}, {"ready": False}, {"ready": False})
    async with hotline(db_url, people, acd=acd_file) as line:
        caller = line.call("citizen", [NUMBER], stay_ms=12000)
        desk = line.desktops["ivanova"]
        await desk.wait(lambda f: f.get("event") == "acd.CallAnswered", 30)
        await asyncio.sleep(2)
        held = await desk.request("hold")
        await asyncio.sleep(3)
        resumed = await desk.request("unhold")
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await stored(line, 1)
        cel = Cel(line.asterisk.cel_file)
    assert held["type"] == "ack", held
    assert resumed["type"] == "ack", resumed
    (linkedid,) = cel.calls()
    trunk = cel.of(linkedid)[0].channel
    (phone,) = cel.channels("PJSIP/agent-1001-", linkedid)
    music = cel.music(trunk, "cti-held")
    assert len(music) == 1, f"music on hold in [cti-held]: {music}"
    (begun, ended) = music[0]
    m = Findings()
    m.check(2.5 < ended - begun < 4.0, f"the citizen heard music for {ended - begun:.2f} s")
    # The agent's phone stayed up on hold and was bridged with the citizen again after.
    resumed_bridges = [r for r in cel.of(linkedid) if r.kind == "BRIDGE_ENTER" and r.at >= ended]
    m.equal(sorted(r.channel for r in resumed_bridges), sorted([trunk, phone]), "bridged again")
    m.equal(len({r.extra.get("bridge_id") for r in resumed_bridges}), 1, "one bridge")
    m.check((cel.first("HANGUP", phone) or 0) > ended, "the agent's phone hung up during the hold")
    events = [f.get("event") for f in desk.frames if f.get("type") == "event"]
    m.check("acd.CallHeld" in events, f"desktop: no acd.CallHeld in {events}")
    m.check("acd.CallResumed" in events, f"desktop: no acd.CallResumed in {events}")
    (row,) = rows.values()
    m.equal(row["id"], linkedid, "interaction id")
    m.equal(row["outcome"], "answered", "outcome")
    m.equal(row["agent"], "ivanova", "agent")
    m.close(row["hold_s"], ended - begun, "hold_s vs [cti-held] music (CEL)", 0.1)
    talk = talked(cel, [phone]) - (ended - begun)
    m.close(row["talk_s"], talk, "talk_s vs CEL answer..hangup less the hold", 0.1)
    m.equal(row["hangup_side"], "caller", "hangup_side")
    m.equal(cel.hangup_source(trunk), trunk, "CEL: the citizen hung up")
    check_leg(m, row, cel, phone, "ivanova")
    assert not m.found, str(m)


# --- transfers --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["agent", "queue"])
async def test_transfer_to_another_agent_or_queue(db_url: str, acd_file: Path, target: str) -> None:
    """ivanova answers and hands the citizen on: to petrov from her desktop, or (by the
    supervisor, REST) to the child_protection queue, where petrov is the one ready. His
    phone rings and answers; both legs are stored with their agents."""
    people = agents({"answer_ms": 1000}, {"answer_ms": 1000, "ready": False}, {"ready": False})
    async with hotline(db_url, people, acd=acd_file) as line:
        caller = line.call("citizen", [NUMBER], stay_ms=16000)
        ivanova, petrov = line.desktops["ivanova"], line.desktops["petrov"]
        answered = await ivanova.wait(lambda f: f.get("event") == "acd.CallAnswered", 30)
        call = answered["data"]["call"]
        await asyncio.sleep(1.5)
        await line.log_in(people[1])
        if target == "agent":
            reply = await ivanova.request("transfer", agent="petrov")
            assert reply["type"] == "ack", reply
        else:
            status, body = await rest(
                line,
                "POST",
                f"/api/v1/calls/{call}/transfer",
                "boss",
                {"queue": "child_protection"},
            )
            assert status == 200, body
            assert body == {"call": call, "queue": "child_protection"}, body
        pop = await petrov.wait(lambda f: f["type"] == "screen_pop", 20)
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await stored(line, 1)
        cel = Cel(line.asterisk.cel_file)
        ivanova_states = states(ivanova.frames)
    (linkedid,) = cel.calls()
    trunk = cel.of(linkedid)[0].channel
    (first,) = cel.channels("PJSIP/agent-1001-", linkedid)
    (second,) = cel.channels("PJSIP/agent-1002-", linkedid)
    m = Findings()
    m.equal(call, linkedid, "the call the desktop showed")
    m.equal(pop["call"], linkedid, "petrov's screen-pop")
    m.equal(pop["number"], E164, "petrov's screen-pop number")
    m.check(cel.first("ANSWER", second) is not None, "CEL: petrov's phone never answered")
    first_end, second_start = cel.first("HANGUP", first), cel.first("CHAN_START", second)
    m.check(
        first_end is not None and second_start is not None and first_end <= second_start + 0.5,
        f"ivanova's phone hung up at {first_end}, petrov's rang at {second_start}",
    )
    if target == "queue":
        back = cel.times("STREAM_BEGIN", trunk, "cti-hold")
        m.equal(len(back), 2, "CEL: the citizen in [cti-hold] again after the transfer")
    m.check(
        [s for s in ivanova_states if s in ("on_call", "wrap_up")][:2] == ["on_call", "wrap_up"],
        f"ivanova's desktop after the transfer: {ivanova_states}",
    )
    (row,) = rows.values()
    m.equal(row["id"], linkedid, "one interaction, the citizen's")
    m.equal(row["outcome"], "answered", "outcome")
    if target == "queue":
        m.equal(row["queue"], "child_protection", "queue after the transfer")
    m.equal(sorted(leg["channel"] for leg in row["legs"]), sorted([trunk, first, second]), "legs")
    check_leg(m, row, cel, first, "ivanova")
    check_leg(m, row, cel, second, "petrov")
    m.close(row["talk_s"], talked(cel, [first, second]), "talk_s: both agents' legs (CEL)", 0.1)
    m.equal(row["hold_s"], 0.0, "hold_s")
    assert not m.found, str(m)


# --- the supervisor ---------------------------------------------------------------------------


async def test_supervisor_listens_whispers_and_barges(db_url: str, acd_file: Path) -> None:
    """While ivanova talks, the supervisor listens, then whispers, then barges in from the
    wallboard; each time his own phone (sup1, a sipp phone that answers and hangs up
    after 3 s) rings into ChanSpy on her channel, with the mode's options."""
    people = agents({"answer_ms": 1000}, {"ready": False}, {"ready": False})
    async with hotline(db_url, people, acd=acd_file) as line:
        line.start_phone(SUPERVISOR)
        await asyncio.to_thread(line.wait_registered, [SUPERVISOR.endpoint])
        wallboard = await line.open_wallboard()
        assert line.supervisor is not None
        caller = line.call("citizen", [NUMBER], stay_ms=22000)
        desk = line.desktops["ivanova"]
        await desk.wait(lambda f: f.get("event") == "acd.CallAnswered", 30)
        seen: dict[str, str] = {}
        for n, mode in enumerate(("listen", "whisper", "barge")):
            rid = f"spy{n}"
            await line.supervisor.send_json(
                {"type": mode, "id": rid, "agent": "ivanova", "endpoint": "PJSIP/sup1"}
            )

            def answer(rid: str = rid) -> dict[str, Any] | None:
                return next((f for f in wallboard if f.get("id") == rid), None)

            reply = await until(f"the answer to {mode}", answer, 15)
            assert reply["type"] == "ack", reply

            def spying() -> str | None:
                for channel in line.asterisk.channels():
                    fields = channel.split("!")
                    if fields[0].startswith("PJSIP/sup1-") and fields[5] == "ChanSpy":
                        return f"{fields[0]} {fields[5]}({fields[6]})"
                return None

            seen[mode] = await until(f"a ChanSpy channel of sup1 ({mode})", spying, 10)
            # The supervisor's phone hangs up after 3 s; then the next mode.
            await until(f"sup1 off the line ({mode})", lambda: not spying(), 10)
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await stored(line, 1)
        cel = Cel(line.asterisk.cel_file)
        log = line.asterisk.log_text()
    (linkedid,) = cel.calls()
    (phone,) = cel.channels("PJSIP/agent-1001-", linkedid)
    spies = cel.channels("PJSIP/sup1-")
    m = Findings()
    m.equal(len(spies), 3, f"CEL: the supervisor's phone was called three times: {spies}")
    for mode, options in (("listen", "qE"), ("whisper", "qEw"), ("barge", "qEB")):
        m.check(
            seen.get(mode, "").endswith(f"ChanSpy(PJSIP/agent-1001-,{options})"),
            f"{mode}: core show channels had {seen.get(mode)}",
        )
    for spy in spies:
        m.check(cel.first("ANSWER", spy) is not None, f"CEL: {spy} never answered")
    # Asterisk's log: which channels each spy attached its audiohooks to. Listening: the
    # agent's; whispering: the agent's twice (spy + whisper); barging: the citizen's too.
    trunk = cel.of(linkedid)[0].channel
    attached = {
        spy: re.findall(rf"Attaching spy channel {re.escape(spy)} to (\S+)", log) for spy in spies
    }
    m.equal(
        [attached.get(spy) for spy in spies],
        [[phone], [phone, phone], [phone, phone, trunk]],
        "Asterisk's log: spies attached (listen, whisper, barge)",
    )
    (row,) = [r for r in rows.values() if r["id"] == linkedid]
    m.equal(
        sorted(leg["channel"] for leg in row["legs"]),
        sorted([trunk, phone]),
        "the citizen's call keeps its two legs",
    )
    m.equal(row["outcome"], "answered", "outcome")
    others = [r for r in rows.values() if r["id"] != linkedid]
    m.equal(
        [(r["id"], r["caller_number"], r["outcome"]) for r in others],
        [],
        "interactions stored for the supervisor's spy calls (not citizens' contacts)",
    )
    assert not m.found, str(m)


# --- the survey -------------------------------------------------------------------------------


async def test_survey_after_the_agent_hangs_up(db_url: str, acd_file: Path) -> None:
    """With the survey on (CTI_SURVEY=1, a global of the site's dialplan), ivanova hangs
    up after 4 s; the citizen is asked for a score and keys 4 (RFC 4733); the answer is
    stored with the interaction and shown in the survey report."""
    people = agents({"answer_ms": 1000, "talk_ms": 4000}, {"ready": False}, {"ready": False})
    async with hotline(db_url, people, acd=acd_file) as line:
        line.asterisk.cli("dialplan set global CTI_SURVEY 1")
        caller = keying_citizen(line, "citizen", NUMBER, menu_key="1", later_key="4")
        assert caller.wait(60) == 0, caller.errors()[-3000:]
        await line.settle()
        rows = await stored(line, 1)
        answers = await poll(lambda: line.rows("SELECT * FROM survey_answers"), 10)
        status, report = await rest(line, "GET", "/api/v1/surveys", "boss")
        cel = Cel(line.asterisk.cel_file)
    (linkedid,) = cel.calls()
    trunk = cel.of(linkedid)[0].channel
    (phone,) = cel.channels("PJSIP/agent-1001-", linkedid)
    m = Findings()
    m.equal(cel.hangup_source(phone), phone, "CEL: the agent hung up")
    surveyed = [r for r in cel.of(linkedid) if r.channel == trunk and r.context == "cti-survey"]
    m.check(bool(surveyed), "CEL: the citizen never reached [cti-survey]")
    keyed = [r.extra.get("digit") for r in surveyed if r.kind == "DTMF"]
    m.check("4" in keyed, f"CEL: digits keyed in [cti-survey]: {keyed}")
    m.check(
        cel.hangup_source(trunk) != trunk,
        "the citizen hung up himself: Asterisk never ended the survey",
    )
    m.equal(
        [(a["interaction_id"], a["question"], a["score"]) for a in answers],
        [(linkedid, "satisfaction", 4)],
        "survey_answers",
    )
    m.equal(status, 200, "GET /api/v1/surveys")
    items = [(i["question"], i["answers"], i["average"], i["satisfied"]) for i in report["items"]]
    m.equal(items, [("satisfaction", 1, 4.0, 1)], "the survey report")
    (row,) = rows.values()
    m.equal(row["outcome"], "answered", "outcome")
    m.equal(row["hangup_side"], "agent", "hangup_side")
    path = json.loads(row["ivr_path"])
    m.check("main:1" in path, f"the IVR path the citizen took, after the survey: {path}")
    m.close(row["talk_s"], talked(cel, [phone]), "talk_s: the agent's leg (CEL)", 0.1)
    m.close(ts(row["ended_at"]), cel.first("HANGUP", trunk), "ended_at: after the survey", 0.2)
    assert not m.found, str(m)


# --- click-to-call ----------------------------------------------------------------------------


async def test_click_to_call_rings_the_agent_then_the_citizen(db_url: str, acd_file: Path) -> None:
    """ivanova asks (REST, her own token) to call 0888555009: her phone rings and answers
    first, then the citizen's phone behind the trunk is dialled, answers after 1.5 s, and
    hangs up 4 s later."""
    people = agents({"answer_ms": 1000}, {"ready": False}, {"ready": False})
    async with hotline(db_url, people, acd=acd_file) as line:
        citizen = citizen_phone(line, answer_ms=1500, talk_ms=4000)
        status, body = await rest(
            line, "POST", "/api/v1/calls", "ivanova", {"agent": "ivanova", "number": OUTSIDE}
        )
        assert status == 201, body

        def talking() -> bool:
            return any(c.startswith("PJSIP/trunk-") for c in line.asterisk.channels())

        await until("the citizen's leg", talking, 15)
        await asyncio.sleep(2)  # both talking now
        _, agent_view = await rest(line, "GET", "/api/v1/agents/ivanova", "boss")
        assert citizen.wait(30) == 0, citizen.errors()[-3000:]
        await line.settle()
        rows = await stored(line, 1)
        cel = Cel(line.asterisk.cel_file)
        invite = citizen.messages()
    assert (body["agent"], body["number"]) == ("ivanova", OUTSIDE_E164), body
    (phone,) = cel.channels("PJSIP/agent-1001-")
    (trunk,) = cel.channels("PJSIP/trunk-")
    linkedid = next(r.linkedid for r in cel.rows if r.channel == phone)
    m = Findings()
    m.check(
        f"INVITE sip:{OUTSIDE_E164}@" in invite, "the citizen's phone got no INVITE for the number"
    )
    check_presented(m, invite)
    agent_answer = cel.first("ANSWER", phone)
    trunk_start, trunk_answer = cel.first("CHAN_START", trunk), cel.first("ANSWER", trunk)
    m.check(
        agent_answer is not None and trunk_start is not None and agent_answer <= trunk_start,
        f"CEL: the agent answered at {agent_answer}, the citizen was dialled at {trunk_start}",
    )
    m.check(trunk_answer is not None, "CEL: the citizen never answered")
    m.equal(next(r.linkedid for r in cel.rows if r.channel == trunk), linkedid, "one call")
    m.equal(cel.hangup_source(trunk), trunk, "CEL: the citizen hung up")
    m.equal(agent_view.get("state"), "on_call", "ivanova's state while she talks (REST)")
    (row,) = rows.values()
    m.equal(row["id"], linkedid, "interaction id")
    m.equal(row["direction"], "outbound", "direction")
    m.equal(row["agent"], "ivanova", "agent")
    m.equal(row["outcome"], "answered", "outcome")
    m.check(
        OUTSIDE_E164 in (row["caller_number"], row["called_number"]),
        f"the citizen's number in the record: caller {row['caller_number']!r},"
        f" called {row['called_number']!r}",
    )
    check_leg(m, row, cel, phone, "ivanova")
    citizen_leg = leg_of(row, trunk)
    m.close(ts(citizen_leg["answered_at"]), trunk_answer, "the citizen's leg answered_at", 0.1)
    m.close(row["talk_s"], talked(cel, [phone]), "talk_s: the agent's leg (CEL)", 0.1)
    assert not m.found, str(m)


# --- a callback from an overflow ----------------------------------------------------------------


async def test_callback_offered_at_overflow_is_placed_when_an_agent_is_ready(
    db_url: str, acd_file: Path
) -> None:
    """Nobody is ready for employment (menu key 3); after 4 s in line the citizen is
    offered a callback and keys 1 (call me back on this number); Asterisk hangs up.
    Then ivanova becomes ready: her phone rings and answers first, then the citizen's
    phone behind the trunk; the callback is stored `done`."""
    people = agents({"answer_ms": 1000, "ready": False}, {"ready": False}, {"ready": False})
    async with hotline(db_url, people, acd=acd_file) as line:
        wallboard = await line.open_wallboard()
        caller = keying_citizen(line, "citizen", NUMBER, menu_key="3", later_key="1")
        assert caller.wait(40) == 0, caller.errors()[-3000:]
        scheduled = await until(
            "the callback stored",
            lambda: line.rows("SELECT * FROM callbacks"),
            10,
        )
        citizen = citizen_phone(line, answer_ms=1500, talk_ms=4000)
        await line.log_in(people[0])
        pop = await line.desktops["ivanova"].wait(lambda f: f["type"] == "screen_pop", 20)
        assert citizen.wait(40) == 0, citizen.errors()[-3000:]
        await line.settle()
        done = await poll(lambda: line.rows("SELECT * FROM callbacks WHERE status = 'done'"), 10)
        rows = await stored(line, 2)
        cel = Cel(line.asterisk.cel_file)
        invite = citizen.messages()
        ivanova_states = states(line.desktops["ivanova"].frames)
    (linkedid,) = cel.calls()  # the citizen's own call; the callback is the agent's
    first = cel.of(linkedid)
    trunk = first[0].channel
    m = Findings()
    offered = [r for r in first if r.channel == trunk and r.context == "cti-callback-offer"]
    m.check(bool(offered), "CEL: the citizen was never in [cti-callback-offer]")
    keyed = [r.extra.get("digit") for r in offered if r.kind == "DTMF"]
    m.check("1" in keyed, f"CEL: digits keyed at the offer: {keyed}")
    m.check(cel.hangup_source(trunk) != trunk, "the citizen hung up before Asterisk did")
    events = [f.get("event") for f in wallboard if f.get("type") == "event"]
    for name in ("acd.CallOverflowed", "acd.CallbackAccepted"):
        m.check(name in events, f"wallboard: no {name} in {events}")
    m.equal(
        [(c["interaction_id"], c["number"], c["queue"]) for c in scheduled],
        [(linkedid, E164, "employment")],
        "the callback stored when accepted",
    )
    m.equal([c["interaction_id"] for c in done], [linkedid], "the callback done")
    # The callback: ivanova's phone first, then the citizen through the trunk.
    (phone,) = cel.channels("PJSIP/agent-1001-")
    back = [c for c in cel.channels("PJSIP/trunk-") if c != trunk]
    m.equal(len(back), 1, f"CEL: calls to the citizen through the trunk: {back}")
    agent_answer = cel.first("ANSWER", phone)
    dialled = cel.first("CHAN_START", back[0]) if back else None
    m.check(
        agent_answer is not None and dialled is not None and agent_answer <= dialled,
        f"CEL: the agent answered at {agent_answer}, the citizen was dialled at {dialled}",
    )
    m.check(f"INVITE sip:{E164}@" in invite, "the citizen's phone got no INVITE for his number")
    check_presented(m, invite)
    m.equal(pop["call"], linkedid, "ivanova's screen-pop: the citizen's call")
    m.check(
        "on_call" in ivanova_states and "wrap_up" in ivanova_states,
        f"ivanova's desktop: {ivanova_states}",
    )
    original = rows.get(linkedid)
    m.check(original is not None, f"the citizen's call not stored: {list(rows)}")
    if original is not None:
        m.equal(original["outcome"], "callback", "the citizen's call: outcome")
        m.equal(original["queue"], "employment", "the citizen's call: queue")
        m.equal(original["agent"], "ivanova", "the citizen's call: the agent who called back")
    assert not m.found, str(m)
