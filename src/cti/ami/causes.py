"""Why an Originate failed when Asterisk's `OriginateResponse` does not say.

Asterisk gives an async Originate's failure a `Reason` from its dial result: a busy
or unreachable phone behind a PJSIP trunk (486, 480, 503) ends the dial as
"unanswered", and the response says `Reason: 0` ("failed") whatever the phone said
(measured on Asterisk 22: 486 Busy Here gave Reason 0). The originated channel's
`Hangup` event carries the Q.850 cause (17 user busy, ...). An Originate that names
its channel (`ChannelId`) can therefore be told apart: the client remembers recent
hang-up causes by Uniqueid and, for a failure with Reason 0, waits a moment for that
channel's (its `Hangup` and the response travel separately inside Asterisk and may
come in either order).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

KEEP = 2000  # recent hang-ups remembered: far more than Originates under way at once
WAIT_S = 1.0  # for a Hangup that comes after the OriginateResponse

# Q.850 cause -> the OriginateResponse Reason it means (3 no answer, 5 busy, 8 congestion),
# as Asterisk's pbx_dial_reason maps them when the dial ends in a hang-up.
_REASONS = {
    17: 5,  # user busy
    18: 3,  # no user responding
    19: 3,  # no answer
    21: 8,  # call rejected
    27: 8,  # destination out of order
    34: 8,  # no circuit available
    38: 8,  # network out of order
    41: 8,  # temporary failure
    42: 8,  # switching equipment congestion
}


def reason_for(cause: int | None) -> int | None:
    """The Originate reason a hang-up cause means; None when it means none of them."""
    return _REASONS.get(cause) if cause is not None else None


class HangupCauses:
    """Recent hang-up causes by Uniqueid, and waiting for one still to come."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._waiting: dict[str, list[asyncio.Future[int]]] = {}

    def note(self, headers: dict[str, str]) -> None:
        """Every AMI event passes here: a `Hangup`'s cause is kept."""
        if headers.get("Event") == "Hangup":
            cause = headers.get("Cause", "")
            self.saw(headers.get("Uniqueid", ""), int(cause) if cause.isdigit() else 0)

    async def refine(
        self, response: dict[str, str], channel_id: str | None
    ) -> tuple[int, int | None]:
        """A failed OriginateResponse's reason code and, when it is 0 and the Originate
        named its channel, that channel's hang-up cause and the reason it means."""
        code = int(response.get("Reason") or 0)
        if code != 0 or not channel_id:
            return code, None
        cause = await self.cause_of(str(channel_id))
        return reason_for(cause) or code, cause

    def saw(self, uniqueid: str, cause: int) -> None:
        if not uniqueid:
            return
        self._seen[uniqueid] = cause
        self._seen.move_to_end(uniqueid)
        while len(self._seen) > self.keep:
            self._seen.popitem(last=False)
        for waiter in self._waiting.pop(uniqueid, []):
            if not waiter.done():
                waiter.set_result(cause)

    async def cause_of(self, uniqueid: str, wait_s: float = WAIT_S) -> int | None:
        """The channel's hang-up cause, waiting up to `wait_s` for it; None if none came."""
        if uniqueid in self._seen:
            return self._seen[uniqueid]
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(uniqueid, []).append(waiter)
        try:
            return await asyncio.wait_for(waiter, wait_s)
        except TimeoutError:
            return None
        finally:
            waiters = self._waiting.get(uniqueid, [])
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)
            if not waiters:
                self._waiting.pop(uniqueid, None)
