"""Call records from what the CTI sees: the call tracker's events (channels, answer,
hold, hang-up, `CTI_*` variables) and the ACD's (queued, offered, answered, outcome).

One `interaction` record per interaction when it ends (with its legs), then
`interaction_update` records for what is only known later (the agent's wrap-up, the
answer of a callback placed after the citizen hung up), and one `agent_state` record
per agent state change. Pure: records go to `emit` (the outbox's `put`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cti.ami import events as ce
from cti.queues import events as qe
from cti.store.outbox import Record
from cti.store.phone import try_normalise

_REMEMBER_ENDED = 10_000  # ended interactions that may still get an update


@dataclass
class _Leg:
    id: str
    channel: str
    role: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    cause: int | None = None
    agent: str | None = None


@dataclass
class _Interaction:
    id: str
    arrived_at: float
    caller_number: str
    direction: str = "inbound"
    legs: dict[str, _Leg] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    queue: str | None = None
    topic: str | None = None
    agent: str | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    wait_s: float | None = None
    ring_s: float | None = None
    talk_s: float | None = None
    hold_s: float = 0.0
    held_since: float | None = None
    outcome: str | None = None
    offered_agents: list[str] = field(default_factory=list)
    first_gone: str | None = None  # role of the first leg that hung up


class CdrBuilder:
    def __init__(self, emit: Callable[[Record], None], clock: Callable[[], float] = time.time):
        self._emit = emit
        self._clock = clock
        self._live: dict[str, _Interaction] = {}
        # Ended interactions that may still get an update -> were they answered then?
        self._ended: OrderedDict[str, bool] = OrderedDict()
        self._last_call: dict[str, str] = {}  # agent -> interaction of its last answer

    # --- tracker events ----------------------------------------------------------------

    def on_call_event(self, e: ce.CallEvent) -> None:
        if isinstance(e, ce.InteractionStarted):
            number = try_normalise(e.caller_num) or e.caller_num
            new = _Interaction(e.interaction_id, e.at, number)
            new.legs[e.uniqueid] = _Leg(e.uniqueid, e.channel, "caller", e.at)
            self._live[e.interaction_id] = new
            return
        it = self._live.get(e.interaction_id)
        if it is None:
            return
        if isinstance(e, ce.ChannelJoined):
            it.legs.setdefault(e.uniqueid, _Leg(e.uniqueid, e.channel, "other", e.at))
        elif isinstance(e, ce.InteractionAnswered):
            leg = it.legs.get(e.uniqueid)
            if leg is not None and leg.answered_at is None:
                leg.answered_at = e.at
        elif isinstance(e, ce.InteractionHeld):
            it.held_since = it.held_since or e.at
        elif isinstance(e, ce.InteractionResumed):
            if it.held_since is not None:
                it.hold_s += e.at - it.held_since
                it.held_since = None
        elif isinstance(e, ce.CtiVariableSet):
            it.vars[e.name] = e.value
            if e.name == "CTI_CALL_ID" and e.value:
                it.direction = "outbound"  # an agent leg placed for a callback
            elif e.name == "CTI_TOPIC":
                it.topic = e.value or None
        elif isinstance(e, ce.ChannelEnded):
            leg = it.legs.get(e.uniqueid)
            if leg is not None:
                leg.ended_at, leg.cause = e.at, e.cause
                if it.first_gone is None:
                    it.first_gone = "caller" if leg.role == "caller" else "agent"
        elif isinstance(e, ce.InteractionEnded):
            self._finish(it, e)

    def _finish(self, it: _Interaction, e: ce.InteractionEnded) -> None:
        del self._live[it.id]
        self._ended[it.id] = it.answered_at is not None
        if len(self._ended) > _REMEMBER_ENDED:
            self._ended.popitem(last=False)
        if it.held_since is not None:
            it.hold_s += e.at - it.held_since
        outcome = it.outcome
        if outcome is None:
            if it.answered_at is not None:
                outcome = "answered"
            elif it.queued_at is not None or it.offered_at is not None:
                outcome = "abandoned"
            else:
                outcome = "answered" if it.direction == "outbound" else "ivr_only"
        talk = it.talk_s
        if talk is None and it.answered_at is not None:
            talk = max(0.0, e.at - it.answered_at)
        # Each offer dials one agent phone: the other legs, in order, are those phones.
        others = [leg for leg in it.legs.values() if leg.role == "other"]
        for leg, agent in zip(others, it.offered_agents, strict=False):
            leg.role, leg.agent = "agent", agent
        side = {"caller": "caller", "agent": "agent"}.get(it.first_gone or "", "system")
        ivr = [p for p in it.vars.get("CTI_IVR_PATH", "").split(",") if p]
        data: dict[str, Any] = {
            "direction": it.direction,
            "caller_number": it.caller_number,
            "called_number": it.vars.get("CTI_CALLED", ""),
            "ivr_path": ivr,
            "queue": it.queue or it.vars.get("CTI_QUEUE") or None,
            "topic": it.topic,
            "agent": it.agent,
            "arrived_at": it.arrived_at,
            "queued_at": it.queued_at,
            "offered_at": it.offered_at,
            "answered_at": it.answered_at,
            "ended_at": e.at,
            "wait_s": it.wait_s,
            "ring_s": it.ring_s,
            "talk_s": talk,
            "hold_s": round(it.hold_s, 3),
            "outcome": outcome,
            "hangup_side": side,
            "legs": [
                {
                    "id": leg.id,
                    "channel": leg.channel,
                    "role": leg.role,
                    "agent": leg.agent,
                    "started_at": leg.started_at,
                    "answered_at": leg.answered_at,
                    "ended_at": leg.ended_at or e.at,
                    "cause": leg.cause,
                }
                for leg in it.legs.values()
            ],
        }
        self._emit(Record("interaction", it.id, data))

    # --- ACD events --------------------------------------------------------------------

    def on_acd_event(self, e: qe.Event) -> None:
        now = self._clock()  # ACD times are on the ACD's clock; records use wall time
        if isinstance(e, qe.AgentStateChanged):
            self._emit(
                Record(
                    "agent_state",
                    f"{e.agent}:{now:.6f}:{e.new}",
                    {
                        "agent": e.agent,
                        "state": str(e.new),
                        "reason": e.reason,
                        "at": now,
                        "previous_s": e.previous_s,
                    },
                )
            )
            call = self._last_call.get(e.agent)
            if str(e.old) == "wrap_up" and call is not None:
                self._update(call, {"wrap_up_s": round(e.previous_s, 3)})
            return
        it = self._live.get(e.call)
        if isinstance(e, qe.CallQueued) and it is not None:
            it.queue, it.queued_at = e.queue, it.queued_at or now
        elif isinstance(e, qe.CallOffered):
            if it is not None:
                it.queue, it.offered_at = e.queue, now
                it.offered_agents.append(e.agent)
        elif isinstance(e, qe.CallAnswered):
            self._last_call[e.agent] = e.call
            if it is not None:
                it.agent, it.answered_at, it.wait_s = e.agent, now, round(e.wait_s, 3)
                it.queue = e.queue
                if it.offered_at is not None:
                    it.ring_s = round(now - it.offered_at, 3)
                it.outcome = "answered"
            elif self._ended.get(e.call) is False:
                # A callback answered after the citizen's first call ended.
                fields = {"agent": e.agent, "answered_at": now, "wait_s": round(e.wait_s, 3)}
                self._update(e.call, fields)
                done = {"interaction_id": e.call, "number": "", "due_at": now, "status": "done"}
                self._emit(Record("callback", e.call, done))
        elif isinstance(e, qe.CallCompleted):
            if it is not None:
                it.talk_s = round(e.talk_s, 3)
            elif self._ended.get(e.call) is False:  # the callback's conversation
                self._update(e.call, {"talk_s": round(e.talk_s, 3)})
        elif isinstance(e, qe.CallOverflowed) and it is not None:
            it.outcome = "callback" if e.action == "callback" else "overflowed"
        elif isinstance(e, qe.CallAbandoned) and it is not None:
            it.outcome = "abandoned"
        elif isinstance(e, qe.CallbackAccepted):
            self._emit(
                Record(
                    "callback",
                    e.call,
                    {"interaction_id": e.call, "number": e.number, "queue": e.queue, "due_at": now},
                )
            )
        elif isinstance(e, qe.CallbackFailed):
            self._update(e.call, {"outcome": "failed"})
            self._emit(
                Record(
                    "callback",
                    e.call,
                    {"interaction_id": e.call, "number": "", "due_at": now, "status": "failed"},
                )
            )

    def _update(self, call: str, fields: dict[str, Any]) -> None:
        if call in self._ended:
            key = f"{call}:{','.join(sorted(fields))}"
            self._emit(Record("interaction_update", key, {"id": call, "fields": fields}))
