"""Fault tests over real sockets: drops, silent peers, bad credentials, bad bytes."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from cti.ami import events as ev
from cti.ami.client import AmiClient
from cti.ami.errors import AmiConnectError, AmiConnectionLost
from cti.ami.service import AmiFeed
from cti.ami.tracker import CallTracker
from cti.config import AmiSettings
from cti.sim.fake_ami import BANNER, FakeAmiServer, Script
from cti.sim.transcripts import Section, Step
from replay import FakeClock

LOGIN_OK = "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"


def channel_block(event: str, uid: str, name: str, caller: str = "5551000", **extra: str) -> str:
    lines = [
        f"Event: {event}",
        "Privilege: call,all",
        f"Channel: {name}",
        "ChannelState: 6",
        "ChannelStateDesc: Up",
        f"CallerIDNum: {caller}",
        "CallerIDName: Иван Петров",
        "ConnectedLineNum: <unknown>",
        "ConnectedLineName: <unknown>",
        "Language: bg",
        "AccountCode: ",
        "Context: cti-hold",
        "Exten: s",
        "Priority: 1",
        f"Uniqueid: {uid}",
        f"Linkedid: {uid}",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def session(events: str = "") -> Section:
    """Banner, then a successful Login followed by `events`."""
    return Section(
        title="synthetic",
        steps=[
            Step(action=None, server=BANNER),
            Step(action={"Action": "Login", "ActionID": "{id}"}, server=LOGIN_OK + events),
        ],
    )


class Harness:
    def __init__(self, server: FakeAmiServer, **settings: object) -> None:
        self.server = server
        self.tracker = CallTracker()
        self.published: list[ev.CallEvent] = []
        self.feed = AmiFeed(self.tracker, self.published.append, FakeClock())
        opts: dict[str, object] = {
            "port": server.port, "secret": "x", "auth": "plain", "ping_interval_s": 30,
            "reconnect_min_s": 0.05, "reconnect_max_s": 0.2, "action_timeout_s": 5,
        }  # fmt: skip
        opts.update(settings)
        self.client = AmiClient(
            AmiSettings.model_validate(opts), on_event=self.feed.on_raw,
            on_connected=lambda: self.feed.resync(self.client),
            on_session_start=self.feed.begin_session,
        )  # fmt: skip

    def of(self, kind: type[ev.CallEvent]) -> list[ev.CallEvent]:
        return [e for e in self.published if isinstance(e, kind)]


async def eventually(check, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture
async def servers():  # type: ignore[no-untyped-def]
    made: list[FakeAmiServer] = []

    async def make(*scripts: Script, **kw: bool) -> FakeAmiServer:
        server = FakeAmiServer(list(scripts), **kw)
        await server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        await server.close()


async def test_drop_mid_call_resyncs_and_ends_vanished_calls(servers) -> None:  # type: ignore[no-untyped-def]
    a = channel_block("Newchannel", "1795000000.1", "PJSIP/citizen-00000001")
    b = channel_block("Newchannel", "1795000000.2", "PJSIP/citizen-00000002", caller="5552000")
    survivor = channel_block(
        "CoreShowChannel", "1795000000.2", "PJSIP/citizen-00000002", caller="5552000",
        ActionID="{id}", Application="MusicOnHold", ApplicationData="default",
        Duration="00:01:05", BridgeId="",
    )  # fmt: skip
    born_while_away = channel_block(
        "CoreShowChannel", "1795000000.3", "PJSIP/citizen-00000003", caller="5553000",
        ActionID="{id}", Application="AGI", ApplicationData="agi://cti/inbound",
        Duration="00:00:04", BridgeId="",
    )  # fmt: skip
    server = await servers(
        Script(session(a + b)), Script(session(), channels=[survivor, born_while_away])
    )
    h = Harness(server)
    await h.client.start()
    await eventually(lambda: len(h.tracker.interactions) == 2)
    server.drop_all()
    await eventually(lambda: h.client.connects == 2 and "1795000000.3" in h.tracker.interactions)
    ended = h.of(ev.InteractionEnded)
    assert [(e.interaction_id, e.reason) for e in ended] == [
        ("1795000000.1", "ended_while_disconnected")
    ]
    assert set(h.tracker.interactions) == {"1795000000.2", "1795000000.3"}
    resynced = [e for e in h.of(ev.InteractionStarted) if e.resynced]  # type: ignore[attr-defined]
    assert [e.interaction_id for e in resynced] == ["1795000000.3"]
    # The caller's name survives intact (Cyrillic, from the event stream).
    assert h.tracker.interactions["1795000000.2"].caller_name == "Иван Петров"
    await h.client.close()


async def test_inflight_originate_fails_and_is_never_resent(servers) -> None:  # type: ignore[no-untyped-def]
    server = await servers(Script(session()))
    h = Harness(server)
    await h.client.start()
    server.silence()  # Asterisk takes the action but never answers
    originate = asyncio.ensure_future(h.client.send_action(
        {"Action": "Originate", "Channel": "PJSIP/agent100", "Exten": "s",
         "Context": "cti-callback", "Priority": "1", "Async": "true"}
    ))  # fmt: skip
    listing = asyncio.ensure_future(h.client.send_action({"Action": "CoreShowChannels"}))
    await eventually(lambda: any(a.get("Action") == "Originate" for a in server.received))
    server.drop_all()
    with pytest.raises(AmiConnectionLost, match=r"Originate .* in flight; it was not sent again"):
        await originate
    # A read-only action is retried on the new link and succeeds.
    result = await listing
    assert result[-1]["Event"] == "CoreShowChannelsComplete"
    assert sum(a.get("Action") == "Originate" for a in server.received) == 1
    await h.client.close()


async def test_silent_peer_is_detected_within_two_ping_intervals(servers) -> None:  # type: ignore[no-untyped-def]
    interval = 0.2
    server = await servers(Script(session()))
    h = Harness(server, ping_interval_s=interval)
    with capture_logs() as logs:
        await h.client.start()
        server.silence()  # no answers, no FIN: only the watchdog can tell
        silenced_at = time.monotonic()
        await eventually(lambda: not h.client.connected, timeout=5)
        detected_after = time.monotonic() - silenced_at
        await eventually(lambda: h.client.connects == 2, timeout=5)
    assert detected_after <= 2 * interval + 0.15
    assert any(entry["event"] == "ami.peer_silent" for entry in logs)
    await h.client.close()
    assert h.client.state == "closed"
    assert not h.client._tasks  # close() stopped the watchdog and the supervisor


async def test_bad_credentials_raise_and_never_stay_unauthenticated(servers) -> None:  # type: ignore[no-untyped-def]
    refused = Section(title="refused", steps=[
        Step(action=None, server=BANNER),
        Step(action={"Action": "Login", "ActionID": "{id}"},
             server="Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n"),
    ], close_after=1)  # fmt: skip
    server = await servers(Script(refused))
    h = Harness(server)
    from cti.ami.errors import AmiLoginError

    with pytest.raises(AmiLoginError, match="Authentication failed"):
        await h.client.start()
    assert h.client.state == "disconnected"
    assert not h.client._tasks


async def test_unreachable_host_is_a_clear_error(servers) -> None:  # type: ignore[no-untyped-def]
    server = await servers(Script(session()))
    port = server.port
    await server.close()
    client = AmiClient(AmiSettings(port=port, connect_timeout_s=1), on_event=lambda raw: None)
    with pytest.raises(AmiConnectError, match=f"cannot reach Asterisk AMI at 127.0.0.1:{port}"):
        await client.start()


async def test_a_peer_that_is_not_asterisk_is_refused(servers) -> None:  # type: ignore[no-untyped-def]
    http = Section(title="http", steps=[Step(action=None, server="HTTP/1.1 400 Bad Request\r\n")])
    server = await servers(Script(http))
    h = Harness(server)
    with pytest.raises(AmiConnectError, match="not an Asterisk manager interface"):
        await h.client.start()


async def test_garbage_and_oversized_input_is_logged_and_survived(servers) -> None:  # type: ignore[no-untyped-def]
    server = await servers(Script(session()))
    h = Harness(server, max_message_bytes=4096)
    await h.client.start()
    with capture_logs() as logs:
        server.inject(b"this is not a header\r\n\xff\xfe binary\r\n\r\n")
        server.inject(b"Event: VarSet\r\nValue: " + b"x" * 10_000 + b"\r\n\r\n")
        server.inject(b"Event: Newchannel\r\nChannelState: not-a-number\r\nUniqueid: 9.9\r\n\r\n")
        server.inject(channel_block("Newchannel", "1795000000.7", "PJSIP/citizen-7").encode())
        await eventually(lambda: "1795000000.7" in h.tracker.interactions)
    problems = [entry for entry in logs if entry["event"] in ("ami.bad_input", "ami.invalid_event")]
    assert any("garbage line" in str(p.get("problem")) for p in problems)
    assert any("oversized" in str(p.get("problem")) for p in problems)
    assert any(p["event"] == "ami.invalid_event" and "ChannelState" in p["error"] for p in problems)
    assert h.client.connected
    assert h.client.connects == 1
    assert "9.9" not in h.tracker.interactions
    await h.client.close()


async def test_utf8_split_across_tcp_reads(servers) -> None:  # type: ignore[no-untyped-def]
    server = await servers(Script(session()))
    h = Harness(server)
    await h.client.start()
    data = (
        channel_block("Newchannel", "1795000000.8", "PJSIP/x-8")
        .replace("Иван Петров", "Kovács Éva — Иван")
        .encode("utf-8")
    )
    cut = data.index("É".encode()) + 1  # inside the two-byte É
    server.inject(data[:cut])
    await asyncio.sleep(0.05)  # separate TCP segments, separate reads
    server.inject(data[cut:])
    await eventually(lambda: "1795000000.8" in h.tracker.interactions)
    assert h.tracker.interactions["1795000000.8"].caller_name == "Kovács Éva — Иван"
    await h.client.close()
