"""Acting on agents and calls, shared by REST and the websockets: state changes,
transfer, answer, hang up, supervisor listen/whisper/barge, recording pause.
Every refusal is an `ApiError` with a stable code."""

from __future__ import annotations

import structlog

from cti.ami.errors import AmiError
from cti.api.auth import Principal
from cti.api.context import ApiError
from cti.api.models import TransferTarget, WsSpy
from cti.api.ports import CoreView
from cti.queues.service import AcdService
from cti.store.phone import normalise

log = structlog.get_logger(__name__)


def change_state(acd: AcdService, agent_id: str, state: str, reason: str | None) -> None:
    now = acd.now()
    if state == "login":
        acd.run(lambda: acd.acd.login(agent_id, now))
    elif state == "ready":
        acd.run(lambda: acd.acd.set_ready(agent_id, now))
    elif state == "not_ready":
        if not reason:
            raise ApiError(422, "reason_required", "not_ready needs a reason")
        acd.run(lambda: acd.acd.set_not_ready(agent_id, reason, now))
    else:
        acd.run(lambda: acd.acd.logout(agent_id, now))


def current_call(acd: AcdService, agent_id: str) -> str:
    """The call the agent is talking on (409 `no_call` otherwise)."""
    view = acd.acd.agent_view(agent_id)
    if view is None or view.call is None or str(view.state) != "on_call":
        raise ApiError(409, "no_call", "the agent is not on a call")
    return str(view.call)


async def transfer(acd: AcdService, call: str, target: TransferTarget) -> None:
    """Hand an answered call to a queue, an agent or an outside number."""
    try:
        if target.queue is not None:
            await acd.transfer_to_queue(call, target.queue)
        elif target.agent is not None:
            await acd.transfer_to_agent(call, target.agent)
        else:
            assert target.number is not None
            await acd.transfer_to_number(call, normalise(target.number))
    except AmiError as exc:
        raise ApiError(409, "pbx_refused", str(exc)) from None


async def answer(core: CoreView, acd: AcdService, agent_id: str) -> None:
    """PJSIPNotify `Event: talk` to the agent's ringing phone."""
    view = acd.acd.agent_view(agent_id)
    profile = acd.acd.profile(agent_id)
    if view is None or profile is None or str(view.state) != "reserved":
        raise ApiError(409, "not_ringing", "no call is ringing for this agent")
    prefix = profile.endpoint + "-"
    ringing = [
        c.name for c in core.tracker.channels.values() if c.name.startswith(prefix) and c.state == 5
    ]
    if not ringing:
        raise ApiError(409, "not_ringing", "the phone is not ringing yet")
    try:
        await core.ami.send_action(
            {"Action": "PJSIPNotify", "Channel": ringing[0], "Variable": "Event=talk"}
        )
    except AmiError as exc:
        raise ApiError(409, "answer_failed", str(exc)) from None


async def hangup(core: CoreView, acd: AcdService, agent_id: str) -> None:
    view = acd.acd.agent_view(agent_id)
    call = view.call if view is not None else None
    channel = acd.caller_channel(call) if call else None
    if channel is None and call:  # an agent's own call: its leg ends the conversation
        placed = [core.tracker.channels.get(u) for u in acd.placed_legs(call)]
        channel = next((c.name for c in placed if c is not None), None)
    if channel is None:
        raise ApiError(409, "no_call", "there is no call to hang up")
    try:
        await core.ami.send_action({"Action": "Hangup", "Channel": channel})
    except AmiError as exc:
        raise ApiError(409, "hangup_failed", str(exc)) from None


async def spy(core: CoreView, acd: AcdService, who: Principal, msg: WsSpy) -> None:
    """Originate the supervisor's phone into ChanSpy on the agent's channel
    (q: no beep; E: end with the call; w: whisper; B: barge)."""
    view = acd.acd.agent_view(msg.agent)
    if view is None:
        raise ApiError(404, "unknown_agent", f"no agent {msg.agent!r}")
    if view.call is None or str(view.state) != "on_call":
        raise ApiError(409, "no_call", f"agent {msg.agent} is not on a call")
    profile = acd.acd.profile(msg.agent)
    assert profile is not None
    options = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}[msg.type]
    try:
        await core.ami.send_action(
            {
                "Action": "Originate",
                "Channel": msg.endpoint,
                "Application": "ChanSpy",
                "Data": f"{profile.endpoint}-,{options}",
                "CallerID": f"{msg.type} {msg.agent}",
                # Marks the supervisor's own call: not a citizen's interaction.
                "Variable": f"CTI_SPY={msg.type}",
                "Async": "true",
            },
            timeout=40,
        )
    except AmiError as exc:
        raise ApiError(409, "spy_failed", str(exc)) from None
    log.info("api.spy", by=who.username, agent=msg.agent, mode=msg.type)


def pause_recording(core: CoreView, acd: AcdService, agent_id: str, pause: bool) -> None:
    recorder = core.recording
    view = acd.acd.agent_view(agent_id)
    if recorder is None or view is None or view.call is None:
        raise ApiError(409, "no_recording", "there is no call being recorded")
    if not recorder.pause(view.call, pause):
        raise ApiError(409, "no_recording", "the recording is not running or already so")
