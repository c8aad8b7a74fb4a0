"""Tier 1: AMI framing on byte streams cut in every possible place."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.wire import AmiFramer, FramingError, parse_block

STREAM = (
    "Asterisk Call Manager/11.0.0\r\n"
    "Response: Success\r\nActionID: park-y\r\nMessage: Park successful\n\r\n\r\n"
    "Event: Newchannel\r\nChannel: PJSIP/x-1\r\nCallerIDName: Szabó Ödön / Пётр\r\n"
    "AccountCode: \r\nUniqueid: 1.1\r\n\r\n"
    "Event: Status\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n"
).encode()


def _feed_all(cuts: list[int]) -> list[dict[str, str]]:
    framer = AmiFramer()
    out = []
    last = 0
    for cut in [*sorted(set(cuts)), len(STREAM)]:
        out.extend(m.headers for m in framer.feed(STREAM[last:cut]))
        last = cut
    return out


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
@settings(max_examples=300)
def test_any_split_of_the_stream_gives_the_same_messages(cuts: list[int]) -> None:
    assert _feed_all(cuts) == _feed_all([])


def test_messages_decoded_exactly() -> None:
    msgs = _feed_all([])
    assert msgs[0]["Message"] == "Park successful"  # the bare LF is not part of the value
    assert msgs[1]["CallerIDName"] == "Szabó Ödön / Пётр"
    assert msgs[1]["AccountCode"] == ""
    framer = AmiFramer(expect_banner=False)
    (status,) = framer.feed(b"Event: Status\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n")
    assert status.all("Variable") == ["A=1", "B=2"]


def test_oversized_message_arriving_in_pieces_is_dropped_alone() -> None:
    problems: list[str] = []
    framer = AmiFramer(max_message_size=1000, on_problem=problems.append, expect_banner=False)
    big = b"Event: VarSet\r\nValue: " + b"x" * 5000 + b"\r\n\r\n"
    got = []
    for i in range(0, len(big), 700):
        got += framer.feed(big[i : i + 700])
    got += framer.feed(b"Event: Hangup\r\nUniqueid: 1.1\r\n\r\n")
    assert [m.headers["Event"] for m in got] == ["Hangup"]
    assert framer.stats.dropped_oversized == 1
    assert len(framer._buf) < 1000  # memory stays bounded
    assert any("oversized" in p for p in problems)


def test_no_banner_is_refused() -> None:
    with pytest.raises(FramingError, match="not an Asterisk manager interface"):
        AmiFramer().feed(b"SSH-2.0-OpenSSH_9.2\r\n")


@given(st.text(max_size=300))
def test_parse_block_never_raises(text: str) -> None:
    msg = parse_block(text)
    assert msg is None or all(isinstance(v, str) for v in msg.headers.values())
