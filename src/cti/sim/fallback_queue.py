"""The deployment's fallback queue (`cti-fallback` in queues.conf: rrmemory, ring 15 s,
retry 2 s) as app_queue runs it, with the events transcripts 05 and 09 show."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cti.sim.channels import Switch
from cti.sim.models import Channel, Endpoint, Fields

FALLBACK_QUEUE = "cti-fallback"  # queues.conf: rrmemory, timeout 15, retry 2
FALLBACK_RING_S = 15.0
FALLBACK_RETRY_S = 2.0


def member_fields(endpoint: Endpoint) -> Fields:
    """How app_queue names a member (an agent's phone) in its Agent* events."""
    return [
        ("Queue", FALLBACK_QUEUE),
        ("Interface", f"PJSIP/{endpoint.name}"),
        ("MemberName", endpoint.name),
    ]


class FallbackQueue:
    """Callers wait in line on music on hold while free phones ring in turn; `hangup`
    puts a connected caller's phone down once their talk time is over."""

    def __init__(
        self,
        switch: Switch,
        endpoints: dict[str, Endpoint],
        hangup: Callable[[str, int], None],
    ) -> None:
        self._switch = switch
        self._endpoints = endpoints
        self._hangup = hangup
        self._line: list[Channel] = []
        self._next = -1

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return self._endpoints

    def forget(self) -> None:
        """Asterisk went away: nobody is in line any more (no events)."""
        self._line.clear()

    def __contains__(self, ch: Channel) -> bool:
        return ch in self._line

    def _queue_fields(self, position: int, count: int) -> Fields:
        return [("Queue", FALLBACK_QUEUE), ("Position", str(position)), ("Count", str(count))]

    def join(self, ch: Channel) -> None:
        sw = self._switch
        ch.queued_at = asyncio.get_running_loop().time()
        self._line.append(ch)
        n = len(self._line)
        sw.event("QueueCallerJoin", [*ch.fields(), *self._queue_fields(n, n)], "agent,all")
        sw.moh_start(ch)
        sw.later(ch, 0.0, lambda: self._ring(ch))

    def _leave(self, ch: Channel) -> None:
        position = self._line.index(ch) + 1
        self._line.remove(ch)
        count = len(self._line)
        self._switch.event(
            "QueueCallerLeave", [*ch.fields(), *self._queue_fields(position, count)], "agent,all"
        )

    def _ring(self, caller: Channel) -> None:
        """Ring the next member (round robin with memory); none free: try again later."""
        sw = self._switch
        names = [n for n, e in self._endpoints.items() if e.reachable and not e.busy]
        busy = {c.endpoint.name for c in sw.channels.values() if c.endpoint is not None}
        free = [n for n in names if n not in busy]
        if not free:
            sw.later(caller, FALLBACK_RETRY_S, lambda: self._ring(caller))
            return
        self._next = (self._next + 1) % len(free)
        endpoint = self._endpoints[free[self._next]]
        member = member_fields(endpoint)

        def called(agent: Channel) -> None:
            fields = [*caller.fields(), *agent.fields("Dest"), *member]
            sw.event("AgentCalled", fields, "agent,all")

        agent = sw.dial_phone(caller, endpoint, app="AppQueue", before=called)
        rang = asyncio.get_running_loop().time()
        if endpoint.answer_after_s is not None and endpoint.answer_after_s < FALLBACK_RING_S:
            sw.later(agent, endpoint.answer_after_s, lambda: self.answer(caller, agent, rang))
        else:

            def no_answer() -> None:
                sw.end_dial(caller, "NOANSWER", hang_up_callee=True, cause=19)
                ring_ms = str(round(FALLBACK_RING_S * 1000))
                sw.event(
                    "AgentRingNoAnswer",
                    [*caller.fields(), *agent.fields("Dest"), *member, ("RingTime", ring_ms)],
                    "agent,all",
                )
                sw.later(caller, FALLBACK_RETRY_S, lambda: self._ring(caller))

            sw.later(caller, FALLBACK_RING_S, no_answer)

    def answer(self, caller: Channel, agent: Channel, rang: float) -> None:
        """The ringing member answers (`rang`: loop time it started ringing)."""
        if caller.peer is not agent or caller.hung_up:
            return
        sw = self._switch
        now = asyncio.get_running_loop().time()
        sw.phone_answers(agent)
        caller.dial_status = agent.dial_status = "ANSWER"
        sw.event("DialEnd", [*caller.fields(), *agent.fields("Dest"), ("DialStatus", "ANSWER")])
        sw.moh_stop(caller)
        self._leave(caller)
        assert agent.endpoint is not None
        assert caller.queued_at is not None
        hold = (now - caller.queued_at) / sw.time_scale
        ring = (now - rang) / sw.time_scale
        sw.event(
            "AgentConnect",
            [
                *caller.fields(),
                *agent.fields("Dest"),
                *member_fields(agent.endpoint),
                ("HoldTime", str(round(hold))),
                ("RingTime", str(round(ring))),
            ],
            "agent,all",
        )
        caller.queue_member = (agent.endpoint.name, hold, now)
        sw.open_bridge(agent, caller)
        if caller.citizen is not None:
            name = caller.name
            sw.later(caller, caller.citizen.talk_s, lambda: self._hangup(name, 16))

    def abandon(self, ch: Channel, cause: int) -> None:
        """A caller gives up in the fallback queue (transcript 05's order)."""
        sw = self._switch
        if ch.peer is not None:
            sw.end_dial(ch, "CANCEL", hang_up_callee=True)
        sw.moh_stop(ch)
        position = self._line.index(ch) + 1
        assert ch.queued_at is not None
        held = (asyncio.get_running_loop().time() - ch.queued_at) / sw.time_scale
        sw.event(
            "QueueCallerAbandon",
            [
                *ch.fields(),
                ("Queue", FALLBACK_QUEUE),
                ("Position", str(position)),
                ("OriginalPosition", str(position)),
                ("HoldTime", str(round(held))),
            ],
            "agent,all",
        )
        self._leave(ch)
        sw.event("SoftHangupRequest", [*ch.fields(), ("Cause", str(cause))])
        sw.finish(ch, cause)

    def complete(self, first: Channel, second: Channel) -> None:
        """`first` hangs up a call answered through this queue: AgentComplete (nothing
        for a call that did not come through it)."""
        caller = first if first.queue_member is not None else second
        if caller.queue_member is None:
            return
        agent = second if caller is first else first
        name, hold, answered = caller.queue_member
        talk = (asyncio.get_running_loop().time() - answered) / self._switch.time_scale
        self._switch.event(
            "AgentComplete",
            [
                *caller.fields(),
                *agent.fields("Dest"),
                *member_fields(self._endpoints[name]),
                ("HoldTime", str(round(hold))),
                ("TalkTime", str(round(talk))),
                ("Reason", "caller" if first is caller else "agent"),
            ],
            "agent,all",
        )
        caller.queue_member = None
