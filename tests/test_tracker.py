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
    # Not the resync time: without the CDR's answer time, the earliest it can have been.
    assert t.interactions["1.3"].answered_at == 35.0


def status(uid: str, **variables: str) -> m.Status:
    return m.Status.model_validate({
        "Event": "Status", "Channel": f"PJSIP/x-{uid}", "Uniqueid": uid, "Linkedid": uid,
        "ChannelState": "6", "variables": variables,
    })  # fmt: skip


def test_resync_takes_the_answer_time_asterisk_kept_and_ignores_null_variables() -> None:
    t = CallTracker()
    t.begin_epoch()
    found = status("1.3", CTI_TOPIC="(null)", CTI_LANG="bg", **{"CDR(answer,u)": "80.250000"})
    out = t.resync([core_show("1.3", "1.3", "00:01:05")], [found], 100.0)
    assert t.interactions["1.3"].answered_at == 80.25
    assert t.interactions["1.3"].cti_vars == {"CTI_LANG": "bg"}
    answered = [e for e in out if isinstance(e, ev.ChannelAnswered)]
    assert [(e.uniqueid, e.at) for e in answered] == [("1.3", 80.25)]


def test_hang_up_requests_say_whose_side_and_a_shutdown_says_so() -> None:
    t = CallTracker()
    t.apply(chan(m.Newchannel, "1.1", "1.1"), 1.0)
    t.apply(chan(m.Newchannel, "1.2", "1.1"), 1.0)
    (bye,) = t.apply(chan(m.HangupRequest, "1.1", "1.1", Cause="16"), 5.0)
    assert isinstance(bye, ev.HangupRequested)
    assert (bye.uniqueid, bye.soft, bye.shutdown) == ("1.1", False, False)
    (soft,) = t.apply(chan(m.SoftHangupRequest, "1.2", "1.1", Cause="4"), 6.0)
    assert isinstance(soft, ev.HangupRequested)
    assert (soft.soft, soft.shutdown) == (True, True)


def test_channels_gone_after_a_reconnect_say_why() -> None:
    def gone_after(shutdown: bool, uptime: str) -> str:
        t = CallTracker()
        t.apply(m.FullyBooted.model_validate({"Event": "FullyBooted", "Uptime": "50"}), 100.0)
        t.apply(chan(m.Newchannel, "1.1", "1.1"), 101.0)
        if shutdown:
            t.apply(m.Shutdown.model_validate({"Event": "Shutdown", "Restart": "True"}), 102.0)
        t.begin_epoch()
        t.apply(m.FullyBooted.model_validate({"Event": "FullyBooted", "Uptime": uptime}), 200.0)
        (end,) = [e for e in t.resync([], [], 200.0) if isinstance(e, ev.InteractionEnded)]
        return end.reason

    assert gone_after(shutdown=True, uptime="5") == "pbx_restart"
    assert gone_after(shutdown=False, uptime="5") == "pbx_lost"  # a crash: new boot time
    assert gone_after(shutdown=False, uptime="150") == "ended_while_disconnected"


def test_channels_that_never_hang_up_do_not_grow_the_tracker_for_ever() -> None:
    from cti.ami import tracker as tr

    t = CallTracker()
    for n in range(tr.MAX_CHANNELS + 500):
        t.apply(chan(m.Newchannel, f"9.{n}", f"9.{n}"), float(n))
    assert len(t.channels) == tr.MAX_CHANNELS
    assert len(t.interactions) == tr.MAX_CHANNELS
    assert "9.0" not in t.channels  # the oldest went first
    assert f"9.{tr.MAX_CHANNELS + 499}" in t.channels


def test_a_call_joined_mid_way_in_conversation_counts_as_answered() -> None:
    """A CTI that logs in during a conversation may see its end before the resync's list
    (cti bench failover): the channels come up from those events, already answered."""
    t = CallTracker()
    out = t.apply(chan(m.BridgeLeave, "1.9", "1.1", ChannelState="6", BridgeUniqueid="b"), 50.0)
    out += t.apply(chan(m.Hangup, "1.9", "1.1", ChannelState="6", Cause="16"), 50.1)
    ringing = t.apply(chan(m.Hangup, "1.8", "1.2", ChannelState="5", Cause="16"), 50.2)
    kinds = [e.kind for e in out]
    assert kinds[:3] == ["InteractionStarted", "ChannelAnswered", "InteractionAnswered"]
    assert "ChannelAnswered" not in [e.kind for e in ringing]  # ringing when joined
