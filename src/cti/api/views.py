"""Read-only views of the core as the API shows them: queue figures with their targets
(our ACD's queues and Asterisk's own), an agent with its profile, a websocket event
frame."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cti.api.models import AgentView, PendingState, QueueLive
from cti.api.ports import CoreView
from cti.bus import BusEvent
from cti.queues.service import AcdService
from cti.queues.views import QueueView

ASTERISK_SL_TARGET = 0.8  # the share to answer within the threshold, for app_queue's queues


def event_frame(event: BusEvent) -> dict[str, Any]:
    return {
        "type": "event",
        "seq": event.seq,
        "at": event.at,
        "event": event.type,
        "data": event.data,
    }


@dataclass(frozen=True, slots=True)
class LiveQueue:
    view: QueueView
    service_level_s: float
    service_level_target: float
    source: str  # "cti": our ACD routes it; "asterisk": app_queue does (the fallback)


def live_queues(core: CoreView) -> list[LiveQueue]:
    """Every queue people wait in now, ours and Asterisk's own, with the same figures:
    the one list the wallboard, `/queues` and `/metrics` read."""
    out = []
    acd = core.acd
    if acd is not None:
        now = acd.now()
        for name, config in acd.acd.config.queues.items():
            view = acd.acd.queue_view(name, now)
            sl_s, target = config.service_level_s, config.service_level_target
            out.append(LiveQueue(view, sl_s, target, "cti"))
    theirs = core.asterisk_queues
    wall = time.time()
    for name in sorted(theirs.queues):
        view = theirs.view(name, wall)
        out.append(LiveQueue(view, theirs.service_level_s, ASTERISK_SL_TARGET, "asterisk"))
    return out


def queue_items(core: CoreView) -> list[dict[str, Any]]:
    """Every queue's live figures next to its service-level target."""
    items = []
    for q in live_queues(core):
        extra = {
            "service_level_s": q.service_level_s,
            "service_level_target": q.service_level_target,
            "source": q.source,
        }
        fields = {f: getattr(q.view, f, None) for f in QueueLive.model_fields} | extra
        items.append(QueueLive.model_validate(fields).model_dump())
    return items


def agent_view(acd: AcdService, agent_id: str) -> AgentView | None:
    view, profile = acd.acd.agent_view(agent_id), acd.acd.profile(agent_id)
    if view is None or profile is None:
        return None
    return AgentView(
        id=view.id,
        name=profile.name or view.id,
        state=str(view.state),
        reason=view.reason,
        since=view.since,
        in_state_s=round((acd.now() - view.since) * acd.time_scale, 1),
        call=view.call,
        skills=dict(profile.skills),
        queues=list(profile.queues),
        reachable=view.reachable,
        pending=None
        if view.pending is None
        else PendingState(state=view.pending, reason=view.pending_reason),
    )


def asterisk_members(core: CoreView) -> list[dict[str, Any]]:
    """The members of Asterisk's own queues as app_queue reports them (device state,
    paused with its reason, in a call): who can answer while the fallback routes."""
    return [
        {
            "queue": m.queue,
            "name": m.name,
            "interface": m.interface,
            "device": m.device,
            "paused": m.paused,
            "paused_reason": m.paused_reason,
            "in_call": m.in_call,
            "calls_taken": m.calls_taken,
        }
        for q in core.asterisk_queues.queues.values()
        for m in q.members.values()
    ]
