"""REST for agents: the list with live states, state changes, and profiles (endpoint,
skills, queues).

Changes made here apply at once and are stored (`agent_profiles`): at start the CTI
applies them over the ACD file, so they survive a restart.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from cti.api import control
from cti.api.context import PRINCIPAL, ApiError, Context, body, need
from cti.api.models import StateChange
from cti.api.views import agent_view
from cti.queues.models import AgentProfile
from cti.store import agents as stored

log = structlog.get_logger(__name__)


SkillName = Annotated[str, Field(min_length=1, max_length=64)]
Level = Annotated[int, Field(ge=1, le=10)]


class AgentProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: Annotated[str, Field(pattern=r"^[A-Za-z]+/[A-Za-z0-9_.@-]{1,80}$")]
    skills: dict[
        Annotated[str, Field(min_length=1, max_length=64)], Annotated[int, Field(ge=1, le=10)]
    ]
    queues: Annotated[list[str], Field(min_length=1, max_length=50)]
    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None


def routes(ctx: Context) -> list[web.RouteDef]:

    def profile(agent_id: str) -> AgentProfile:
        found: AgentProfile | None = ctx.acd().acd.profile(agent_id)
        if found is None:
            raise ApiError(404, "unknown_agent", f"no agent {agent_id!r}")
        return found

    async def read(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        need(request, "agent", "supervisor", "admin")
        agent_id = request.match_info["agent_id"]
        if principal.role == "agent" and principal.agent_id != agent_id:
            raise ApiError(403, "forbidden", "an agent sees only its own profile")
        acd = ctx.acd()
        p = profile(agent_id)
        view = next(a for a in acd.acd.agents() if a.id == agent_id)
        stats = acd.acd.agent_stats(agent_id)
        in_state = acd.now() - view.since
        left = None if view.wrap_until is None else max(0.0, view.wrap_until - acd.now())
        live = acd.acd.call_view(view.call) if view.call else None
        return web.json_response(
            {
                "id": p.id,
                "name": p.name or p.id,
                "endpoint": p.endpoint,
                "skills": dict(p.skills),
                "queues": list(p.queues),
                "state": str(view.state),
                "reason": view.reason,
                "call": view.call,
                "in_state_s": round(in_state * acd.time_scale, 1),
                # What the agent asked for during the call, applied when the wrap-up ends.
                "pending": view.pending and {"state": view.pending, "reason": view.pending_reason},
                "wrap_up_left_s": None if left is None else round(left * acd.time_scale, 1),
                "recording": ctx.core.recording is not None,
                "held": live is not None and live.held,
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
        principal = need(request, "admin")
        agent_id = request.match_info["agent_id"]
        data: AgentProfileIn = await body(request, AgentProfileIn)
        acd = ctx.acd()
        old = acd.acd.profile(agent_id)
        new = AgentProfile(
            id=agent_id,
            endpoint=data.endpoint,
            skills=data.skills,
            queues=tuple(data.queues),
            name=data.name or (old.name if old is not None else None),
        )
        created = old is None
        # Stored and applied together: a change the ACD refuses is not kept either.
        async with ctx.db() as conn, conn.transaction():
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
        principal = need(request, "admin")
        agent_id = request.match_info["agent_id"]
        acd = ctx.acd()
        profile(agent_id)
        async with ctx.db() as conn, conn.transaction():
            await stored.remove_agent(conn, agent_id, principal.username)
            acd.apply(acd.acd.remove_agent(agent_id, acd.now()))
        return web.json_response({"deleted": agent_id})

    async def listing(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin")
        acd = ctx.acd()
        items = [agent_view(acd, a.id) for a in acd.acd.agents()]
        return web.json_response({"items": [a.model_dump() for a in items if a is not None]})

    async def transfer_targets(request: web.Request) -> web.Response:
        """Where an agent may hand its call: the other agents who are ready now, with
        their skills, and the queues."""
        principal = need(request, "agent", "supervisor", "admin")
        acd = ctx.acd()
        ready = [
            {"id": a.id, "name": p.name, "skills": dict(p.skills), "queues": list(p.queues)}
            for a in acd.acd.agents()
            if str(a.state) == "ready"
            and a.reachable
            and a.id != principal.agent_id
            and (p := profile(a.id))
        ]
        return web.json_response({"agents": ready, "queues": list(acd.acd.config.queues)})

    async def state(request: web.Request) -> web.Response:
        principal = need(request, "agent", "supervisor", "admin")
        agent_id = request.match_info["agent_id"]
        if principal.role == "agent" and principal.agent_id != agent_id:
            raise ApiError(403, "forbidden", "an agent may change only its own state")
        data = await body(request, StateChange)
        control.change_state(ctx.acd(), agent_id, data.state, data.reason)
        return web.json_response({"agent": agent_id, "state": data.state})

    return [
        web.get("/api/v1/agents", listing),
        web.get("/api/v1/transfer-targets", transfer_targets),
        web.post("/api/v1/agents/{agent_id}/state", state),
        web.get("/api/v1/agents/{agent_id}", read),
        web.put("/api/v1/agents/{agent_id}", write),
        web.delete("/api/v1/agents/{agent_id}", remove),
    ]
