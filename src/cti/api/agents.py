"""REST for agents' profiles and queues' configuration.

Changes made here apply at once and are stored (`agent_profiles`): at start the CTI
applies them over the ACD file, so they survive a restart.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.queues.errors import AcdError
from cti.queues.models import AgentProfile
from cti.store import agents as stored

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from cti.api.app import ApiServer
    from cti.queues.service import AcdService


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
                "in_state_s": round(in_state * acd.time_scale, 1),
                # What the desktop offers: not-ready reasons, queues to transfer to.
                "not_ready_reasons": list(acd.acd.config.not_ready_reasons),
                "all_queues": list(acd.acd.config.queues),
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
        principal = api._need(request, "admin")
        agent_id = request.match_info["agent_id"]
        data: AgentProfileIn = await api._body(request, AgentProfileIn)
        acd = api._acd()
        new = AgentProfile(
            id=agent_id, endpoint=data.endpoint, skills=data.skills, queues=tuple(data.queues)
        )
        created = acd.acd.profile(agent_id) is None
        # Stored and applied together: a change the ACD refuses is not kept either.
        async with api._db() as conn, conn.transaction():
            await stored.save_agent(conn, new, principal.username)
            acd.apply(acd.acd.upsert_agent(new, acd.now()))
        return web.json_response(
            status=201 if created else 200,
            data={
                "id": agent_id,
                "endpoint": new.endpoint,
                "skills": dict(new.skills),
                "queues": list(new.queues),
            },
        )

    async def remove(request: web.Request) -> web.Response:
        principal = api._need(request, "admin")
        agent_id = request.match_info["agent_id"]
        acd = api._acd()
        profile(agent_id)
        async with api._db() as conn, conn.transaction():
            await stored.remove_agent(conn, agent_id, principal.username)
            acd.apply(acd.acd.remove_agent(agent_id, acd.now()))
        return web.json_response({"deleted": agent_id})

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
            web.delete("/api/v1/agents/{agent_id}", remove),
            web.get("/api/v1/queues/{queue}", queue),
        ]
    )


async def apply_saved_agents(conn: Any, acd: AcdService) -> int:
    """At start: the agents changed over the API, applied over the ACD file."""
    changed, removed = await stored.saved_agents(conn)
    for p in changed:
        try:
            acd.apply(acd.acd.upsert_agent(p, acd.now()))
        except AcdError as exc:  # e.g. a queue since taken out of the ACD file
            log.warning("api.saved_agent_not_applied", agent=p.id, code=exc.code)
    for agent_id in removed:
        if acd.acd.profile(agent_id) is not None:
            acd.apply(acd.acd.remove_agent(agent_id, acd.now()))
    return len(changed) + len(removed)
