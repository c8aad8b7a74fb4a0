"""Asterisk's own queue (app_queue, the fallback route) as the call tracker sees it:
QueueCaller* and Agent* events folded into interactions and domain events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cti.ami import events as ev
from cti.ami import models as m
from cti.ami.state import Channel, Interaction


class Emit(Protocol):
    """Publishes one domain event about an interaction (the tracker numbers them)."""

    def __call__(
        self, cls: type[ev.CallEvent], now: float, interaction_id: str, **kw: Any
    ) -> None: ...


def linkedid(e: m.AgentCalled | m.AgentRingNoAnswer | m.AgentConnect | m.AgentComplete) -> str:
    """The interaction of an Agent* event. After the caller's channel is gone, Asterisk
    sends only the agent's `Dest*` fields (AgentComplete after the caller's Hangup): the
    agent leg shares the caller's Linkedid."""
    return e.linkedid or e.dest.linkedid


class AppQueueEvents:
    """The tracker's handlers for app_queue's events."""

    def __init__(
        self,
        interactions: Mapping[str, Interaction],
        channel: Callable[[m.ChannelInfo, float], Channel | None],
        emit: Emit,
    ) -> None:
        self._interactions = interactions
        self._channel = channel  # the channel an event is about (adopted if new)
        self._emit = emit

    def handlers(self) -> dict[type[m.AmiEvent], Callable[[Any, float], None]]:
        return {
            m.QueueCallerJoin: self._on_queue_join,
            m.QueueCallerLeave: self._on_queue_leave,
            m.QueueCallerAbandon: self._on_queue_abandon,
            m.AgentCalled: self._on_agent_called,
            m.AgentRingNoAnswer: self._on_agent_rna,
            m.AgentConnect: self._on_agent_connect,
            m.AgentComplete: self._on_agent_complete,
        }

    def _on_queue_join(self, e: m.QueueCallerJoin, now: float) -> None:
        chan = self._channel(e, now)
        if chan is None:
            return
        inter = self._interactions.get(chan.linkedid)
        if inter is not None:
            inter.queue = e.queue
        self._emit(
            ev.QueueJoined,
            now,
            chan.linkedid,
            uniqueid=chan.uniqueid,
            queue=e.queue,
            position=e.position,
        )

    def _on_queue_leave(self, e: m.QueueCallerLeave, now: float) -> None:
        self._emit(ev.QueueLeft, now, e.linkedid, uniqueid=e.uniqueid, queue=e.queue)

    def _on_queue_abandon(self, e: m.QueueCallerAbandon, now: float) -> None:
        inter = self._interactions.get(e.linkedid)
        if inter is not None:
            inter.abandoned, inter.waited_s = True, e.hold_time
        self._emit(
            ev.QueueAbandoned,
            now,
            e.linkedid,
            uniqueid=e.uniqueid,
            queue=e.queue,
            waited_s=e.hold_time,
            position=e.original_position,
        )

    def _on_agent_called(self, e: m.AgentCalled, now: float) -> None:
        self._emit(
            ev.AgentRinging,
            now,
            linkedid(e),
            queue=e.queue,
            member=e.member_name,
            interface=e.interface,
            agent_channel=e.dest.channel,
            agent_uniqueid=e.dest.uniqueid,
        )

    def _on_agent_rna(self, e: m.AgentRingNoAnswer, now: float) -> None:
        self._emit(
            ev.AgentNoAnswer,
            now,
            linkedid(e),
            queue=e.queue,
            member=e.member_name,
            ring_s=e.ring_time_ms / 1000.0,
            agent_uniqueid=e.dest.uniqueid,
        )

    def _on_agent_connect(self, e: m.AgentConnect, now: float) -> None:
        inter = self._interactions.get(linkedid(e))
        if inter is not None:
            inter.agent, inter.waited_s = e.member_name, e.hold_time
        self._emit(
            ev.AgentAnswered,
            now,
            linkedid(e),
            queue=e.queue,
            member=e.member_name,
            agent_channel=e.dest.channel,
            agent_uniqueid=e.dest.uniqueid,
            waited_s=e.hold_time,
            ring_s=e.ring_time,
        )

    def _on_agent_complete(self, e: m.AgentComplete, now: float) -> None:
        inter = self._interactions.get(linkedid(e))
        if inter is not None:
            inter.talk_s = e.talk_time
        self._emit(
            ev.AgentCompleted,
            now,
            linkedid(e),
            queue=e.queue,
            member=e.member_name,
            agent_uniqueid=e.dest.uniqueid,
            talk_s=e.talk_time,
            waited_s=e.hold_time,
            hung_up_by=e.reason,
        )
