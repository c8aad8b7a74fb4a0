"""The call tracker's live records: channels (by Uniqueid) and interactions, the citizen
contacts that group every channel sharing a Linkedid.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    state: int = 0
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 0
    application: str = ""
    bridge_id: str = ""
    on_hold: bool = False
    recording: str = ""  # file of the running MixMonitor, if any
    pending_recording_file: str = ""  # MIXMONITOR_FILENAME seen before MixMonitorStart
    local_peer: str = ""  # Uniqueid of the other half of a Local channel
    epoch: int = 0
    started_at: float = 0.0
    answered_at: float | None = None

    @property
    def local_key(self) -> str | None:
        """`Local/x@ctx-00000001` for both `;1` and `;2` halves."""
        if self.name.startswith("Local/") and self.name[-2:] in (";1", ";2"):
            return self.name[:-2]
        return None


@dataclass(slots=True)
class Interaction:
    """One citizen contact: every channel sharing a Linkedid."""

    id: str
    started_at: float
    caller_num: str = ""
    caller_name: str = ""
    channels: set[str] = field(default_factory=set)
    answered_at: float | None = None
    bridged: bool = False  # the caller has been bridged with someone (an agent)
    cti_vars: dict[str, str] = field(default_factory=dict)
    dtmf: str = ""
    recordings: list[str] = field(default_factory=list)
    queue: str = ""
    waited_s: int | None = None
    agent: str = ""
    talk_s: int | None = None
    abandoned: bool = False
