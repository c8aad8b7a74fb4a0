"""What a live call is doing now, read off the call tracker's channels and bridges
(Asterisk's view), whoever routes it: in the IVR, waiting in a line, ringing an agent,
talking, on hold."""

from __future__ import annotations

from typing import Literal

from cti.ami.state import Interaction
from cti.ami.tracker import CallTracker

LiveState = Literal["ivr", "waiting", "ringing", "talking", "held", "ending"]
RING_STATES = (4, 5)  # AST_STATE_RING, AST_STATE_RINGING
WAITING_APPS = ("Queue", "MusicOnHold")


def call_state(tracker: CallTracker, interaction: Interaction) -> LiveState:
    channels = [tracker.channels[u] for u in interaction.channels if u in tracker.channels]
    caller = tracker.channels.get(interaction.id) or (channels[0] if channels else None)
    if caller is None:
        return "ending"
    peers = tracker.bridges.get(caller.bridge_id, set()) - {caller.uniqueid}
    if caller.bridge_id and peers and not caller.on_hold:
        return "talking"
    if any(c is not caller and c.state in RING_STATES for c in channels):
        return "ringing"
    if caller.on_hold or caller.application in WAITING_APPS:
        # Music after an agent had the call is a hold; before, the caller waits in line.
        return "held" if interaction.bridged else "waiting"
    if caller.application == "AGI":
        return "ivr"
    return "talking" if interaction.bridged else "ivr"
