"""What a restart or a crash of Asterisk does to its calls and phones, as seen on
22.10.1 (docs/pbx.md, "What the real Asterisk does", 13-16):

- `core restart now`: every channel gets `SoftHangupRequest` cause 4 first, then each
  call ends as usual (`BridgeLeave`, `BridgeDestroy`, `Hangup` cause 16; no
  `HangupRequest`); ~1.1 s later `Shutdown` (`Cleanly`, `Restart: True`), then the AMI
  links close. Recordings are closed properly.
- a crash (SIGKILL): nothing at all; the links just drop; a recording's WAV header keeps
  sizes of 0.
- the new process: channel names and uniqueid counters start again, with a new boot
  time; registrations survive (astdb) but a phone is `Unavailable` until its first
  qualify, at a random moment within `qualify_frequency` (no event before that), and a
  phone that never registered stays unavailable."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from cti.sim.channels import Switch
from cti.sim.fallback_queue import FallbackQueue
from cti.sim.models import Endpoint
from cti.sim.wav import write_wav

QUALIFY_FREQUENCY_S = 30.0  # deploy/asterisk's qualify_frequency for agents' phones


def hang_up_everything(switch: Switch, queue: FallbackQueue) -> None:
    """`core restart now`, before the process goes: every call ends."""
    live = list(switch.channels.values())
    for ch in live:
        switch.event("SoftHangupRequest", [*ch.fields(), ("Cause", "4")])
    queue.forget()
    for ch in live:
        if ch.hung_up:
            continue
        switch.moh_stop(ch)
        peer = ch.peer
        if ch.bridge is not None:
            switch.close_bridge(ch.bridge, ch, peer if peer is not None and peer.bridge else None)
        switch.finish(ch, 16)
        if peer is not None and not peer.hung_up:
            switch.finish(peer, 16)
    for endpoint in queue.endpoints.values():
        endpoint.busy = False


def vanish(switch: Switch, queue: FallbackQueue) -> None:
    """A crash: the calls are gone without a word; recordings keep a header of 0 sizes."""
    now = asyncio.get_running_loop().time()
    for ch in list(switch.channels.values()):
        ch.hung_up = True
        ch.cancel_timers()
        if ch.recording is not None:
            seconds = max(0.0, now - ch.recording.started) / switch.time_scale
            write_wav(ch.recording.path, seconds, 0.0, switch.recording_rate, sizes_known=False)
            ch.recording = None
    switch.channels.clear()
    queue.forget()
    for endpoint in queue.endpoints.values():
        endpoint.busy = False


class Boot:
    """The new process: counters and boot time anew, phones waiting for a qualify."""

    def __init__(
        self,
        switch: Switch,
        endpoints: dict[str, Endpoint],
        qualified: Callable[[str], None],
        seed: int = 0,
    ) -> None:
        self._switch = switch
        self._endpoints = endpoints
        self._qualified = qualified  # a phone answered its qualify: Reachable events
        self._rng = random.Random(seed)
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self.qualify_frequency_s = QUALIFY_FREQUENCY_S

    def start(self) -> None:
        sw = self._switch
        sw.boot = int(time.time())
        sw.restart_counters()
        self.cancel()
        for endpoint in self._endpoints.values():
            endpoint.reachable = False  # restored from astdb, not qualified yet
            if endpoint.registered:
                delay = self._rng.uniform(0.05, self.qualify_frequency_s)
                self.qualify_later(endpoint.name, delay)

    def qualify_later(self, name: str, delay_s: float) -> None:
        """The phone answers a qualify `delay_s` (simulated) from now, if registered."""
        endpoint = self._endpoints[name]
        if not endpoint.registered or endpoint.reachable:
            return
        earlier = self._pending.get(name)
        loop = asyncio.get_running_loop()
        when = loop.time() + delay_s * self._switch.time_scale
        if earlier is not None:
            if earlier.when() <= when:
                return
            earlier.cancel()
        self._pending[name] = loop.call_at(when, self._answered, name)

    def _answered(self, name: str) -> None:
        self._pending.pop(name, None)
        if not self._endpoints[name].reachable:
            self._qualified(name)

    def cancel(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
