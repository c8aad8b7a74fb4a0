"""The CDR builder (pure): tracker + ACD events in, outbox records out."""

from __future__ import annotations

from cti.ami import events as ce
from cti.queues import AgentState
from cti.queues import events as qe
from cti.store.cdr import CdrBuilder
from cti.store.outbox import Record


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _builder() -> tuple[CdrBuilder, list[Record], Clock]:
    out: list[Record] = []
    clock = Clock()
    return CdrBuilder(out.append, clock), out, clock


def _start(b: CdrBuilder, at: float = 1000.0) -> None:
    b.on_call_event(
        ce.InteractionStarted(
            seq=1,
            at=at,
            interaction_id="c1",
            uniqueid="c1",
            channel="PJSIP/trunk-1",
            caller_num="0888123456",
            caller_name="",
        )
    )


def _end_leg(b: CdrBuilder, uid: str, at: float) -> None:
    b.on_call_event(
        ce.ChannelEnded(
            seq=9,
            at=at,
            interaction_id="c1",
            uniqueid=uid,
            channel="x",
            cause=16,
            cause_txt="",
            reason="hangup",
        )
    )


def test_an_answered_call_with_hold_and_wrap_up() -> None:
    b, out, clock = _builder()
    _start(b)
    b.on_call_event(
        ce.CtiVariableSet(
            seq=2,
            at=1001,
            interaction_id="c1",
            uniqueid="c1",
            name="CTI_IVR_PATH",
            value="lang:bg,menu:2",
        )
    )
    clock.now = 1005
    b.on_acd_event(qe.CallQueued(5.0, "c1", "benefits", 1, None))
    clock.now = 1010
    b.on_acd_event(qe.CallOffered(10.0, "c1", "benefits", "a1", 5.0, 9))
    b.on_call_event(
        ce.ChannelJoined(
            seq=3, at=1010, interaction_id="c1", uniqueid="a1leg", channel="PJSIP/a1-2"
        )
    )
    clock.now = 1013
    b.on_acd_event(qe.CallAnswered(13.0, "c1", "benefits", "a1", 8.0, True))
    b.on_call_event(
        ce.InteractionHeld(
            seq=4, at=1020, interaction_id="c1", uniqueid="c1", channel="x", moh_class="default"
        )
    )
    b.on_call_event(
        ce.InteractionResumed(seq=5, at=1050, interaction_id="c1", uniqueid="c1", channel="x")
    )
    _end_leg(b, "a1leg", 1100)  # the agent hangs up first
    _end_leg(b, "c1", 1100)
    b.on_call_event(
        ce.InteractionEnded(
            seq=10,
            at=1100,
            interaction_id="c1",
            reason="hangup",
            duration_s=100,
            cause=16,
            cause_txt="",
        )
    )
    b.on_acd_event(
        qe.AgentStateChanged(40.0, "a1", AgentState.WRAP_UP, AgentState.READY, None, 20.0)
    )
    interaction = next(r for r in out if r.kind == "interaction")
    d = interaction.data
    assert (d["caller_number"], d["queue"], d["agent"], d["outcome"]) == (
        "+359888123456",
        "benefits",
        "a1",
        "answered",
    )
    assert (d["wait_s"], d["ring_s"], d["hold_s"], d["talk_s"]) == (8.0, 3.0, 30.0, 87.0)
    assert d["hangup_side"] == "agent"
    assert d["ivr_path"] == ["lang:bg", "menu:2"]
    assert [(leg["id"], leg["role"], leg["agent"]) for leg in d["legs"]] == [
        ("c1", "caller", None),
        ("a1leg", "agent", "a1"),
    ]
    update = next(r for r in out if r.kind == "interaction_update")
    assert update.data == {"id": "c1", "fields": {"wrap_up_s": 20.0}}


def test_a_caller_who_gives_up_in_the_queue_is_an_abandon_on_the_caller_side() -> None:
    b, out, _ = _builder()
    _start(b)
    b.on_acd_event(qe.CallQueued(5.0, "c1", "benefits", 1, None))
    b.on_acd_event(qe.CallAbandoned(60.0, "c1", "benefits", 55.0, None))
    _end_leg(b, "c1", 1060)
    b.on_call_event(
        ce.InteractionEnded(
            seq=10,
            at=1060,
            interaction_id="c1",
            reason="hangup",
            duration_s=60,
            cause=16,
            cause_txt="",
        )
    )
    (record,) = [r for r in out if r.kind == "interaction"]
    assert (record.data["outcome"], record.data["hangup_side"]) == ("abandoned", "caller")
    assert record.data["answered_at"] is None


def test_a_callback_answered_after_the_first_call_ended_updates_that_interaction() -> None:
    b, out, clock = _builder()
    _start(b)
    b.on_acd_event(qe.CallOverflowed(300.0, "c1", "benefits", "callback", None, 300.0, "max_wait"))
    b.on_acd_event(qe.CallbackAccepted(301.0, "c1", "benefits", "+359888123456"))
    _end_leg(b, "c1", 1302)
    b.on_call_event(
        ce.InteractionEnded(
            seq=10,
            at=1302,
            interaction_id="c1",
            reason="hangup",
            duration_s=302,
            cause=16,
            cause_txt="",
        )
    )
    clock.now = 2000
    b.on_acd_event(qe.CallAnswered(1000.0, "c1", "benefits", "a2", 700.0, True))
    kinds = [(r.kind, r.data.get("status") or r.data.get("outcome")) for r in out]
    assert kinds[:2] == [("callback", None), ("interaction", "callback")]
    assert ("callback", "done") in kinds
    update = next(r for r in out if r.kind == "interaction_update")
    assert update.data["fields"]["agent"] == "a2"
