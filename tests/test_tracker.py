"""Tier 1: the call tracker as a pure fold, with property tests over random streams."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami import events as ev
from cti.ami import models as m
from cti.ami.tracker import CallTracker


def chan(kind: type[m.ChannelEvent], uid: str, linked: str, **extra: object) -> m.AmiEvent:
    fields = {"Event": kind.__name__, "Channel": f"PJSIP/x-{uid}", "Uniqueid": uid,
              "Linkedid": linked, "ChannelState": "4", **extra}  # fmt: skip
    return kind.model_validate(fields)


def core_show(uid: str, linked: str, duration: str = "00:00:10") -> m.CoreShowChannel:
    return m.CoreShowChannel.model_validate({
        "Event": "CoreShowChannel", "Channel": f"PJSIP/x-{uid}", "Uniqueid": uid,
        "Linkedid": linked, "ChannelState": "6", "Duration": duration,
    })  # fmt: skip


# A random stream: channels 0..5 in interactions by uid % 3, created/answered/hung up.
ops = st.lists(
    st.tuples(st.sampled_from(["new", "up", "hangup", "var", "resync"]), st.integers(0, 5)),
    max_size=60,
)


@given(ops)
@settings(max_examples=300)
def test_invariants_hold_on_any_stream(stream: list[tuple[str, int]]) -> None:
    t = CallTracker()
    out: list[ev.CallEvent] = []
    now = 100.0
    for op, n in stream:
        uid, linked = f"1.{n}", f"1.{n % 3}"
        now += 1
        if op == "new":
            out += t.apply(chan(m.Newchannel, uid, linked), now)
        elif op == "up":
            out += t.apply(chan(m.Newstate, uid, linked, ChannelState="6"), now)
        elif op == "hangup":
            out += t.apply(chan(m.Hangup, uid, linked, Cause="16"), now)
        elif op == "var":
            out += t.apply(chan(m.VarSet, uid, linked, Variable="CTI_TOPIC", Value="jobs"), now)
        else:
            t.begin_epoch()
            out += t.resync([core_show(u, f"1.{int(u[2:]) % 3}") for u in list(t.channels)[:1]],
                            [], now)  # fmt: skip
        # Every live channel belongs to a live interaction that lists it, and back.
        for c in t.channels.values():
            assert c.uniqueid in t.interactions[c.linkedid].channels
        for i in t.interactions.values():
            assert i.channels
            assert all(t.channels[u].linkedid == i.id for u in i.channels)
    seqs = [e.seq for e in out]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    started = [e.interaction_id for e in out if isinstance(e, ev.InteractionStarted)]
    ended = [e.interaction_id for e in out if isinstance(e, ev.InteractionEnded)]
    # Each interaction ends at most once per start, and live ones have not ended.
    for iid in set(started):
        assert started.count(iid) - ended.count(iid) == (1 if iid in t.interactions else 0)


def test_late_event_after_hangup_does_not_resurrect_the_channel() -> None:
    t = CallTracker()
    t.apply(chan(m.Newchannel, "1.1", "1.1"), 1.0)
    t.apply(chan(m.Hangup, "1.1", "1.1", Cause="16"), 2.0)
    assert t.apply(chan(m.NewCallerid, "1.1", "1.1"), 3.0) == []
    assert not t.channels
    assert not t.interactions


def test_recording_stopped_by_hangup_without_mixmonitorstop() -> None:
    t = CallTracker()
    t.apply(chan(m.Newchannel, "1.1", "1.1"), 1.0)
    t.apply(chan(m.VarSet, "1.1", "1.1", Variable="MIXMONITOR_FILENAME", Value="/r/a.wav"), 1.1)
    t.apply(chan(m.MixMonitorStart, "1.1", "1.1"), 1.2)
    out = t.apply(chan(m.Hangup, "1.1", "1.1", Cause="16"), 9.0)
    stopped = [e for e in out if isinstance(e, ev.RecordingStopped)]
    assert [(e.file, e.by, e.interaction_id) for e in stopped] == [("/r/a.wav", "hangup", "1.1")]
    assert isinstance(out[-1], ev.InteractionEnded)
    assert out[-1].duration_s == 8.0


def test_resync_adopts_calls_with_their_age_and_ends_the_vanished() -> None:
    t = CallTracker()
    t.apply(chan(m.Newchannel, "1.1", "1.1"), 1.0)
    t.apply(chan(m.Newchannel, "1.2", "1.2"), 1.0)
    t.begin_epoch()
    out = t.resync([core_show("1.2", "1.2"), core_show("1.3", "1.3", "00:01:05")], [], 100.0)
    ended = [(e.interaction_id, e.reason) for e in out if isinstance(e, ev.InteractionEnded)]
    assert ended == [("1.1", "ended_while_disconnected")]
    started = [e for e in out if isinstance(e, ev.InteractionStarted)]
    assert [(e.interaction_id, e.resynced) for e in started] == [("1.3", True)]
    assert t.interactions["1.3"].started_at == 35.0  # 100 s now minus 65 s of duration
    assert t.interactions["1.3"].answered_at == 100.0
