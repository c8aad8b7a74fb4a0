"""What the CTI consumes of an AMI stream, reduced so that the simulator's stream and a
real Asterisk's can be compared: per party (caller, agent), the events the tracker
handles in order, each with the fields that decide what the tracker does.

Left out, with the reason:
- `DTMFEnd`: a key pressed as the IVR hands the call over comes back as ~10 digits of
  the same key during the Dial (sipp's RFC 4733 continuation packets, docs/pbx.md
  fact 21); how many depends on timing, not on the CTI or the simulator.
- VarSets the tracker drops unread (`wants_varset`): Asterisk sets dozens (BRIDGEPEER,
  RTPAUDIOQOS…) that the CTI never looks at.
- Events without a channel (`BridgeDestroy`, `FullyBooted`, `Shutdown`) and app_queue's
  (this call does not go through Asterisk's queue); the tests in test_survival.py and
  test_pbx_faults.py cover those paths.
- Values that differ by nature between two runs: uniqueids, channel numbers, times."""

from __future__ import annotations

import re
from collections.abc import Iterable

from cti.ami.tracker import wants_varset

Message = dict[str, str]
Step = tuple[str, ...]

# Events of a call that the CTI reads, and the field of each that changes its meaning.
DETAIL = {
    "Newchannel": "Context",
    "NewCallerid": None,
    "NewConnectedLine": None,
    "Newstate": "ChannelStateDesc",
    "Newexten": "Context",
    "VarSet": "Variable",
    "BridgeEnter": None,
    "BridgeLeave": None,
    "MusicOnHoldStart": None,
    "MusicOnHoldStop": None,
    "MixMonitorStart": None,
    "MixMonitorStop": None,
    "HangupRequest": None,
    "SoftHangupRequest": None,
    "Hangup": "Cause",
}


# The recording's steps: the CTI starts MixMonitor when the agent answers, so they
# race with the bridge; they are compared as a sequence of their own.
RECORDING = {
    ("VarSet", "MIXMONITOR_FILENAME"),
    ("VarSet", "CTI_MIXMON_ID"),
    ("MixMonitorStart",),
    ("MixMonitorStop",),
}


def party(channel: str) -> str | None:
    if channel.startswith("PJSIP/trunk-"):
        return "caller"
    if re.match(r"PJSIP/agent-\d+-", channel):
        return "agent"
    return None


def steps(events: Iterable[Message], handled: frozenset[str]) -> dict[str, list[Step]]:
    """Each party's steps: consecutive repeats folded (Newexten once per context, a
    variable once however often it is set in a row)."""
    out: dict[str, list[Step]] = {"caller": [], "agent": [], "recording": []}
    for msg in events:
        name = msg.get("Event", "")
        if name not in handled or name not in DETAIL:
            continue
        who = party(msg.get("Channel", ""))
        if who is None:
            continue
        if name == "VarSet" and not wants_varset(msg.get("Variable", "")):
            continue
        field = DETAIL[name]
        step = (name, msg.get(field, "")) if field else (name,)
        if step in RECORDING:
            step, who = (who, *step), "recording"
        if not out[who] or out[who][-1] != step:
            out[who].append(step)
    return out


def show(title: str, parties: dict[str, list[Step]]) -> str:
    lines = [title]
    for who, seq in parties.items():
        lines.append(f"  {who}:")
        lines += [f"    {' '.join(s)}" for s in seq]
    return "\n".join(lines)
