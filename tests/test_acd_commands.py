"""The ACD's PBX commands: an Originate (a callback, an agent's own call) waits for its
answer seconds long; the commands behind it (another caller's ring) must not."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cti.queues.commands import CommandRunner
from cti.queues.events import CancelOffer, ConnectToAgent, PlaceCallback
from cti.queues.legs import Leg, Legs


class SlowOriginate:
    """An AMI whose Originate answers after `originate_s` (the agent's phone rings)."""

    def __init__(self, originate_s: float) -> None:
        self.originate_s = originate_s
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.began = time.monotonic()

    async def send_action(self, action: dict[str, Any], timeout: float = 10.0) -> Any:
        self.sent.append((time.monotonic() - self.began, action))
        if action["Action"] == "Originate":
            await asyncio.sleep(self.originate_s)
        return {"Response": "Success"}


async def test_a_ringing_originate_does_not_hold_back_the_next_callers_ring() -> None:
    ami = SlowOriginate(originate_s=2.0)
    legs = Legs()
    legs.callers["in1"] = Leg("PJSIP/trunk-1", "u1")
    runner = CommandRunner(ami, legs, lambda call, cause: None)  # type: ignore[arg-type]
    task = asyncio.create_task(runner.run())
    try:
        runner.put(PlaceCallback("o1", "a1", "PJSIP/a1", "+359888000001", 15))
        runner.put(ConnectToAgent("in1", "a2", "PJSIP/a2", 15))
        deadline = time.monotonic() + 1.0
        while not any(a.get("Action") == "Redirect" for _, a in ami.sent):
            assert time.monotonic() < deadline, f"the ring waited for the Originate: {ami.sent}"
            await asyncio.sleep(0.01)
        originate = next(a for _, a in ami.sent if a["Action"] == "Originate")
        assert originate["Timeout"] == "15000"  # her phone rings as long as the ACD expects
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_offer_withdrawn_from_an_agents_own_call_hangs_up_her_leg() -> None:
    ami = SlowOriginate(originate_s=0.0)
    legs = Legs()
    legs.placed["o1"] = Leg("PJSIP/a1-00000007", "u7")
    runner = CommandRunner(ami, legs, lambda call, cause: None)  # type: ignore[arg-type]
    task = asyncio.create_task(runner.run())
    try:
        runner.put(CancelOffer("o1", "a1"))
        deadline = time.monotonic() + 1.0
        while not ami.sent:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert ami.sent[0][1] == {"Action": "Hangup", "Channel": "PJSIP/a1-00000007"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
