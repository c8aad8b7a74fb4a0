"""Read-only views of the ACD and the bus as the API shows them: queue figures with
their targets, an agent with its profile, an event frame for a websocket."""

from __future__ import annotations

from typing import Any

from cti.api.models import AgentView, QueueLive
from cti.bus import BusEvent
from cti.queues.service import AcdService


def event_frame(event: BusEvent) -> dict[str, Any]:
    return {
        "type": "event",
        "seq": event.seq,
        "at": event.at,
        "event": event.type,
        "data": event.data,
    }


def queue_items(acd: AcdService) -> list[dict[str, Any]]:
    """Every queue's live figures next to its service-level target."""
    now = acd.now()
    items = []
    for name, config in acd.acd.config.queues.items():
        view = acd.acd.queue_view(name, now)
        targets = {
            "service_level_s": config.service_level_s,
            "service_level_target": config.service_level_target,
        }
        fields = {f: getattr(view, f, None) for f in QueueLive.model_fields} | targets
        items.append(QueueLive.model_validate(fields).model_dump())
    return items


def agent_view(acd: AcdService, agent_id: str) -> AgentView | None:
    view, profile = acd.acd.agent_view(agent_id), acd.acd.profile(agent_id)
    if view is None or profile is None:
        return None
    return AgentView(
        id=view.id,
        state=str(view.state),
        reason=view.reason,
        since=view.since,
        in_state_s=round((acd.now() - view.since) * acd.time_scale, 1),
        call=view.call,
        skills=dict(profile.skills),
        queues=list(profile.queues),
        reachable=view.reachable,
    )
