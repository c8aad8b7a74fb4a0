"""The one place that builds the running server and hands each part its dependencies."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import structlog

from cti.ami.client import AmiClient
from cti.ami.events import CallEvent
from cti.ami.service import AmiFeed
from cti.ami.tracker import CallTracker
from cti.config import Settings, load_yaml_model
from cti.queues import Acd, AcdConfig
from cti.queues.events import Event as AcdEvent
from cti.queues.service import AcdService

log = structlog.get_logger("cti")


def log_call_event(event: CallEvent) -> None:
    """Until the event bus exists, domain events go to the log (with the interaction id)."""
    fields = event.to_dict()
    fields.pop("interaction_id")
    fields.pop("type")
    log.info(f"call.{event.kind}", interaction=event.interaction_id, **fields)


def log_acd_event(event: AcdEvent) -> None:
    fields = event.to_dict()
    kind = fields.pop("type")
    log.info(f"acd.{kind}", **fields)


class Core:
    """AMI client, call tracker and (when configured) the ACD, wired together.

    `acd_time_scale` < 1 runs the ACD's clock faster than the wall clock (0.05: twenty
    times), in step with a time-scaled simulated PBX in tests and studies.
    """

    def __init__(
        self,
        settings: Settings,
        acd_config: AcdConfig | None = None,
        *,
        publish_call: Callable[[CallEvent], None] = log_call_event,
        publish_acd: Callable[[AcdEvent], None] = log_acd_event,
        acd_time_scale: float = 1.0,
    ) -> None:
        self.settings = settings
        self.tracker = CallTracker()
        self.feed = AmiFeed(self.tracker, publish=publish_call, clock=time.time)
        self.ami = AmiClient(
            settings.ami,
            on_event=self.feed.on_raw,
            on_connected=self._on_connected,
            on_session_start=self.feed.begin_session,
        )
        self.acd: AcdService | None = None
        if acd_config is not None:

            def acd_clock() -> float:
                return time.monotonic() / acd_time_scale

            acd = Acd(acd_config, acd_clock())
            self.acd = AcdService(acd, self.ami, acd_clock, publish_acd, acd_time_scale)
            self.acd.attach(self.feed)

    async def _on_connected(self) -> None:
        await self.feed.resync(self.ami)

    async def start(self) -> None:
        if self.acd is not None:
            await self.acd.start()
        await self.ami.start()

    async def close(self) -> None:
        await self.ami.close()
        if self.acd is not None:
            await self.acd.close()


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM): AMI client, tracker, feed, ACD."""
    stop = stop or asyncio.Event()
    acd_config = load_yaml_model(settings.acd, AcdConfig) if settings.acd else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    core = Core(settings, acd_config)
    try:
        await core.start()
        log.info(
            "cti.started",
            ami=f"{settings.ami.host}:{settings.ami.port}",
            acd=str(settings.acd) if settings.acd else None,
        )
        await stop.wait()
    finally:
        await core.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("cti.stopped")
