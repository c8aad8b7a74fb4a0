"""The simulated PBX's data: channels, agent phones, citizens and recordings, and the
AMI field lists a channel or a bridge renders to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Fields = list[tuple[str, str]]

_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


class PbxError(Exception):
    """An AMI action the simulated PBX refuses; the message is Asterisk's."""


@dataclass
class Endpoint:
    """An agent's phone: answers after a delay, never (None), or is unreachable."""

    name: str
    answer_after_s: float | None = 1.0
    reachable: bool = True
    busy: bool = False
    display: str = "<unknown>"  # the endpoint's callerid name (the agent's name)
    registered: bool = True  # has a contact (kept across restarts); False: never registered
    # A person's phone in a sped-up simulation: the conversations it takes last this
    # many times longer (1 / time_scale: in real time, whatever the bots' speed).
    slowdown: float = 1.0


@dataclass
class Citizen:
    """A caller's behaviour: which queue the IVR puts them in, patience, talk time."""

    number: str
    queue: str
    priority: int = 0
    patience_s: float | None = None  # hangs up after waiting this long (None: never)
    talk_s: float = 5.0  # hangs up this long after being connected
    accept_callback: bool = False
    # The key pressed at the callback offer instead (a time: "3" tomorrow morning, "4"
    # tomorrow afternoon in deploy/ivr.yaml); None: "1" if accept_callback, else "9".
    callback_key: str | None = None
    answers_callback: bool = True
    keys: list[str] = field(default_factory=list)  # what they key in the IVR, in order
    ivr_s: float = 0.0  # without a FastAGI IVR: seconds of prompts before the line
    dialled: str = "1555"  # the hotline number they call (the extension in cti-inbound)


@dataclass
class Recording:
    """A running MixMonitor: its file, when it started and how long it was muted."""

    id: str
    path: Path
    started: float  # loop time
    muted_s: float = 0.0
    muted_since: float | None = None


@dataclass(eq=False)
class Channel:
    """One channel: what AMI shows of it, its variables, and who it is talking to."""

    name: str
    uniqueid: str
    linkedid: str
    caller_num: str
    caller_name: str
    context: str
    exten: str
    state: int = 0
    priority: int = 1
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    app: str = ""
    app_data: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    bridge: str | None = None
    peer: Channel | None = None  # dialled / dialling channel
    moh: bool = False
    citizen: Citizen | None = None
    endpoint: Endpoint | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    dial_status: str = ""
    hung_up: bool = False
    recording: Recording | None = None
    local_half: Channel | None = None  # the other half of a Local channel pair
    queued_at: float | None = None  # loop time it joined the fallback queue
    queue_member: tuple[str, float, float] | None = None  # (endpoint, hold s, answered at)
    # An originated phone's answer (a person's phone: a desktop's `Event: talk` runs it).
    on_talk: Callable[[], None] | None = None

    def fields(self, prefix: str = "") -> Fields:
        return [
            (f"{prefix}Channel", self.name),
            (f"{prefix}ChannelState", str(self.state)),
            (f"{prefix}ChannelStateDesc", _STATE_DESC.get(self.state, "Unknown")),
            (f"{prefix}CallerIDNum", self.caller_num),
            (f"{prefix}CallerIDName", self.caller_name),
            (f"{prefix}ConnectedLineNum", self.connected_num),
            (f"{prefix}ConnectedLineName", self.connected_name),
            (f"{prefix}Language", "en"),
            (f"{prefix}AccountCode", ""),
            (f"{prefix}Context", self.context),
            (f"{prefix}Exten", self.exten),
            (f"{prefix}Priority", str(self.priority)),
            (f"{prefix}Uniqueid", self.uniqueid),
            (f"{prefix}Linkedid", self.linkedid),
        ]

    def cancel_timers(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()


def bridge_fields(bridge: str) -> Fields:
    """The fields every Bridge* event starts with, for a basic bridge."""
    return [
        ("BridgeUniqueid", bridge),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
    ]
