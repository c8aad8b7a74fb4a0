"""REST for "why this agent": the explanation of every routing decision the ACD made for
a call (the candidates, their availability and reserves, the rule that chose), and for
a call still waiting, why nobody takes it yet. Supervisors and admins only: it names
agents and their idle times."""

from __future__ import annotations

from aiohttp import web

from cti.api.context import ApiError, Context, need


def routes(ctx: Context) -> list[web.RouteDef]:
    async def routing(request: web.Request) -> web.Response:
        need(request, "supervisor", "admin")
        acd = ctx.acd().acd
        call = request.match_info["call_id"]
        decisions = acd.routing_explanations(call)
        view = acd.call_view(call)
        if view is None and not decisions:
            raise ApiError(404, "unknown_call", f"no routing decision for call {call!r}")
        return web.json_response(
            {
                "call": call,
                "queue": view.queue if view else decisions[-1].get("queue"),
                "state": view.state if view else "ended",
                "agent": view.agent if view else None,
                "decisions": decisions,
                "waiting": acd.waiting_explanation(call),
            }
        )

    return [web.get("/api/v1/calls/{call_id}/routing", routing)]
