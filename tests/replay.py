"""Replay a transcript section through the real client, feed and tracker."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from cti.ami.client import AmiClient
from cti.ami.events import CallEvent
from cti.ami.service import AmiFeed
from cti.ami.tracker import CallTracker
from cti.config import AmiSettings
from cti.sim import transcripts
from cti.sim.fake_ami import FakeAmiServer, Script

_OWN = frozenset({"login", "challenge", "logoff"})


class FakeClock:
    """Advances by one millisecond per reading: deterministic, monotonic."""

    def __init__(self, start: float = 1_795_437_500.0) -> None:
        self._ticks = itertools.count()
        self._start = start

    def __call__(self) -> float:
        return self._start + next(self._ticks) / 1000


@dataclass
class Replay:
    tracker: CallTracker
    published: list[CallEvent]
    results: dict[str, Any]  # transcript ActionID -> response(s) or exception
    server: FakeAmiServer
    raw_events: list[dict[str, str]] = field(default_factory=list)

    def of(self, kind: type[CallEvent]) -> list[Any]:
        return [e for e in self.published if isinstance(e, kind)]


async def replay(number: int, section: int = 0, auth: str = "plain") -> Replay:
    sec = transcripts.load_ami(transcripts.find(number))[section]
    server = FakeAmiServer([Script(sec)])
    port = await server.start()
    settings = AmiSettings(port=port, secret="ctisecret", auth=auth, ping_interval_s=60)  # type: ignore[arg-type]
    tracker = CallTracker()
    published: list[CallEvent] = []
    feed = AmiFeed(tracker, published.append, FakeClock())
    raw_events: list[dict[str, str]] = []

    def on_raw(raw: Any) -> None:
        raw_events.append(raw.headers)
        feed.on_raw(raw)

    client: AmiClient

    async def on_connected() -> None:
        await feed.resync(client)

    client = AmiClient(
        settings, on_event=on_raw, on_connected=on_connected, on_session_start=feed.begin_session
    )
    try:
        await client.start()
        steps = [s for s in sec.steps[1:] if s.sent and s.name.lower() not in _OWN]
        tasks = [asyncio.ensure_future(client.send_action(dict(s.action or {}))) for s in steps]
        done = await asyncio.gather(*tasks, return_exceptions=True)
        results = {s.action_id: r for s, r in zip(steps, done, strict=True)}
    finally:
        await client.close()
        await server.close()
    return Replay(tracker, published, results, server, raw_events)
