"""REST for telling citizens the result of their request (issue 21, docs/outbound.md):
the tasks a resolved case opens, an agent's call for one (inbound first, within the
centre's calling hours), and what came of it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cti.api.audit import audit
from cti.api.context import ApiError, Context, body, need, path_id
from cti.api.previews import Previews
from cti.queues.errors import AcdError
from cti.store import cases, notifications
from cti.store.errors import StoreError
from cti.store.phone import normalise, try_normalise


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    due: bool = False  # pending and due now
    limit: Annotated[int, Field(ge=1, le=500)] = 50


class CallFor(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: Annotated[str, Field(min_length=1, max_length=64)]


class ScheduleCallback(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: Annotated[str, Field(min_length=1, max_length=32)]
    at: AwareDatetime
    agent: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # default: hers
    grace_s: Annotated[float, Field(ge=0, le=86_400)] = 900.0  # hers alone until at + this
    note: Annotated[str, Field(max_length=2000)] = ""
    queue: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # default: hers


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["informed", "no_answer", "busy", "wrong_number", "refused"]


def _json(task: dict[str, Any]) -> Any:
    return json.loads(json.dumps(task, default=str))


def outside_calling_hours(ctx: Context, now: dt.datetime | None = None) -> str | None:
    """Why citizens may not be called now (None: they may): the IVR calendar
    `outbound.calendar`, else the definition's default, in the IVR's time zone (its
    summer time included) with its holidays; no IVR, no calendar to keep."""
    ivr = ctx.core.ivr
    if ivr is None:
        return None
    definition = ivr.ivr.definitions.current
    wanted = ctx.core.settings.outbound.calendar
    calendar = wanted if wanted in definition.calendars else None
    if definition.is_open(now or dt.datetime.now(dt.UTC), calendar):
        return None
    return f"outside the calling hours (calendar {calendar or 'default'}, {definition.timezone})"


def routes(ctx: Context, previews: Previews) -> list[web.RouteDef]:
    settings = ctx.core.settings.outbound
    rules = notifications.RetryRules(settings.max_attempts, settings.retry_after_s)

    def may_call_now() -> None:
        """Citizens are called within the calling hours; refused with the reason. (The
        ACD keeps the rest of the policy: inbound first, the lines lent to tasks.)"""
        closed = outside_calling_hours(ctx)
        if closed is not None:
            raise ApiError(409, "outside_calling_hours", closed)

    async def listed(request: web.Request) -> web.Response:
        need(request, "agent", "supervisor", "admin")
        query = TaskQuery.model_validate(dict(request.query))
        async with ctx.db() as conn:
            items = await notifications.listed(conn, query.status, query.due, query.limit)
        return web.json_response({"items": [_json(t) for t in items]})

    async def call(request: web.Request) -> web.Response:
        principal = need(request, "agent", "supervisor", "admin")
        data: CallFor = await body(request, CallFor)
        if principal.role == "agent" and principal.agent_id != data.agent:
            raise ApiError(403, "forbidden", "an agent may place calls only from its own phone")
        nid = _id(request)
        acd = ctx.acd()
        if acd.acd.profile(data.agent) is None:
            raise ApiError(404, "unknown_agent", f"no agent {data.agent!r}")
        may_call_now()
        async with ctx.db() as conn:
            task = await notifications.start_attempt(conn, nid, data.agent)
            try:
                call_id = acd.call_out(data.agent, task["phone"], task=True)
            except AcdError:
                await notifications.attempt_not_placed(conn, nid)
                raise
            await notifications.call_placed(conn, nid, call_id)
            previews.ended(nid)
            await audit(conn, principal.username, "notification_call", task["phone"], call=call_id)
            task = await notifications.get(conn, nid)
        ctx.core.bus.publish("notification.calling", _json(task))
        return web.json_response(_json(task), status=201)

    async def outcome(request: web.Request) -> web.Response:
        principal = need(request, "agent", "supervisor", "admin")
        data: Outcome = await body(request, Outcome)
        nid = _id(request)
        agent = principal.agent_id if principal.role == "agent" else None
        async with ctx.db() as conn:
            task = await notifications.get(conn, nid)
            try:
                task = await cases.notification_outcome(
                    conn,
                    nid,
                    data.outcome,
                    principal.username,
                    rules,
                    agent,
                    agent is not None and _talking_with(agent, task["phone"]),
                )
            except StoreError as exc:
                if exc.code == "notification_not_yours":
                    raise ApiError(403, "forbidden", exc.message) from None
                raise
        ctx.core.bus.publish("notification.outcome", _json(task))
        return web.json_response(_json(task))

    async def skip(request: web.Request) -> web.Response:
        """The agent passes on the preview offered to her: it goes to someone else."""
        principal = need(request, "agent")
        nid = _id(request)
        async with ctx.db() as conn:
            await notifications.get(conn, nid)
        previews.skip(nid, principal.agent_id or "")
        return web.json_response({"id": nid, "skipped": True})

    async def schedule(request: web.Request) -> web.Response:
        """An agent promises a citizen a callback at a time (or a supervisor for her)."""
        principal = need(request, "agent", "supervisor", "admin")
        data: ScheduleCallback = await body(request, ScheduleCallback)
        agent = data.agent or principal.agent_id
        if principal.role == "agent" and agent != principal.agent_id:
            raise ApiError(403, "forbidden", "an agent schedules callbacks for herself")
        queue = data.queue
        acd = ctx.core.acd
        if agent is not None and acd is not None:
            profile = acd.acd.profile(agent)
            if profile is None:
                raise ApiError(404, "unknown_agent", f"no agent {agent!r}")
            queue = queue or (profile.queues[0] if profile.queues else None)
        if queue is not None and acd is not None and queue not in acd.acd.config.queues:
            raise ApiError(422, "unknown_queue", f"no queue {queue!r}")
        now = dt.datetime.now(dt.UTC)
        if not now - dt.timedelta(minutes=5) <= data.at <= now + dt.timedelta(days=60):
            raise ApiError(422, "bad_time", "a callback is due from now to 60 days ahead")
        async with ctx.db() as conn:
            task, merged = await notifications.schedule_callback(
                conn,
                normalise(data.number),
                max(data.at, now),
                agent,
                data.grace_s,
                data.note,
                queue,
                principal.username,
            )
            await audit(conn, principal.username, "callback_scheduled", task["phone"])
        ctx.core.bus.publish("notification.scheduled", _json(task))
        return web.json_response({**_json(task), "merged": merged}, status=200 if merged else 201)

    def _talking_with(agent: str, phone: str) -> bool:
        """The agent is on a call with this citizen now (their call, or hers to them)."""
        acd = ctx.core.acd
        view = acd.acd.agent_view(agent) if acd is not None else None
        if view is None or view.call is None or str(view.state) != "on_call":
            return False
        call = acd.acd.call_view(view.call) if acd is not None else None
        if call is not None and call.callback_number == phone:
            return True
        interaction = ctx.core.tracker.interactions.get(view.call)
        return interaction is not None and try_normalise(interaction.caller_num) == phone

    def _id(request: web.Request) -> int:
        return path_id(request, "notification_id", "notification_not_found", "notification")

    return [
        web.get("/api/v1/notifications", listed),
        web.post("/api/v1/callbacks", schedule),
        web.post("/api/v1/notifications/{notification_id}/call", call),
        web.post("/api/v1/notifications/{notification_id}/outcome", outcome),
        web.post("/api/v1/notifications/{notification_id}/skip", skip),
    ]
