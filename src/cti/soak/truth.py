"""What happened, as the simulated Asterisk knows it: every citizen's call (its linkedid,
when it began and ended, which agent's phone took it) and when the CTI was away. The
soak's checks compare the CTI's records and views with this."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from cti.sim.models import Fields


@dataclass
class TrueCall:
    linkedid: str
    number: str
    began: float  # wall clock
    ended: float | None = None
    agent: str | None = None  # the phone (endpoint name) that answered first
    answered: float | None = None


@dataclass
class Truth:
    """Fed with every event of the simulated PBX (a `SimAmiServer` listener)."""

    agent_of_endpoint: dict[str, str]
    calls: dict[str, TrueCall] = field(default_factory=dict)
    # When the CTI could not have seen events: (from, to) wall clock, `to` None = still.
    away: list[list[float | None]] = field(default_factory=list)

    def on_event(self, name: str, fields: Fields) -> None:
        if name not in ("Newchannel", "BridgeEnter", "Hangup"):
            return
        f = dict(fields)
        channel = f.get("Channel", "")
        linkedid = f.get("Linkedid", "")
        now = time.time()
        if name == "Newchannel":
            if channel.startswith("PJSIP/trunk-") and f.get("Uniqueid") == linkedid:
                self.calls[linkedid] = TrueCall(linkedid, f.get("CallerIDNum", ""), now)
            return
        call = self.calls.get(linkedid)
        if call is None:
            return
        if name == "Hangup" and f.get("Uniqueid") == linkedid:
            call.ended = now
        elif name == "BridgeEnter" and call.agent is None:
            endpoint = channel.removeprefix("PJSIP/").rpartition("-")[0]
            if endpoint in self.agent_of_endpoint:
                call.agent, call.answered = self.agent_of_endpoint[endpoint], now

    def vanish_all(self, now: float) -> None:
        """Asterisk crashed: every call it had is over (it will never say so)."""
        for call in self.calls.values():
            if call.ended is None:
                call.ended = now

    # --- the CTI's absences -------------------------------------------------------------

    def cti_gone(self) -> None:
        if not self.away or self.away[-1][1] is not None:
            self.away.append([time.time(), None])

    def cti_back(self) -> None:
        if self.away and self.away[-1][1] is None:
            self.away[-1][1] = time.time()

    def unseen(self, call: TrueCall) -> bool:
        """Began and ended within one absence of the CTI: it never saw the call (such
        records come from Asterisk's own files, `cti reconcile`; docs/acd.md)."""
        if call.ended is None:
            return False
        for start, end in self.away:
            assert start is not None
            if start <= call.began and (end is None or call.ended <= end):
                return True
        return False

    def during_absence(self, moment: float | None) -> bool:
        if moment is None:
            return False
        return any(
            s is not None and s <= moment and (e is None or moment <= e) for s, e in self.away
        )
