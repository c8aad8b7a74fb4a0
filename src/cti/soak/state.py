"""What the soak's tasks share while it runs: the simulated Asterisk, the CTI child,
what happened, and a way to talk to the CTI's API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TextIO

import aiohttp

from cti.sim.ami_server import SimAmiServer
from cti.soak.child import CtiChild
from cti.soak.truth import Truth


@dataclass
class Run:
    """What the soak's tasks share."""

    server: SimAmiServer
    cti: CtiChild
    truth: Truth
    session: aiohttp.ClientSession
    headers: dict[str, str]
    out: TextIO
    rss: list[tuple[int, float, float]]  # (CTI start number, monotonic s, MB)
    stranded: set[str]
    cti_up_since: float | None = None  # monotonic; None while the CTI is away
    pbx_up_since: float | None = None

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.out, flush=True)

    async def get(self, path: str) -> Any:
        async with self.session.get(
            f"{self.cti.base}{path}", headers=self.headers, timeout=aiohttp.ClientTimeout(5)
        ) as r:
            r.raise_for_status()
            return await r.json()

    async def post(self, path: str, data: dict[str, Any]) -> None:
        async with self.session.post(
            f"{self.cti.base}{path}", json=data, headers=self.headers
        ) as r:
            if r.status >= 400:
                raise RuntimeError(f"POST {path}: {r.status} {await r.text()}")
