"""The one place that builds the running server and hands each part its dependencies."""

from __future__ import annotations

import asyncio
import signal
import time

import structlog

from cti.ami.client import AmiClient
from cti.ami.events import CallEvent
from cti.ami.service import AmiFeed
from cti.ami.tracker import CallTracker
from cti.config import Settings

log = structlog.get_logger("cti")


def log_call_event(event: CallEvent) -> None:
    """Until the event bus exists, domain events go to the log (with the interaction id)."""
    fields = event.to_dict()
    fields.pop("interaction_id")
    fields.pop("type")
    log.info(f"call.{event.kind}", interaction=event.interaction_id, **fields)


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM): AMI client, tracker, feed."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tracker = CallTracker()
    feed = AmiFeed(tracker, publish=log_call_event, clock=time.time)

    async def on_connected() -> None:
        await feed.resync(ami)

    ami = AmiClient(
        settings.ami,
        on_event=feed.on_raw,
        on_connected=on_connected,
        on_session_start=feed.begin_session,
    )
    try:
        await ami.start()
        log.info("cti.started", ami=f"{settings.ami.host}:{settings.ami.port}")
        await stop.wait()
    finally:
        await ami.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("cti.stopped")
