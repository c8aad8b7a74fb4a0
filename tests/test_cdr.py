"""The call records (pure): tracker + ACD events in, outbox records out, in the event
orders real Asterisk 22 produces, for calls our ACD routed and calls app_queue routed."""

from __future__ import annotations

from typing import Any

import pytest

from cti.ami import events as ce
from cti.queues import AgentState
from cti.queues import events as qe
from cti.store.cdr import CdrBuilder
from cti.store.outbox import Record
from cti.store.records import OPEN_COLUMNS
from replay import replay

PHONES = {"PJSIP/a1": "a1", "PJSIP/a2": "a2", "PJSIP/agent100": "a100"}


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class Call:
    """Feeds one interaction's events into a builder, with the time set for both sides."""

    def __init__(self, call: str = "c1") -> None:
        self.out: list[Record] = []
        self.clock = Clock()
        self.b = CdrBuilder(self.out.append, self.clock, agent_of=PHONES.get)
        self.call = call
        self.seq = 0

    def ev(self, cls: type[ce.CallEvent], at: float, **kw: Any) -> None:
        self.seq += 1
        self.clock.now = at
        self.b.on_call_event(cls(seq=self.seq, at=at, interaction_id=self.call, **kw))

    def acd(self, event: qe.Event, at: float) -> None:
        self.clock.now = at
        self.b.on_acd_event(event)

    def start(self, at: float = 1000.0, channel: str = "PJSIP/trunk-1") -> None:
        self.ev(
            ce.InteractionStarted,
            at,
            uniqueid=self.call,
            channel=channel,
            caller_num="0888123456",
            caller_name="",
        )

    def leg(self, uid: str, channel: str, at: float) -> None:
        self.ev(ce.ChannelJoined, at, uniqueid=uid, channel=channel)

    def up(self, uid: str, at: float) -> None:
        self.ev(ce.ChannelAnswered, at, uniqueid=uid, channel="x")

    def bye(self, uid: str, at: float, cause: int = 16) -> None:
        """The channel's own side hung up (a BYE: Asterisk's HangupRequest)."""
        self.ev(ce.HangupRequested, at, uniqueid=uid, channel="x", soft=False, cause=cause)

    def gone(self, uid: str, at: float, cause: int = 16) -> None:
        self.ev(
            ce.ChannelEnded,
            at,
            uniqueid=uid,
            channel="x",
            cause=cause,
            cause_txt="",
            reason="hangup",
        )

    def end(self, at: float, reason: ce.EndReason = "hangup") -> None:
        self.ev(
            ce.InteractionEnded, at, reason=reason, duration_s=at - 1000, cause=16, cause_txt=""
        )

    def hold(self, uid: str, at: float, until: float) -> None:
        self.ev(ce.InteractionHeld, at, uniqueid=uid, channel="x", moh_class="default")
        self.ev(ce.InteractionResumed, until, uniqueid=uid, channel="x")

    def record(self) -> dict[str, Any]:
        (r,) = [r for r in self.out if r.kind == "interaction"]
        return r.data

    def updates(self) -> list[dict[str, Any]]:
        return [r.data["fields"] for r in self.out if r.kind == "interaction_update"]


def acd_answered_call(c: Call) -> None:
    """IVR, music in line for 5 s, a1 rings 3 s and answers, 30 s of hold, talk."""
    c.start()
    c.ev(ce.CtiVariableSet, 1001, uniqueid="c1", name="CTI_IVR_PATH", value="lang:bg,menu:2")
    c.acd(qe.CallQueued(5.0, "c1", "benefits", 1, None), 1005)
    c.hold("c1", 1005, 1010)  # music while waiting in line: not a hold
    c.acd(qe.CallOffered(10.0, "c1", "benefits", "a1", 5.0, 9), 1010)
    c.leg("a1leg", "PJSIP/a1-00000002", 1010)
    c.up("a1leg", 1013)
    c.acd(qe.CallAnswered(13.0, "c1", "benefits", "a1", 8.0, True), 1013.02)
    c.hold("c1", 1020, 1050)  # the agent put the citizen on hold


def test_an_acd_call_with_hold_and_wrap_up_where_the_caller_hangs_up() -> None:
    c = Call()
    acd_answered_call(c)
    c.bye("c1", 1100)  # the citizen's BYE ...
    c.gone("a1leg", 1100.01)  # ... yet Asterisk sends the agent leg's Hangup first
    c.gone("c1", 1100.02)
    c.end(1100.02)
    c.acd(qe.AgentStateChanged(40.0, "a1", AgentState.WRAP_UP, AgentState.READY, None, 20.0), 1120)
    d = c.record()
    assert (d["caller_number"], d["queue"], d["agent"], d["outcome"], d["end_reason"]) == (
        "+359888123456",
        "benefits",
        "a1",
        "answered",
        "completed",
    )
    assert (d["queued_at"], d["offered_at"], d["answered_at"]) == (1005, 1010, 1013)
    assert (d["wait_s"], d["ring_s"], d["hold_s"], d["talk_s"]) == (8.0, 3.0, 30.0, 57.01)
    assert (d["hangup_side"], d["hangup_cause"]) == ("caller", 16)
    assert d["ivr_path"] == ["lang:bg", "menu:2"]
    legs = [(x["id"], x["role"], x["agent"], x["answered_at"]) for x in d["legs"]]
    assert legs == [("c1", "caller", None, None), ("a1leg", "agent", "a1", 1013)]
    assert c.updates() == [{"wrap_up_s": 20.0}]


def test_the_agent_hanging_up_is_the_agent_side() -> None:
    c = Call()
    acd_answered_call(c)
    c.bye("a1leg", 1100)
    c.gone("a1leg", 1100)
    c.gone("c1", 1100.01)
    c.end(1100.01)
    assert c.record()["hangup_side"] == "agent"


def test_a_caller_who_gives_up_in_line_is_an_abandon_with_its_wait() -> None:
    c = Call()
    c.start()
    c.acd(qe.CallQueued(5.0, "c1", "benefits", 1, None), 1005)
    c.ev(ce.InteractionHeld, 1005, uniqueid="c1", channel="x", moh_class="default")
    c.bye("c1", 1060, cause=0)  # a BYE in music on hold: Cause 0
    c.gone("c1", 1060, cause=0)
    c.end(1060)
    # Our ACD hears of the Hangup after the tracker: its verdict comes after the record.
    c.acd(qe.CallAbandoned(60.0, "c1", "benefits", 55.0, None), 1060.01)
    d = c.record()
    assert (d["outcome"], d["end_reason"], d["hangup_side"]) == ("abandoned", "abandoned", "caller")
    assert (d["queued_at"], d["wait_s"], d["hold_s"], d["answered_at"]) == (1005, 55.0, 0.0, None)
    assert c.updates() == []  # the late verdict changed nothing


def test_an_app_queue_call_is_recorded_like_ours() -> None:
    """The fallback queue (Asterisk's Queue()) as transcript 09 shows it: the caller hangs
    up, AgentComplete comes before the Hangups, the agent leg's Hangup first."""
    c = Call()
    c.start(channel="PJSIP/sipp-00000000")
    c.up("c1", 1000.5)
    c.ev(ce.QueueJoined, 1001, uniqueid="c1", queue="cti-fallback", position=1)
    c.ev(ce.InteractionHeld, 1001, uniqueid="c1", channel="x", moh_class="default")
    c.leg("ag", "PJSIP/agent100-00000001", 1001.01)
    c.ev(
        ce.AgentRinging,
        1001.02,
        queue="cti-fallback",
        member="SIP Agent 100",
        interface="PJSIP/agent100",
        agent_channel="PJSIP/agent100-00000001",
        agent_uniqueid="ag",
    )
    c.up("ag", 1002.5)
    c.ev(ce.InteractionResumed, 1002.51, uniqueid="c1", channel="x")  # queue music ends
    c.ev(
        ce.AgentAnswered,
        1002.52,
        queue="cti-fallback",
        member="SIP Agent 100",
        agent_channel="PJSIP/agent100-00000001",
        agent_uniqueid="ag",
        waited_s=1,
        ring_s=1,
    )
    c.ev(ce.QueueLeft, 1002.53, uniqueid="c1", queue="cti-fallback")
    c.bye("c1", 1009.5)
    c.ev(
        ce.AgentCompleted,
        1009.51,
        queue="cti-fallback",
        member="SIP Agent 100",
        agent_uniqueid="ag",
        talk_s=7,
        waited_s=1,
        hung_up_by="caller",
    )
    c.gone("ag", 1009.52)
    c.gone("c1", 1009.53)
    c.end(1009.53)
    d = c.record()
    assert (d["queue"], d["agent"], d["outcome"], d["end_reason"], d["hangup_side"]) == (
        "cti-fallback",
        "a100",
        "answered",
        "completed",
        "caller",
    )
    assert (d["wait_s"], d["ring_s"], d["talk_s"], d["hold_s"]) == (1.5, 1.49, 7.02, 0.0)
    assert [(x["role"], x["agent"]) for x in d["legs"]] == [("caller", None), ("agent", "a100")]


def test_agent_complete_after_the_callers_hangup_still_says_who_hung_up() -> None:
    """No HangupRequest seen (e.g. a link that missed it): app_queue's reason decides,
    even when it comes after the interaction's record was written."""
    c = Call()
    c.start()
    c.ev(ce.QueueJoined, 1001, uniqueid="c1", queue="q", position=1)
    c.leg("ag", "PJSIP/a2-00000001", 1001)
    c.up("ag", 1003)
    c.ev(
        ce.AgentAnswered,
        1003,
        queue="q",
        member="a2",
        agent_channel="PJSIP/a2-00000001",
        agent_uniqueid="ag",
        waited_s=2,
        ring_s=2,
    )
    c.gone("ag", 1010)
    c.gone("c1", 1010)
    c.end(1010)
    assert c.record()["hangup_side"] == "system"
    c.ev(
        ce.AgentCompleted,
        1010.1,
        queue="q",
        member="a2",
        agent_uniqueid="ag",
        talk_s=7,
        waited_s=2,
        hung_up_by="agent",
    )
    assert c.updates() == [{"hangup_side": "agent"}]


def test_a_callback_answered_after_the_first_call_ended_updates_that_interaction() -> None:
    c = Call()
    c.start()
    c.acd(qe.CallQueued(5.0, "c1", "benefits", 1, None), 1005)
    c.acd(qe.CallOverflowed(300.0, "c1", "benefits", "callback", None, 295.0, "max_wait"), 1300)
    c.acd(qe.CallbackAccepted(301.0, "c1", "benefits", "+359888123456"), 1301)
    c.gone("c1", 1302)
    c.end(1302)
    c.acd(qe.CallAnswered(1000.0, "c1", "benefits", "a2", 700.0, True), 2000)
    kinds = [
        (r.kind, r.data.get("status") or r.data.get("outcome"))
        for r in c.out
        if r.kind != "interaction_open"  # the call in progress (test below)
    ]
    assert kinds[:2] == [("callback", None), ("interaction", "callback")]
    assert c.record()["wait_s"] == 295.0  # queue entry to the overflow
    assert ("callback", "done") in kinds
    assert c.updates()[-1]["agent"] == "a2"


@pytest.mark.parametrize(
    ("why", "reason"),
    [("pbx_lost", "pbx_lost"), ("ended_while_disconnected", "ended_while_disconnected")],
)
def test_calls_the_pbx_lost_say_so(why: ce.EndReason, reason: str) -> None:
    c = Call()
    c.start()
    c.acd(qe.CallQueued(5.0, "c1", "benefits", 1, None), 1005)
    c.end(1030, reason=why)
    d = c.record()
    assert (d["outcome"], d["end_reason"], d["hangup_side"]) == ("failed", reason, "system")


def test_a_shutdown_hang_up_is_a_pbx_restart() -> None:
    c = Call()
    acd_answered_call(c)
    c.ev(ce.HangupRequested, 1090, uniqueid="c1", channel="x", soft=True, cause=4, shutdown=True)
    c.gone("a1leg", 1090)
    c.gone("c1", 1090)
    c.end(1090)
    d = c.record()
    assert (d["outcome"], d["end_reason"], d["hangup_side"]) == (
        "answered",
        "pbx_restart",
        "system",
    )


def test_a_recording_is_stored_with_the_leg_it_ran_on_whoever_started_it() -> None:
    c = Call()
    c.start()
    c.ev(ce.RecordingStarted, 1010, uniqueid="c1", channel="PJSIP/trunk-1", file="/r/x.wav")
    c.ev(ce.RecordingStopped, 1070, uniqueid="c1", file="/r/x.wav", by="hangup")
    (rec,) = [r for r in c.out if r.kind == "recording"]
    assert rec.key == "c1-c1"
    assert rec.data == {
        "interaction_id": "c1",
        "leg_id": "c1",
        "path": "/r/x.wav",
        "started_at": 1010,
        "ended_at": 1070,
    }


async def test_transcript_09_the_real_order_gives_the_callers_side() -> None:
    """The real Asterisk 22 event stream of a SIP call into app_queue (the agent leg's
    Hangup before the caller's, who hung up) through the feed, tracker and records."""
    r = await replay(9)
    out: list[Record] = []
    b = CdrBuilder(out.append, agent_of={"PJSIP/agent100": "a100"}.get)
    for event in r.published:
        b.on_call_event(event)
    (record,) = [x for x in out if x.kind == "interaction"]
    d = record.data
    assert (d["queue"], d["agent"], d["outcome"], d["hangup_side"]) == (
        "sip-support",
        "a100",
        "answered",
        "caller",
    )
    assert [(x["role"], x["agent"]) for x in d["legs"]] == [("caller", None), ("agent", "a100")]
    assert d["ring_s"] > 0
    assert d["wait_s"] > 0
    assert d["talk_s"] > 0
    assert d["hold_s"] == 0.0  # queue music is waiting, not hold


async def test_transcript_05_ring_no_answer_then_answer_and_an_abandon() -> None:
    r = await replay(5)
    out: list[Record] = []
    b = CdrBuilder(out.append)
    for event in r.published:
        b.on_call_event(event)
    records = {x.key: x.data for x in out if x.kind == "interaction"}
    one, two = records["cti-d-c1"], records["cti-d-c2"]
    assert (one["queue"], one["agent"], one["outcome"]) == ("support", "Agent One", "answered")
    assert (two["queue"], two["outcome"], two["end_reason"]) == (
        "support",
        "abandoned",
        "abandoned",
    )
    assert two["wait_s"] > 0


def test_a_transferred_call_keeps_the_agent_who_answered_it_and_lists_both_legs() -> None:
    c = Call()
    acd_answered_call(c)
    c.acd(qe.CallTransferred(60.0, "c1", "benefits", "a1", "a2"), 1060)
    c.acd(qe.CallOffered(60.0, "c1", "benefits", "a2", 0.0, 9), 1060)
    c.leg("a2leg", "PJSIP/a2-00000003", 1060)
    c.up("a2leg", 1062)
    c.acd(qe.CallAnswered(62.0, "c1", "benefits", "a2", 0.0, True), 1062)
    c.gone("a1leg", 1060.5)
    c.bye("c1", 1100)
    c.gone("a2leg", 1100)
    c.gone("c1", 1100)
    c.end(1100)
    d = c.record()
    assert (d["agent"], d["answered_at"], d["ring_s"]) == ("a1", 1013, 3.0)
    legs = [(x["role"], x["agent"]) for x in d["legs"]]
    assert legs == [("caller", None), ("agent", "a1"), ("agent", "a2")]


def test_a_supervisors_listen_in_call_is_not_a_citizens_interaction() -> None:
    c = Call("spy1")
    c.start(channel="PJSIP/sup1-00000009")
    c.ev(ce.CtiVariableSet, 1001, uniqueid="spy1", name="CTI_SPY", value="listen")
    c.gone("spy1", 1030)
    c.end(1030)
    assert [r for r in c.out if r.kind == "interaction"] == []


def test_a_call_in_progress_is_written_as_open_whenever_what_is_known_of_it_grows() -> None:
    """`interaction_open` at the start, then each time a lasting fact is learnt (in
    line, offered, answered), never for facts that do not last (music, figures)."""
    c = Call()
    acd_answered_call(c)
    c.gone("a1leg", 1100)
    c.gone("c1", 1100)
    c.end(1100)
    opened = [r.data for r in c.out if r.kind == "interaction_open"]
    assert opened[0]["caller_number"] == "+359888123456"
    assert opened[0]["arrived_at"] == 1000.0
    assert (opened[0]["agent"], opened[0]["answered_at"]) == (None, None)
    assert opened[-1]["agent"] == "a1"
    assert opened[-1]["answered_at"] is not None
    assert opened[-1]["queued_at"] == 1005
    assert len(opened) == len({tuple(sorted(o.items())) for o in opened})  # no repeats
    assert set(opened[0]) == set(OPEN_COLUMNS)  # only facts that never change
    last_open = max(n for n, r in enumerate(c.out) if r.kind == "interaction_open")
    assert last_open < next(n for n, r in enumerate(c.out) if r.kind == "interaction")


def test_a_spy_call_is_dropped_from_the_open_calls() -> None:
    c = Call()
    c.start(channel="PJSIP/sup1-1")
    c.ev(ce.CtiVariableSet, 1001, uniqueid="c1", name="CTI_SPY", value="1")
    c.end(1010)
    assert [r.kind for r in c.out] == ["interaction_open", "interaction_dropped"]
