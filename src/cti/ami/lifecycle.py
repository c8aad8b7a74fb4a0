"""Asterisk's own life as the call tracker sees it: who asked for each hang-up, when it
shuts down or restarts, when it booted. This is what tells a call the caller ended
from one Asterisk ended by restarting, and a restart from a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cti.ami import events as ev
from cti.ami import models as m
from cti.ami.app_queue import Emit
from cti.ami.state import Channel

SOFTHANGUP_SHUTDOWN = 1 << 2  # AST_SOFTHANGUP_SHUTDOWN: a shutdown's SoftHangupRequest Cause
BOOT_TOLERANCE_S = 2.0  # FullyBooted's Uptime is whole seconds


class PbxLifecycle:
    """Hang-up requests, Shutdown and FullyBooted; why channels vanished at a resync."""

    def __init__(self, channels: Mapping[str, Channel], emit: Emit) -> None:
        self._channels = channels
        self._emit = emit
        self.boot_time: float | None = None  # Asterisk's start (now - Uptime), last seen
        self.boot_changed = False
        self.shutting_down = False  # Asterisk said so (Shutdown, or a shutdown hang-up)
        self.booted_this_session = False  # FullyBooted seen since the last login

    def handlers(self) -> dict[type[m.AmiEvent], Callable[[Any, float], None]]:
        return {
            m.HangupRequest: self._on_hangup_request,
            m.SoftHangupRequest: self._on_hangup_request,
            m.Shutdown: self._on_shutdown,
            m.FullyBooted: self._on_fully_booted,
        }

    def booted(self, boot_time: float) -> None:
        """A boot time other than the last one: Asterisk restarted while we were away."""
        last = self.boot_time
        self.boot_changed = last is not None and abs(boot_time - last) > BOOT_TOLERANCE_S
        self.boot_time = boot_time

    def gone_reason(self) -> ev.EndReason:
        """Why the channels Asterisk no longer has (found at a resync) are gone."""
        if self.shutting_down:
            return "pbx_restart"
        return "pbx_lost" if self.boot_changed else "ended_while_disconnected"

    def _on_hangup_request(self, e: m.HangupRequest | m.SoftHangupRequest, now: float) -> None:
        chan = self._channels.get(e.uniqueid)
        if chan is None:
            return
        soft = isinstance(e, m.SoftHangupRequest)
        shutdown = soft and bool(e.cause & SOFTHANGUP_SHUTDOWN)
        if shutdown:
            self.shutting_down = True
        self._emit(
            ev.HangupRequested,
            now,
            chan.linkedid,
            uniqueid=chan.uniqueid,
            channel=chan.name,
            soft=soft,
            cause=e.cause,
            shutdown=shutdown,
        )

    def _on_fully_booted(self, e: m.FullyBooted, now: float) -> None:
        self.booted(now - e.uptime)
        self.booted_this_session = True

    def _on_shutdown(self, e: m.Shutdown, now: float) -> None:
        self.shutting_down = True
        self._emit(ev.PbxShutdown, now, "", restart=e.restart.lower() in ("true", "yes"))
