"""`cti serve` with `ha.enabled`: stand by (answering 503 with the leader's name) until
this node holds the lease, then run as a single CTI does, fenced by the lease, until
stopped or deposed. A takeover is a restart's adoption done by another process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

import structlog

from cti.config import Settings
from cti.ha.lease import Lease
from cti.ha.standby import StandbyServer

log = structlog.get_logger(__name__)


def make_lease(settings: Settings, dsn: str) -> Lease:
    ha = settings.ha
    node = ha.node or f"{socket.gethostname()}:{os.getpid()}"
    return Lease(dsn, ha.cluster, node, ha.url, ttl_s=ha.lease_s, renew_s=ha.renew_s)


async def stand_by(lease: Lease, settings: Settings, stop: asyncio.Event) -> bool:
    """Answer as a standby until this node leads (True) or `stop` is set (False)."""
    server = StandbyServer(lease.holder, lambda: lease.seen, settings.http.host, settings.http.port)
    await server.start()
    log.info("ha.standby", node=lease.holder, cluster=lease.cluster)
    waiting = asyncio.create_task(lease.wait_to_lead(settings.ha.poll_s), name="ha-wait")
    stopping = asyncio.create_task(stop.wait(), name="ha-stop")
    try:
        done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.close()
    if waiting in done:
        waiting.result()  # an unexpected failure of the loop is raised here
        return True
    return False


class Keeper:
    """Renews the lease from the moment this node leads until it lets go: through its
    start-up (which may outlast a lease: the AMI resync, the migrations) and its
    shutdown (the outbox's last writes), not only in between."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        self._task = asyncio.create_task(lease.keep(), name="ha-keep")

    async def until(self, stop: asyncio.Event) -> str | None:
        """Until `stop` is set (None) or this node is deposed (why)."""
        stopping = asyncio.create_task(stop.wait(), name="ha-stop")
        try:
            await asyncio.wait({self._task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping
        return self._task.result() if self._task.done() else None

    async def end(self) -> str | None:
        """Stop renewing; why this node stopped leading, if it had."""
        if self._task.done():
            return self._task.result()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return None
