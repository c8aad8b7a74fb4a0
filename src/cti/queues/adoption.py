"""After every AMI (re)connect the ACD agrees with Asterisk again, from the call tracker's
fresh view (CoreShowChannels + Status of the `CTI_*` variables the dialplan leaves):

- a call the ACD has but Asterisk no longer has ended while we could not see it
  (Asterisk restarted or crashed, or its Hangup was lost): it ends in the ACD too, so
  no agent stays `on_call` or `reserved` for a call that is gone;
- a call Asterisk has in our contexts that the ACD does not know (the CTI restarted) is
  adopted: waiting in `[cti-hold]` at its place in line (`CTI_QUEUED_AT`, set once by the
  dialplan, keeps its wait), ringing the agent whose phone rings in `[cti-connect]`, or
  talking to the agent whose phone is up; an agent's leg the ACD placed (`CTI_CALL_ID`:
  her own call, a callback) is adopted as her call, ringing or talking.

A call accepted for a callback has no live channel and is kept until it is placed; a
callback or an agent's own call (click-to-call) in conversation ends when Asterisk no
longer has its agent's leg.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from cti.ami.state import Channel, Interaction
from cti.ami.tracker import UP, CallTracker
from cti.queues.dialplan import AGENT_HELD, CONNECT, HELD, HOLD
from cti.queues.engine import Acd
from cti.queues.errors import AcdError
from cti.queues.events import Decisions
from cti.queues.legs import Leg, Legs

log = structlog.get_logger(__name__)
OURS = (HOLD, CONNECT, HELD, AGENT_HELD)


def resync(
    acd: Acd,
    legs: Legs,
    tracker: CallTracker,
    now: float,
    wall_now: float,
    apply: Callable[[Decisions], Decisions],
    time_scale: float = 1.0,
) -> tuple[int, int]:
    """End what Asterisk no longer has, adopt what it has; (ended, adopted).
    `time_scale`: wall seconds per ACD second (a sped-up simulation)."""
    ended = adopted = 0
    for view in acd.calls():
        if view.id in tracker.interactions:
            continue  # still there
        if view.callback_number is not None and (
            view.state != "connected" or _legs_alive(legs, tracker, view.id)
        ):
            # A callback waiting or being placed (the ring guard ends one that never
            # connects), whose citizen's first line may be gone; a callback or an
            # agent's own call in conversation while its agent's leg is still up.
            continue
        try:
            if view.state == "connected":
                apply(acd.call_ended(view.id, now))
            else:
                apply(acd.caller_hung_up(view.id, now))
        except AcdError as exc:
            log.warning("acd.resync_end_refused", call=view.id, code=exc.code)
            continue
        _forget(legs, view.id)
        ended += 1
    _prune(legs, tracker)
    known = {v.id for v in acd.calls()}
    for it in list(tracker.interactions.values()):
        placed = it.cti_vars.get("CTI_CALL_ID")
        if placed:  # an agent's leg the ACD placed: her own call, or a callback
            if placed not in known and _adopt_call_out(acd, legs, tracker, it, placed, now, apply):
                adopted += 1
            continue
        if it.id in known or it.cti_vars.get("CTI_WAITING") != "1":
            continue
        if _adopt(acd, legs, tracker, it, now, wall_now, apply, time_scale):
            adopted += 1
    if ended or adopted:
        log.info("acd.resynced", ended=ended, adopted=adopted)
    return ended, adopted


def _legs_alive(legs: Legs, tracker: CallTracker, call: str) -> bool:
    """Asterisk still has a leg of this call (an agent's leg placed for it)."""
    return any(c == call and u in tracker.channels for u, c in legs.call_of.items())


def _adopt(
    acd: Acd,
    legs: Legs,
    tracker: CallTracker,
    it: Interaction,
    now: float,
    wall_now: float,
    apply: Callable[[Decisions], Decisions],
    time_scale: float,
) -> bool:
    channels = [tracker.channels[u] for u in it.channels if u in tracker.channels]
    caller = tracker.channels.get(it.id) or next((c for c in channels if c.context in OURS), None)
    queue = it.cti_vars.get("CTI_QUEUE", "")
    if caller is None or caller.context not in OURS or queue not in acd.config.queues:
        return False  # not (or no longer) ours: the fallback queue, voicemail, the IVR
    agent_leg, agent = _agent_leg(acd, channels, caller)
    talking = agent_leg is not None and agent_leg.state == UP and bool(caller.bridge_id)
    if caller.context in (HELD, AGENT_HELD):
        talking = agent_leg is not None
    if caller.context == HOLD:
        agent = None  # back in line (a ring that ended), whatever else is still up
    try:
        decisions = acd.adopt_call(
            it.id,
            queue,
            now,
            priority=_int(it.cti_vars.get("CTI_PRIORITY", "")),
            waited_s=_waited(it, caller, wall_now) / time_scale,
            agent_id=agent,
            talking=talking,
        )
    except AcdError as exc:
        log.warning("acd.adopt_refused", call=it.id, code=exc.code, message=exc.message)
        return False
    legs.callers[it.id] = Leg(caller.name, caller.uniqueid)
    legs.call_of[caller.uniqueid] = it.id
    if agent is not None and agent_leg is not None and talking:
        legs.add_agent_leg(it.id, Leg(agent_leg.name, agent_leg.uniqueid))
    apply(decisions)
    return True


def _adopt_call_out(
    acd: Acd,
    legs: Legs,
    tracker: CallTracker,
    it: Interaction,
    call: str,
    now: float,
    apply: Callable[[Decisions], Decisions],
) -> bool:
    """An agent's leg placed by the ACD (`CTI_CALL_ID`): her phone ringing or up, and
    talking once another leg (the citizen's) is up."""
    channels = [tracker.channels[u] for u in it.channels if u in tracker.channels]
    phones = {p.endpoint: p.id for p in acd.profiles()}
    mine = [c for c in channels if c.name.rsplit("-", 1)[0] in phones]
    if not mine:
        return False
    leg = mine[0]
    talking = leg.state == UP and any(c.state == UP for c in channels if c is not leg)
    number = it.cti_vars.get("CTI_CALLBACK_NUMBER", "")
    agent = phones[leg.name.rsplit("-", 1)[0]]
    try:
        decisions = acd.adopt_call_out(call, agent, number, now, talking)
    except AcdError as exc:
        log.warning("acd.adopt_refused", call=call, code=exc.code, message=exc.message)
        return False
    legs.call_of[leg.uniqueid] = call
    apply(decisions)
    return True


def _agent_leg(
    acd: Acd, channels: list[Channel], caller: Channel
) -> tuple[Channel | None, str | None]:
    """The channel of an agent's phone in this call, and that agent."""
    phones = {p.endpoint: p.id for p in acd.profiles()}
    for c in channels:
        if c is caller:
            continue
        endpoint = c.name.rsplit("-", 1)[0]
        if endpoint in phones:
            return c, phones[endpoint]
    return None, None


def _waited(it: Interaction, caller: Channel, wall_now: float) -> float:
    """Seconds since the call first joined the line (the dialplan's CTI_QUEUED_AT, an
    epoch), else since the caller's channel started (the most it can have waited)."""
    try:
        queued_at = float(it.cti_vars.get("CTI_QUEUED_AT", ""))
    except ValueError:
        queued_at = caller.started_at
    return max(0.0, wall_now - queued_at)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _prune(legs: Legs, tracker: CallTracker) -> None:
    """Channels that ended while the link was down (no Hangup reached us) leave what
    was kept of them: forget every uniqueid Asterisk no longer has."""
    live = {ch.uniqueid for ch in tracker.channels.values()}
    for uid in [u for u in legs.variables if u not in live]:
        del legs.variables[uid]
    for uid in [u for u in legs.call_of if u not in live]:
        del legs.call_of[uid]


def _forget(legs: Legs, call: str) -> None:
    leg = legs.callers.pop(call, None)
    if leg is not None:
        legs.call_of.pop(leg.uniqueid, None)
        legs.variables.pop(leg.uniqueid, None)
    legs.pop_agent_leg(call)
    legs.calling_back.discard(call)
