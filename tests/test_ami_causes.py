"""An Originate that fails without a reason (Asterisk 22 says `Reason: 0` for a phone
behind a PJSIP trunk that answers 486 Busy Here) is told by its channel's hang-up
cause, whichever of the two arrives first (cti.ami.causes)."""

from __future__ import annotations

import asyncio

from cti.ami.causes import HangupCauses, reason_for


def hangup(uniqueid: str, cause: str) -> dict[str, str]:
    return {"Event": "Hangup", "Uniqueid": uniqueid, "Cause": cause, "Channel": "PJSIP/trunk-1"}


def failed(reason: str) -> dict[str, str]:
    return {"Event": "OriginateResponse", "Response": "Failure", "Reason": reason}


async def test_the_hangup_before_the_response_gives_the_reason_at_once() -> None:
    causes = HangupCauses()
    causes.note(hangup("cti-survey-7-ab", "17"))
    causes.note({"Event": "Newchannel", "Uniqueid": "x", "Cause": "16"})  # not a hang-up
    assert await causes.refine(failed("0"), "cti-survey-7-ab") == (5, 17)
    assert await causes.cause_of("x", wait_s=0.01) is None


async def test_a_hangup_after_the_response_is_waited_for() -> None:
    causes = HangupCauses()
    asyncio.get_running_loop().call_later(0.05, causes.note, hangup("c1", "19"))
    assert await causes.refine(failed("0"), "c1") == (3, 19)  # no answer
    assert causes._waiting == {}


async def test_what_asterisk_said_stands_and_an_unknown_channel_is_not_waited_for_long() -> None:
    causes = HangupCauses()
    causes.note(hangup("c2", "17"))
    assert await causes.refine(failed("3"), "c2") == (3, None)  # Asterisk said no answer
    assert await causes.refine(failed("0"), None) == (0, None)  # the channel was not named
    began = asyncio.get_running_loop().time()
    assert await causes.refine(failed("0"), "never") == (0, None)
    assert asyncio.get_running_loop().time() - began < 1.5
    assert causes._waiting == {}
    causes.note(hangup("c3", "16"))  # normal clearing: no reason to give
    assert await causes.refine(failed("0"), "c3") == (0, 16)


def test_causes_map_as_asterisk_maps_them_and_memory_is_bounded() -> None:
    assert [reason_for(c) for c in (17, 18, 19, 21, 34, 16, 1, None)] == [
        5, 3, 3, 8, 8, None, None, None,
    ]  # fmt: skip
    causes = HangupCauses(keep=3)
    for n in range(5):
        causes.note(hangup(f"u{n}", "17"))
    assert list(causes._seen) == ["u2", "u3", "u4"]
