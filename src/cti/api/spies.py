"""Supervisors listening, whispering and barging (ChanSpy from their own phone): who is
on whose call, so that every wallboard marks the agent's tile, and a stop that hangs
the supervisor's leg up. A spy ends with the agent's call (Asterisk's ChanSpy `E`
option does that on a real PBX; the CTI hangs the leg up as well) or when the
supervisor's phone hangs up; every start and end is published as `supervisor.spy`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass

import structlog

from cti.ami.errors import AmiError
from cti.api import control
from cti.api.auth import Principal
from cti.api.context import ApiError
from cti.api.models import WsSpy
from cti.api.ports import CoreView
from cti.bus import BusEvent
from cti.queues.service import AcdService

log = structlog.get_logger(__name__)
EVENT = "supervisor.spy"
HANGUP_TIMEOUT_S = 5.0


@dataclass(slots=True)
class Spy:
    agent: str
    mode: str  # listen | whisper | barge
    endpoint: str  # the supervisor's phone, e.g. PJSIP/supervisor
    by: str
    started: float  # epoch seconds
    interaction: str | None = None  # the spy call's own interaction, once it is up


def _watched(event: BusEvent) -> bool:
    return event.type == "acd.AgentStateChanged" or event.type.startswith("call.")


class Spies:
    """The spy sessions going on now, one per agent at most."""

    def __init__(self, core: CoreView) -> None:
        self.core = core
        self.active: dict[str, Spy] = {}
        self._watch: asyncio.Task[None] | None = None

    def items(self) -> list[dict[str, object]]:
        return [asdict(s) for s in self.active.values()]

    def legs(self, spy: Spy) -> list[str]:
        """The channels of the supervisor's spy call (ours: CTI_SPY on its interaction)."""
        tracker = self.core.tracker
        prefix = spy.endpoint + "-"
        out = []
        for chan in tracker.channels.values():
            inter = tracker.interactions.get(chan.linkedid)
            if chan.name.startswith(prefix) and inter is not None and inter.cti_vars.get("CTI_SPY"):
                spy.interaction = inter.id
                out.append(chan.name)
        return out

    async def start(self, acd: AcdService, who: Principal, msg: WsSpy) -> None:
        """Ring the supervisor's phone into the agent's call; a spy already on that call
        (another mode, another supervisor) is stopped first."""
        if msg.agent in self.active:
            await self.stop(msg.agent, "replaced")
        busy = [s.agent for s in self.active.values() if s.endpoint == msg.endpoint]
        if busy:
            raise ApiError(409, "phone_busy", f"{msg.endpoint} is already on {busy[0]}'s call")
        await control.spy(self.core, acd, who, msg)
        spy = Spy(msg.agent, msg.type, msg.endpoint, who.username, time.time())
        self.legs(spy)  # the phone may have answered already (the Originate waits for it)
        self.active[msg.agent] = spy
        self._publish(spy, True, "started")
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._follow(), name="spies")

    async def stop(self, agent: str, why: str = "stopped") -> None:
        """Hang the supervisor's leg up and take the mark off the agent's tile."""
        spy = self.active.pop(agent, None)
        if spy is None:
            raise ApiError(409, "not_spying", f"nobody is listening to {agent}")
        for name in self.legs(spy):
            try:
                await self.core.ami.send_action(
                    {"Action": "Hangup", "Channel": name}, timeout=HANGUP_TIMEOUT_S
                )
            except AmiError as exc:  # gone meanwhile: what we wanted
                log.info("api.spy_leg_gone", channel=name, error=str(exc))
        self._publish(spy, False, why)
        log.info("api.spy_stopped", agent=agent, mode=spy.mode, why=why)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    def _publish(self, spy: Spy, active: bool, why: str) -> None:
        self.core.bus.publish(EVENT, {**asdict(spy), "active": active, "why": why})

    async def _follow(self) -> None:
        """End spies whose agent's call ended or whose leg hung up, until none is left."""
        bus = self.core.bus
        sub = bus.subscribe(_watched)
        try:
            while self.active and (event := await sub.get()) is not None:
                for spy in list(self.active.values()):
                    why = self._ended(spy, event)
                    if why is not None and spy.agent in self.active:
                        await self.stop(spy.agent, why)
        finally:
            bus.unsubscribe(sub)

    def _ended(self, spy: Spy, event: BusEvent) -> str | None:
        data = event.data
        if event.type == "acd.AgentStateChanged":
            if data.get("agent") == spy.agent and data.get("new") != "on_call":
                return "call_ended"
            return None
        if event.type == "call.InteractionEnded":
            ended = data.get("interaction_id")
            if ended is not None and ended == spy.interaction:
                return "phone_hung_up"
        elif spy.interaction is None:
            self.legs(spy)  # learns the spy call's interaction as soon as it is up
        return None
