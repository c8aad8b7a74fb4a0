"""Live views that hold whoever routes: what a call is doing, read off Asterisk's
channels, and Asterisk's own queues (app_queue) followed from AMI."""

from __future__ import annotations

from collections.abc import Callable

from cti.ami import models as m
from cti.ami.codec import parse_event
from cti.ami.live import call_state
from cti.ami.tracker import CallTracker
from cti.ami.wire import RawMessage
from cti.queues.asterisk import AsteriskQueues
from replay import replay


def ev(kind: str, uid: str, **extra: str) -> m.AmiEvent:
    headers = {"Event": kind, "Channel": f"PJSIP/{uid}", "Uniqueid": uid, "Linkedid": "c",
               "ChannelState": "6", **extra}  # fmt: skip
    return parse_event(RawMessage(headers))


def test_a_call_is_in_the_ivr_then_waits_rings_talks_and_is_held() -> None:
    t = CallTracker()
    t.apply(ev("Newchannel", "c"), 1)
    t.apply(ev("Newexten", "c", Context="cti-inbound", Exten="s", Priority="2",
               Application="AGI", AppData="agi://x"), 2)  # fmt: skip
    it = t.interactions["c"]
    assert call_state(t, it) == "ivr"
    t.apply(ev("Newexten", "c", Context="cti-hold", Exten="s", Priority="1",
               Application="MusicOnHold", AppData=""), 3)  # fmt: skip
    t.apply(ev("MusicOnHoldStart", "c", Class="default"), 3)
    assert call_state(t, it) == "waiting"  # answered by the IVR, but not talking to anyone
    t.apply(ev("Newchannel", "a1", ChannelState="5"), 4)
    assert call_state(t, it) == "ringing"
    t.apply(ev("Newstate", "a1"), 5)
    t.apply(ev("MusicOnHoldStop", "c"), 5)
    t.apply(ev("BridgeEnter", "c", BridgeUniqueid="b1"), 5)
    t.apply(ev("BridgeEnter", "a1", BridgeUniqueid="b1"), 5)
    assert call_state(t, it) == "talking"
    t.apply(ev("BridgeLeave", "c", BridgeUniqueid="b1"), 6)
    t.apply(ev("MusicOnHoldStart", "c", Class="default"), 6)
    assert call_state(t, it) == "held"


async def test_asterisk_queue_figures_from_transcript_05() -> None:
    """Two callers in app_queue 'support': one answered after a ring-no-answer, one
    abandoned; members from QueueMember* events (added, paused, removed)."""
    r = await replay(5)
    queues = AsteriskQueues(service_level_s=20)
    for event in r.published:
        queues.on_call_event(event)
    for raw in r.raw_events:
        if raw["Event"].startswith("QueueMember"):
            typed = parse_event(RawMessage(raw))
            assert isinstance(typed, m.QueueMemberEvent)
            queues.on_member(typed)
    view = queues.view("support", now=2e9)
    assert (view.waiting, view.offered, view.answered, view.abandoned) == (0, 2, 1, 1)
    assert view.service_level == 0.5  # one of the two that left the line, within 20 s
    assert view.agents_logged_in == 0  # both support members were removed at the end
    sales = queues.view("sales", now=2e9)
    assert (sales.agents_logged_in, sales.agents_ready) == (1, 1)  # agent1, unpaused


async def test_the_wallboard_lists_asterisks_queue_members_with_their_state() -> None:
    from types import SimpleNamespace

    from cti.api.views import asterisk_members

    r = await replay(5)
    queues = AsteriskQueues()
    for raw in r.raw_events:
        if raw["Event"].startswith("QueueMember"):
            typed = parse_event(RawMessage(raw))
            assert isinstance(typed, m.QueueMemberEvent)
            queues.on_member(typed)
    members = asterisk_members(SimpleNamespace(asterisk_queues=queues))  # type: ignore[arg-type]
    assert [(x["queue"], x["interface"], x["paused"], x["device"]) for x in members] == [
        ("sales", "Local/agent1@agents/n", False, "not_in_use")
    ]


async def test_a_desktops_subscription_is_asked_only_about_its_agent() -> None:
    """With 1,000 desktops a publish must not ask all of them (the screen-pop's tail)."""
    from cti.bus import BusEvent, EventBus

    bus = EventBus()
    asked: list[str] = []

    def wants(name: str) -> Callable[[BusEvent], bool]:
        def check(e: BusEvent) -> bool:
            asked.append(name)
            return True

        return check

    a1 = bus.subscribe(wants("a1"), agent="a1")
    a2 = bus.subscribe(wants("a2"), agent="a2")
    wall = bus.subscribe(wants("wall"))
    bus.publish("acd.CallOffered", {"agent": "a1", "call": "c1"})
    assert sorted(asked) == ["a1", "wall"]
    asked.clear()
    bus.publish("supervisor.broadcast", {"text": "hi", "agents": None})
    assert sorted(asked) == ["a1", "a2", "wall"]
    assert [(await a1.get()).type, (await a1.get()).type] == [  # type: ignore[union-attr]
        "acd.CallOffered",
        "supervisor.broadcast",
    ]
    assert (a2.queue.qsize(), wall.queue.qsize()) == (1, 2)
    bus.unsubscribe(a2)
    asked.clear()
    bus.publish("acd.CallOffered", {"agent": "a2", "call": "c2"})
    assert asked == ["wall"]
