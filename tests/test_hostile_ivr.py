"""FastAGI and AMI against hostile peers and bad rows (issue 18): one bad notice cannot
send every caller to the fallback queue, a reply Asterisk never sends is a clear error,
silent peers free their slots in seconds, and nothing with a line break or NUL reaches
Asterisk."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cti.ami.errors import AmiError
from cti.ami.wire import check_action
from cti.config import IvrSettings
from cti.demo import always_open
from cti.ivr.agi import AgiArgumentError, AgiSession, FastAgiServer, parse_reply, prompt_name, quote
from cti.ivr.models import load_ivr
from cti.ivr.service import IvrService
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Channel, Citizen
from cti.store.embedded import free_port
from cti.store.service import StoreService

IVR_FILE = Path(__file__).parent.parent / "deploy" / "ivr.yaml"
ENV = (
    "agi_network: yes\nagi_network_script: inbound\nagi_request: agi://cti/inbound\n"
    "agi_channel: PJSIP/trunk-00000001\nagi_uniqueid: 1.1\nagi_callerid: 0888123456\n\n"
)


async def until(what: Callable[[], bool], seconds: float = 5.0) -> float:
    """Wait for `what`; how long it took."""
    started = time.monotonic()
    while not what():
        assert time.monotonic() - started < seconds, "timed out"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


@asynccontextmanager
async def ivr_rig(settings: IvrSettings, store: Any = None) -> AsyncIterator[tuple[Any, Any]]:
    """The IVR service (deploy/ivr.yaml, always open) and a simulated PBX using it."""
    ivr = IvrService(settings, always_open(load_ivr(IVR_FILE)), store)
    port = await ivr.start()
    server = SimAmiServer(time_scale=0.002)
    server.pbx.use_fastagi("127.0.0.1", port)
    try:
        yield ivr, server
    finally:
        server.pbx.close()
        await ivr.close()
        await server.close()


def queued(ch: Channel) -> bool:
    return ch.context == "cti-hold" and ch.moh


async def test_a_notice_whose_prompt_has_a_line_break_is_skipped_not_every_call_failed(
    db_url: str, tmp_path: Path
) -> None:
    """Rows stored before prompts were checked (or written around the API)."""
    conn = await asyncpg.connect(db_url)
    now = dt.datetime.now(dt.UTC)
    for prompt in ("cti/notice-water-outage", "cti/x\nEXEC System rm", "cti/two words", "a..b"):
        await conn.execute(
            "INSERT INTO announcements (topic, text, prompt, valid_from, valid_to)"
            " VALUES (NULL, 'notice', $1, $2, $3)",
            prompt,
            now - dt.timedelta(hours=1),
            now + dt.timedelta(hours=1),
        )
    await conn.close()
    store = StoreService(db_url, tmp_path / "outbox")
    async with ivr_rig(IvrSettings(port=free_port()), store) as (_, server):
        calls = [
            server.pbx.inbound_call(Citizen(f"+35988800010{i}", "x", keys=["2", "3"]))
            for i in range(3)
        ]
        await until(lambda: all(queued(ch) for ch in calls))
    for ch in calls:
        assert ch.variables["AGISTATUS"] == "SUCCESS"
        assert ch.variables["CTI_QUEUE"] == "employment"
        assert "notices:1," in ch.variables["CTI_IVR_PATH"]  # the good one played


async def test_a_result_asterisk_never_sends_is_no_key_not_an_overflow() -> None:
    seen: list[Any] = []

    async def ivr(s: AgiSession) -> None:
        for _ in range(3):
            seen.append(await s.stream_file("beep", "12"))
        seen.append(await s.get_data("beep", 1000, 12))  # keyed digits are a string

    server = FastAgiServer({"inbound": ivr}.get, port=0)
    port = await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.encode())
        for reply in ("200 result=2147483648", "200 result=1114112", "200 result=300"):
            assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"STREAM FILE beep")
            writer.write(reply.encode() + b"\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"GET DATA beep 1000 12\n"
        writer.write(b"200 result=08881234567\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
    finally:
        await server.close()
    # Out of a C int, no character, no key: none is a key; the digits keep their 0.
    assert seen == [None, None, None, "08881234567"]
    assert server.completed == 1
    assert parse_reply(["200 result=-2147483649"]).result is None
    with pytest.raises(ValueError, match="malformed"):
        parse_reply(["200 result=" + "9" * 400])


async def test_silent_peers_free_their_slots_in_seconds_and_callers_get_through() -> None:
    settings = IvrSettings(
        port=free_port(), max_sessions=20, env_timeout_s=0.3, quick_timeout_s=0.3
    )
    async with ivr_rig(settings) as (ivr, server):
        port = ivr.agi.port
        peers = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
        for _, writer in peers[10:]:  # half send an environment, then nothing
            writer.write(ENV.encode())
        await until(lambda: ivr.agi.sessions == 20)
        assert await until(lambda: ivr.agi.sessions == 0, seconds=3) < 1.5
        # What a silent peer got: one quick command, then the end.
        reader = peers[-1][0]
        assert await asyncio.wait_for(reader.read(), 5) == b"CHANNEL STATUS\n"
        for _, writer in peers:
            writer.close()
        calls = [
            server.pbx.inbound_call(Citizen(f"+35988800020{i}", "x", keys=["2", "1"]))
            for i in range(5)
        ]
        await until(lambda: all(queued(ch) for ch in calls))
        assert ivr.agi.refused == 0


async def test_nothing_with_a_line_break_or_nul_is_written_to_asterisk() -> None:
    refused: list[str] = []

    async def ivr(s: AgiSession) -> None:
        for attempt in (
            lambda: s.set_variable("CTI_NOTE", "a\x00b"),
            lambda: s.set_variable("CTI_NOTE", "a\rb"),
            lambda: s.stream_file("cti/two words"),
            lambda: s.stream_file("../../etc/passwd"),
            lambda: s.get_data("x\ny", 1000, 4),
            lambda: s.command("VERBOSE \x00"),
        ):
            try:
                await attempt()
            except AgiArgumentError:
                refused.append("refused")
        await s.set_variable("CTI_NOTE", "fine")

    server = FastAgiServer({"inbound": ivr}.get, port=0)
    port = await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(ENV.encode())
        assert await asyncio.wait_for(reader.readline(), 5) == b'SET VARIABLE CTI_NOTE "fine"\n'
        writer.write(b"200 result=1\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        await writer.wait_closed()
    finally:
        await server.close()
    assert refused == ["refused"] * 6
    with pytest.raises(AgiArgumentError):
        quote("x\x00")
    assert prompt_name("cti/notice-water-outage") == "cti/notice-water-outage"


def test_the_ami_edge_refuses_line_breaks_and_nul_in_any_header_value() -> None:
    fine = {"Action": "Originate", "Channel": "PJSIP/a1", "Variable": ["A=1", "B=2"]}
    assert check_action(fine) is fine
    for bad in (
        {"Action": "Hangup", "Channel": "PJSIP/a1\r\nAction: Originate"},
        {"Action": "Originate", "Variable": ["A=1", "B=2\nAction: Hangup"]},
        {"Action": "Hangup", "Channel": "PJSIP/a1\x00"},
        {"Action": "Hangup", "Chan\nnel": "x"},
    ):
        with pytest.raises(AmiError, match="line breaks and NUL"):
            check_action(bad)
