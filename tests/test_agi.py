"""Our FastAGI server against transcript 03, byte for byte over a real socket, and its
behaviour with clients that misbehave."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ivr.agi import AgiError, AgiHangup, AgiSession, FastAgiServer, parse_reply
from cti.sim import transcripts

SECTIONS = transcripts.load_agi(transcripts.find(3))


async def play_asterisk(port: int, section: transcripts.AgiSection) -> list[str]:
    """Be Asterisk: send the environment, expect each command, answer as it did."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(section.env.encode())
    sent: list[str] = []
    try:
        for step in section.steps:
            line = await asyncio.wait_for(reader.readline(), 5)
            sent.append(line.decode())
            assert line.decode() == step.command + "\n", f"after {sent[:-1]}"
            writer.write(step.reply.encode())
            await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up
    finally:
        writer.close()
        await writer.wait_closed()
    return sent


async def run(section: int, handler: Callable[[AgiSession], Awaitable[None]]) -> FastAgiServer:
    script = SECTIONS[section].env.split("agi_network_script: ")[1].split("?")[0].split("\n")[0]
    server = FastAgiServer({script: handler}.get, port=0)
    port = await server.start()
    try:
        await play_asterisk(port, SECTIONS[section])
    finally:
        await server.close()
    return server


async def test_session_1_every_command_and_reply_kind() -> None:
    out: dict[str, Any] = {}

    async def ivr(s: AgiSession) -> None:
        out["where"] = (s.script, s.query, s.args, s.channel)
        await s.answer()
        out["status"] = (await s.command("CHANNEL STATUS")).result
        full = await s.command(
            'GET FULL VARIABLE "${CALLERID(num)}/${CTI_SITE}/${CHANNEL(language)}"'
        )
        out["full"] = full.data
        out["keyed"] = await s.stream_file("hello-world", "12345")
        out["played"] = await s.stream_file("beep")
        out["missing"] = await s.stream_file("no-such-sound-file")
        out["data"] = await s.get_data("beep", 3000, 4)
        out["timeout"] = await s.get_data("beep", 1500, 2)
        out["digit"] = await s.wait_for_digit(3000)
        await s.set_variable("IVR_CHOICE", "42")
        out["var"] = await s.get_variable("IVR_CHOICE")
        out["novar"] = await s.get_variable("NO_SUCH_VARIABLE")
        await s.set_variable("CDR(userfield)", "set by fastagi")
        await s.verbose("hello from FastAGI")
        await s.say_digits("42")
        out["exec"] = [await s.exec("Playback", "beep"), await s.exec("Set", "FROM_EXEC=yes")]
        out["fromexec"] = await s.get_variable("FROM_EXEC")
        out["noapp"] = await s.exec("NoSuchApplication", "foo")
        with pytest.raises(AgiError) as unknown:
            await s.command("NOSUCHCOMMAND foo")
        with pytest.raises(AgiError) as usage:
            await s.command("STREAM FILE")
        out["errors"] = (unknown.value.code, usage.value.code, usage.value.message)
        await s.command("DATABASE PUT cti lastivr 42")
        out["db"] = (await s.command("DATABASE GET cti lastivr")).data
        await s.hangup()
        out["after"] = await s.get_variable("IVR_CHOICE")  # the HANGUP line is skipped
        out["hung_up"] = s.hung_up
        with pytest.raises(AgiError) as dead:
            await s.command('STREAM FILE beep ""')
        with pytest.raises(AgiError):
            await s.command("CHANNEL STATUS")
        await s.verbose("after hangup")
        out["dead"] = dead.value.code

    server = await run(0, ivr)
    assert out["where"] == (
        "ivr",
        {"lang": "en"},
        ["first-arg", "second arg"],
        "Local/ivr@scen-c-00000007;2",
    )
    assert out["status"] == 6
    assert out["full"] == "5557000/lab1/en"
    assert (out["keyed"], out["played"], out["missing"]) == ("2", None, None)
    assert (out["data"], out["timeout"], out["digit"]) == ("42", None, "7")
    assert (out["var"], out["novar"], out["fromexec"], out["db"]) == ("42", None, "yes", "42")
    assert (out["exec"], out["noapp"]) == ([0, 0], -2)
    assert out["errors"][:2] == (510, 520)
    assert "Proper usage follows" in out["errors"][2]
    assert out["errors"][2].endswith("End of proper usage.")
    assert (out["after"], out["hung_up"], out["dead"]) == ("42", True, 511)
    assert server.completed == 1


async def test_session_2_caller_hangs_up_while_a_prompt_plays() -> None:
    out: dict[str, Any] = {}

    async def hangup_test(s: AgiSession) -> None:
        await s.answer()
        with pytest.raises(AgiHangup):
            await s.stream_file("tt-monkeys")
        out["hung_up"] = s.hung_up
        out["agistatus"] = await s.get_variable("AGISTATUS")
        out["channel"] = (await s.command('GET FULL VARIABLE "${CHANNEL}"')).data
        await s.set_variable("POST_HANGUP", "1")
        codes = []
        for cmd in ('STREAM FILE beep ""', "WAIT FOR DIGIT 1000", "CHANNEL STATUS"):
            with pytest.raises(AgiError) as err:
                await s.command(cmd)
            codes.append(err.value.code)
        out["codes"] = codes
        await s.verbose("caller hung up")
        out["exec"] = await s.exec("NoOp", "dead channel exec")
        with pytest.raises(AgiHangup):  # the IVR's own calls refuse at once
            await s.wait_for_digit(1000)

    await run(1, hangup_test)
    assert out["hung_up"] is True
    assert out["agistatus"] is None
    assert out["channel"] == "Local/hangup-test@scen-c-00000008;2"
    assert out["codes"] == [511, 511, 511]
    assert out["exec"] == 0


async def test_session_3_query_string_and_closing_without_hangup() -> None:
    out: dict[str, Any] = {}

    async def quick(s: AgiSession) -> None:
        out["query"] = s.query
        await s.set_variable("FROM_AGI", "quick-script")

    await run(2, quick)
    assert out["query"] == {"x": "1", "y": "2"}


async def _connect_and(port: int, data: bytes, close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if close:
        writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:  # closed by the server with our data unread
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize(
    "data",
    [b"", b"agi_network: yes\nagi_network_scr", b"GET / HTTP/1.0\r\n\r\n", b"\xff\xfe" * 5000],
)
async def test_a_client_that_leaves_early_or_sends_garbage_costs_nothing(data: bytes) -> None:
    called = []

    async def handler(s: AgiSession) -> None:
        called.append(s)

    server = FastAgiServer({"ivr": handler}.get, port=0)
    port = await server.start()
    try:
        assert await _connect_and(port, data) == b""
        await asyncio.sleep(0.05)
        assert (server.sessions, len(server._tasks), called) == (0, 0, [])
    finally:
        await server.close()


async def test_sessions_beyond_the_cap_are_refused_at_once() -> None:
    release = asyncio.Event()

    async def slow(s: AgiSession) -> None:
        await release.wait()

    server = FastAgiServer({"ivr": slow}.get, port=0, max_sessions=1)
    port = await server.start()
    env = SECTIONS[0].env.encode()
    try:
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(env)
        await asyncio.sleep(0.05)
        assert server.sessions == 1
        assert await _connect_and(port, env, close=False) == b""  # closed by the server
        assert server.refused == 1
        release.set()
        assert await asyncio.wait_for(r1.read(), 5) == b""
        w1.close()
        await w1.wait_closed()
    finally:
        await server.close()


async def test_a_command_without_a_reply_times_out_and_the_session_ends() -> None:
    async def ivr(s: AgiSession) -> None:
        await s.answer()

    server = FastAgiServer({"ivr": ivr}.get, port=0, command_timeout_s=0.2)
    port = await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(SECTIONS[0].env.encode())
        assert await asyncio.wait_for(reader.readline(), 5) == b"ANSWER\n"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # no reply: closed
        writer.close()
        await writer.wait_closed()
        assert server.sessions == 0
    finally:
        await server.close()


@settings(max_examples=300)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=60),
        min_size=0,
        max_size=4,
    )
)
def test_the_reply_parser_gives_a_reply_or_a_clear_error(lines: list[str]) -> None:
    outcome: tuple[str, object]
    try:
        outcome = ("reply", parse_reply(lines).code)
    except AgiError as exc:
        outcome = ("agi_error", 0 <= exc.code <= 999)
    except ValueError as exc:
        outcome = ("bad", "AGI reply" in str(exc))
    assert outcome in (("reply", 200), ("agi_error", True), ("bad", True))
