"""REST for agents' profiles and queues' configuration.

Changes made here apply at once but live in memory: the ACD file stays the source of
truth at start (write the change there too, or it is gone after a restart).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.queues.models import AgentProfile

if TYPE_CHECKING:
    from cti.api.app import ApiServer


SkillName = Annotated[str, Field(min_length=1, max_length=64)]
Level = Annotated[int, Field(ge=1, le=10)]


class AgentProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: Annotated[str, Field(pattern=r"^[A-Za-z]+/[A-Za-z0-9_.@-]{1,80}$")]
    skills: dict[
        Annotated[str, Field(min_length=1, max_length=64)], Annotated[int, Field(ge=1, le=10)]
    ]
    queues: Annotated[list[str], Field(min_length=1, max_length=50)]


def add_agent_routes(api: ApiServer) -> None:
    from cti.api.app import PRINCIPAL, ApiError

    def profile(agent_id: str) -> AgentProfile:
        found: AgentProfile | None = api._acd().acd.profile(agent_id)
        if found is None:
            raise ApiError(404, "unknown_agent", f"no agent {agent_id!r}")
        return found

    async def read(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        api._need(request, "agent", "supervisor", "admin")
        agent_id = request.match_info["agent_id"]
        if principal.role == "agent" and principal.agent_id != agent_id:
            raise ApiError(403, "forbidden", "an agent sees only its own profile")
        acd = api._acd()
        p = profile(agent_id)
        view = next(a for a in acd.acd.agents() if a.id == agent_id)
        stats = acd.acd.agent_stats(agent_id)
        in_state = acd.now() - view.since
        return web.json_response(
            {
                "id": p.id,
                "endpoint": p.endpoint,
                "skills": dict(p.skills),
                "queues": list(p.queues),
                "state": str(view.state),
                "reason": view.reason,
                "call": view.call,
                "stats": {
                    "seconds": {str(k): round(v, 1) for k, v in stats.seconds.items()},
                    "offered": stats.offered,
                    "answered": stats.answered,
                    "missed": stats.missed,
                    "occupancy": stats.occupancy(view.state, in_state),
                },
            }
        )

    async def write(request: web.Request) -> web.Response:
        api._need(request, "admin")
        agent_id = request.match_info["agent_id"]
        data: AgentProfileIn = await api._body(request, AgentProfileIn)
        acd = api._acd()
        new = AgentProfile(
            id=agent_id, endpoint=data.endpoint, skills=data.skills, queues=tuple(data.queues)
        )
        acd.apply(acd.acd.upsert_agent(new, acd.now()))
        return web.json_response(
            {
                "id": agent_id,
                "endpoint": new.endpoint,
                "skills": dict(new.skills),
                "queues": list(new.queues),
            }
        )

    async def queue(request: web.Request) -> web.Response:
        api._need(request, "supervisor", "admin", "integrator")
        acd = api._acd()
        name = request.match_info["queue"]
        config = acd.acd.config.queues.get(name)
        if config is None:
            raise ApiError(404, "unknown_queue", f"no queue {name!r}")
        live = next(q for q in api._queue_items(acd) if q["name"] == name)
        return web.json_response(
            {"name": name, "config": json.loads(config.model_dump_json()), "live": live}
        )

    api.app.add_routes(
        [
            web.get("/api/v1/agents/{agent_id}", read),
            web.put("/api/v1/agents/{agent_id}", write),
            web.get("/api/v1/queues/{queue}", queue),
        ]
    )
