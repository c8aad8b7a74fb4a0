"""Recording calls: MixMonitor on the citizen's channel when an agent answers (the file
is named by interaction and agent), paused and resumed on the agent's request (for
dictated personal data), ended by Asterisk at hang-up. The `recording` record comes
from the call records (`cti.store.cdr`), which see every MixMonitor whoever started it:
the writer checks the file (size, WAV duration, SHA-256) and stores it with the
interaction, the leg it ran on and any case already linked.

Asterisk writes the file; the CTI reads it: both must see `recording.dir` (same host,
or a shared mount).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from cti.ami import events as ce
from cti.ami.errors import AmiError
from cti.ami.service import ActionSender
from cti.queues import events as qe

log = structlog.get_logger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
QUEUE_LIMIT = 1000


@dataclass
class _Recording:
    interaction: str
    agent: str
    channel: str
    path: Path
    started_at: float
    paused: bool = False


@dataclass
class RecordingService:
    ami: ActionSender
    caller_channel: Callable[[str], str | None]  # interaction -> the citizen's channel
    directory: Path
    clock: Callable[[], float]
    active: dict[str, list[_Recording]] = field(default_factory=dict)
    _queue: asyncio.Queue[tuple[str, dict[str, str]]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._worker(), name="recording-actions")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def path_for(self, interaction: str, agent: str) -> Path:
        return self.directory / f"{_UNSAFE.sub('_', interaction)}-{_UNSAFE.sub('_', agent)}.wav"

    def on_acd_event(self, event: qe.Event) -> None:
        if not isinstance(event, qe.CallAnswered):
            return
        channel = self.caller_channel(event.call)
        if channel is None:  # e.g. a callback: the agent's leg is not the caller's
            return
        path = self.path_for(event.call, event.agent)
        rec = _Recording(event.call, event.agent, channel, path, self.clock())
        self.active.setdefault(event.call, []).append(rec)
        self._send(
            "start",
            {
                "Action": "MixMonitor",
                "Channel": channel,
                "File": str(path),
                "Options": "i(CTI_MIXMON_ID)",
            },
        )

    def pause(self, interaction: str, paused: bool) -> bool:
        """Pause (True) or resume (False) the current recording; False if there is none."""
        recs = self.active.get(interaction)
        if not recs or recs[-1].paused == paused:
            return False
        rec = recs[-1]
        rec.paused = paused
        self._send(
            "pause" if paused else "resume",
            {
                "Action": "MixMonitorMute",
                "Channel": rec.channel,
                "Direction": "both",
                "State": "1" if paused else "0",
            },
        )
        return True

    def on_call_event(self, event: ce.CallEvent) -> None:
        if isinstance(event, ce.InteractionEnded):
            self.active.pop(event.interaction_id, None)

    def _send(self, what: str, action: dict[str, str]) -> None:
        try:
            self._queue.put_nowait((what, action))
        except asyncio.QueueFull:
            log.error("recording.action_dropped", what=what, channel=action.get("Channel"))

    async def _worker(self) -> None:
        while True:
            what, action = await self._queue.get()
            try:
                await self.ami.send_action(action)
            except AmiError as exc:  # the caller may be gone already
                log.warning("recording.action_failed", what=what, error=str(exc))
