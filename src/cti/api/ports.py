"""What the API needs of the running CTI: the objects it reads and drives, as a
Protocol, so that `cti.api` depends on the parts and never on the module that wires
them (`cti.app`)."""

from __future__ import annotations

from typing import Protocol

from cti.ami.client import AmiClient
from cti.ami.service import AmiFeed
from cti.ami.tracker import CallTracker
from cti.bus import EventBus
from cti.config import Settings
from cti.ivr.service import IvrService
from cti.queues.asterisk import AsteriskQueues
from cti.queues.service import AcdService
from cti.recording.service import RecordingService
from cti.store.service import StoreService


class CoreView(Protocol):
    """The running core as the API sees it (read-only references to its parts)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def ami(self) -> AmiClient: ...

    @property
    def feed(self) -> AmiFeed: ...

    @property
    def tracker(self) -> CallTracker: ...

    @property
    def acd(self) -> AcdService | None: ...

    @property
    def asterisk_queues(self) -> AsteriskQueues: ...

    @property
    def store(self) -> StoreService | None: ...

    @property
    def ivr(self) -> IvrService | None: ...

    @property
    def recording(self) -> RecordingService | None: ...
