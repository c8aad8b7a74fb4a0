"""Tier 2: each real Asterisk transcript replayed over TCP through the real client.

The assertions are the facts a person reading the transcript would state.
"""

from __future__ import annotations

import pytest

from cti.ami import events as ev
from cti.ami.errors import AmiActionError, OriginateFailed
from cti.sim import transcripts
from replay import replay


async def test_01_login_status_and_errors() -> None:
    r = await replay(1, 0)
    # Status/list answers are collected whole; Asterisk's error texts become exceptions.
    queues = r.results["a-queuesummary"]
    assert [m["Queue"] for m in queues[1:-1]] == ["support", "sip-support", "sales"]
    assert queues[-1]["Event"] == "QueueSummaryComplete"
    busy = r.results["a-status-busy"]
    assert {m["Channel"] for m in busy[1:-1]} == {
        "Local/parked@scen-e-00000000;1",
        "Local/parked@scen-e-00000000;2",
    }
    with_vars = r.results["a-status-one-channel-vars"][1]
    assert with_vars["Variable"] == ["CHANNEL(language)=en", "CDR(userfield)="]
    assert r.results["a-getvar-global"]["Value"] == "lab1"
    bad = r.results["a-bad-action"]
    assert isinstance(bad, AmiActionError)
    assert "Invalid/unknown command: NoSuchAction" in bad.message
    assert isinstance(r.results["a-hangup-nosuchchannel"], AmiActionError)
    assert r.results["a-hangup-nosuchchannel"].message == "No such channel"
    cli = r.results["a-command-bad"]
    assert isinstance(cli, AmiActionError)
    assert "No such command 'no such cli command'" in cli.message
    assert r.results["a-command"]["Output"] == [
        "System uptime: 6 seconds",
        "Last reload: 6 seconds",
    ]
    # The originated Local channel was one interaction, started and ended by hangup.
    started = r.of(ev.InteractionStarted)
    assert [e.interaction_id for e in started] == ["1795437530.0"]
    ended = r.of(ev.InteractionEnded)
    assert [(e.interaction_id, e.reason) for e in ended] == [("1795437530.0", "hangup")]
    assert not r.tracker.channels


async def test_01_failed_login_is_a_clear_error() -> None:
    from cti.ami.errors import AmiLoginError

    with pytest.raises(AmiLoginError, match="refused login for user 'cti': Authentication failed"):
        await replay(1, 1)


async def test_01_md5_challenge_login() -> None:
    r = await replay(1, 2, auth="md5")
    assert r.server.received[0]["Action"] == "Challenge"
    login = r.server.received[1]
    assert login["AuthType"] == "MD5"
    assert "Secret" not in login
    assert r.results["c-events-call"]["Events"] == "On"


async def test_02_originate_outcomes() -> None:
    r = await replay(2)
    ok = r.results["orig-b-1"]
    assert ok[-1]["Event"] == "OriginateResponse"
    assert ok[-1]["Uniqueid"] == "cti-b-0001"
    no_ext = r.results["orig-b-2-fail"]
    assert isinstance(no_ext, OriginateFailed)
    assert no_ext.reason_code == 0
    assert no_ext.channel == "Local/nonexistent@scen-b"
    no_answer = r.results["orig-b-3-noanswer"]
    assert isinstance(no_answer, OriginateFailed)
    assert (no_answer.reason_code, no_answer.reason) == (3, "no answer")
    sync_fail = r.results["orig-b-5-sync-noanswer"]
    assert isinstance(sync_fail, AmiActionError)
    assert sync_fail.message == "Originate failed"
    results = {e.action_id: e for e in r.of(ev.OriginateResult)}
    assert results["orig-b-1"].success
    assert results["orig-b-1"].interaction_id == "cti-b-0001"
    assert not results["orig-b-2-fail"].success
    assert results["orig-b-2-fail"].interaction_id == ""
    assert results["orig-b-3-noanswer"].reason_code == 3
    # Variables set in the dialplan, including the inherited __CTI_INHERIT.
    cti_vars = {(e.name, e.value) for e in r.of(ev.CtiVariableSet)}
    assert {("CTI_VAR", "foo"), ("CTI_INHERIT", "bar")} <= cti_vars
    # The callee leg joined the same interaction and was bridged with the ;2 half.
    bridged = [e for e in r.of(ev.InteractionBridged) if e.interaction_id == "cti-b-0001"]
    assert bridged[-1].peers == ("Local/2001@scen-b-callee-00000002;1",)
    ends = {e.interaction_id: e for e in r.of(ev.InteractionEnded)}
    assert ends["1795437543.8"].cause_txt == "User alerting, no answer"
    assert len(ends) == 5
    assert not r.tracker.interactions


async def test_04_fastagi_call_seen_from_ami() -> None:
    r = await replay(4)
    sent = [
        step.action["Digit"]
        for step in transcripts.load_ami(transcripts.find(4))[0].steps
        if step.action and step.name == "PlayDTMF"
    ]
    # PlayDTMF with Receive: true reaches the AGI channel as received DTMF, in order.
    assert [e.digit for e in r.of(ev.DtmfReceived)] == sent
    assert not r.tracker.interactions  # every call ended
    assert all(e.reason == "hangup" for e in r.of(ev.InteractionEnded))


async def test_05_queue_wait_answer_and_abandon() -> None:
    r = await replay(5)
    joined = {e.interaction_id: e.queue for e in r.of(ev.QueueJoined)}
    assert joined == {"cti-d-c1": "support", "cti-d-c2": "support"}
    (rna,) = r.of(ev.AgentNoAnswer)
    assert (rna.interaction_id, rna.member, rna.ring_s) == ("cti-d-c1", "Agent Two", 4.0)
    (answered,) = r.of(ev.AgentAnswered)
    assert (answered.interaction_id, answered.member) == ("cti-d-c1", "Agent One")
    assert answered.waited_s == 6
    assert answered.ring_s == 1
    (done,) = r.of(ev.AgentCompleted)
    assert (done.talk_s, done.hung_up_by) == (4, "agent")
    (abandon,) = r.of(ev.QueueAbandoned)
    assert (abandon.interaction_id, abandon.waited_s) == ("cti-d-c2", 3)
    ringing = [(e.member, e.interaction_id) for e in r.of(ev.AgentRinging)]
    assert ringing == [("Agent Two", "cti-d-c1"), ("Agent One", "cti-d-c1")]
    assert isinstance(r.results["qadd-duplicate"], AmiActionError)
    assert r.results["qadd-agent2"]["Message"] == "Added interface to queue"


async def test_06_recording_belongs_to_the_callers_interaction() -> None:
    r = await replay(6)
    (start,) = r.of(ev.RecordingStarted)
    assert start.interaction_id == "cti-e-c"
    assert start.file == "/var/spool/asterisk/recording/cti-e-1795437597.wav"
    (stop,) = r.of(ev.RecordingStopped)
    assert (stop.interaction_id, stop.by) == ("cti-e-c", "stop")
    held = [e.channel for e in r.of(ev.InteractionHeld) if e.interaction_id == "cti-e-c"]
    assert "Local/hold@scen-e-0000000f;2" in held
    # After the Redirect the caller is bridged with agent3's leg.
    bridged = [e for e in r.of(ev.InteractionBridged) if e.channel.endswith("0000000f;2")]
    assert bridged[0].peers == ("Local/agent3@agents-00000010;1",)
    # The supervisor's ChanSpy call is an interaction of its own.
    assert {e.interaction_id for e in r.of(ev.InteractionStarted)} == {"cti-e-c", "cti-e-sup"}
    assert not r.tracker.interactions


async def test_07_bridge_park_and_late_events_after_hangup() -> None:
    r = await replay(7)
    assert isinstance(r.results["bridge-bad"], AmiActionError)
    assert "Channel2 does not exist" in r.results["bridge-bad"].message
    # Asterisk put a bare LF after this value on the wire; it is not part of the value.
    assert r.results["park-y"]["Message"] == "Park successful"
    # NewCallerid arrives after Hangup for the same channel; the call must stay ended.
    assert not r.tracker.channels
    assert not r.tracker.interactions
    x_bridge = [e for e in r.of(ev.InteractionBridged) if e.interaction_id == "cti-g-y"]
    assert x_bridge, "party Y's half was bridged with party X by the Bridge action"


async def test_08_pjsip_lists() -> None:
    r = await replay(8)
    endpoints = r.results["showendpoints-1"]
    names = {m["ObjectName"] for m in endpoints[1:-1]}
    assert {"agent100", "agent200"} <= names
    assert isinstance(r.results["showcontacts-1"], AmiActionError)
    assert r.results["showcontacts-1"].message == "No Contacts found"
    # agent100 became reachable once sipp answered OPTIONS; agent200 registered, then left.
    statuses = [
        (e["AOR"], e["ContactStatus"]) for e in r.raw_events if e["Event"] == "ContactStatus"
    ]
    assert statuses == [
        ("agent100", "Reachable"),
        ("agent200", "NonQualified"),
        ("agent200", "Removed"),
    ]


async def test_09_sip_call_into_queue() -> None:
    r = await replay(9)
    (started,) = r.of(ev.InteractionStarted)
    assert started.channel == "PJSIP/sipp-00000000"
    (answered,) = r.of(ev.AgentAnswered)
    assert answered.member == "SIP Agent 100"
    assert answered.agent_channel == "PJSIP/agent100-00000001"
    (done,) = r.of(ev.AgentCompleted)
    assert (done.talk_s, done.hung_up_by) == (7, "caller")
    (end,) = r.of(ev.InteractionEnded)
    assert end.interaction_id == started.interaction_id
    assert end.cause == 16


def test_every_event_in_the_transcripts_has_a_typed_model() -> None:
    from cti.ami import models as m
    from cti.ami.codec import parse_event
    from cti.ami.wire import AmiFramer

    seen: dict[str, type] = {}
    for number in (1, 2, 4, 5, 6, 7, 8, 9):
        for section in transcripts.load_ami(transcripts.find(number)):
            framer = AmiFramer()
            for raw in framer.feed(section.server_bytes):
                if "Event" in raw.headers:
                    seen[raw.headers["Event"]] = type(parse_event(raw))
    untyped = sorted(name for name, cls in seen.items() if cls is m.GenericEvent)
    assert untyped == []
    assert len(seen) >= 80
    assert seen["OriginateResponse"] is m.OriginateResponse
    assert seen["QueueSummaryComplete"] is m.ListComplete
