"""Which Asterisk channels belong to which ACD call: the citizen's leg, the answering
agent's leg, the agent leg of a callback, and the CTI variables seen on each channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Leg:
    channel: str
    uniqueid: str


@dataclass
class Legs:
    """The channels of the calls in the ACD (kept by the PBX event handler)."""

    callers: dict[str, Leg] = field(default_factory=dict)  # call id -> the citizen's channel
    # uniqueid (caller, or the agent leg of a callback) -> call id
    call_of: dict[str, str] = field(default_factory=dict)
    agent_legs: dict[str, Leg] = field(default_factory=dict)  # call id -> the agent's channel
    agent_leg_of: dict[str, str] = field(default_factory=dict)  # its uniqueid -> call id
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # uniqueid -> CTI_* seen
    calling_back: set[str] = field(default_factory=set)  # calls whose callback is being placed
    # call id -> the agent's leg the ACD placed for it (a callback, her own call)
    placed: dict[str, Leg] = field(default_factory=dict)

    def add_agent_leg(self, call: str, leg: Leg) -> None:
        self.agent_legs[call] = leg
        self.agent_leg_of[leg.uniqueid] = call

    def pop_agent_leg(self, call: str) -> Leg | None:
        leg = self.agent_legs.pop(call, None)
        if leg is not None:
            self.agent_leg_of.pop(leg.uniqueid, None)
        return leg

    def forget_caller(self, call: str) -> Leg:
        """The ACD is done with this caller's channel (it leaves for another context)."""
        leg = self.callers.pop(call)
        self.call_of.pop(leg.uniqueid, None)
        self.variables.pop(leg.uniqueid, None)
        self.pop_agent_leg(call)
        return leg
