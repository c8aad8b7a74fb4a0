"""The faults a soak plays, in turn: the CTI killed (SIGKILL) and stopped (SIGTERM),
each followed by a new `cti serve`; the PostgreSQL server killed (its supervisor starts
it again); the simulated Asterisk restarted (`core restart now`) and crashed. The CTI's
own faults come in the first half of the run, so the memory slope is measured over a
long second half of one process."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp

from cti.soak.state import Run
from cti.store.embedded import EmbeddedPostgres

ORDER = (
    "cti_kill",
    "pg_kill",
    "asterisk_restart",
    "cti_stop",
    "asterisk_crash",
    "pg_kill",
    "asterisk_restart",
)
CTI_AWAY_S = 5.0  # a killed or stopped CTI is started again this long after


def schedule(duration_s: float) -> list[tuple[float, str]]:
    """(seconds from the start, fault): ORDER spread evenly over the run."""
    step = duration_s / (len(ORDER) + 1)
    return [(step * (n + 1), name) for n, name in enumerate(ORDER)]


class Faults:
    def __init__(self, run: Run, pg: EmbeddedPostgres) -> None:
        self.run = run
        self.pg = pg
        self.agents_not_restored: list[str] = []
        self.api_500_while_db_away = 0

    async def play(self, plan: list[tuple[float, str]], duration_s: float) -> None:
        start = time.monotonic()
        for at, name in plan:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            await getattr(self, name)()
        await asyncio.sleep(max(0.0, start + duration_s - time.monotonic()))

    # --- the CTI ------------------------------------------------------------------------

    async def cti_kill(self) -> None:
        await self._cti_away("killed (SIGKILL)", kill=True)

    async def cti_stop(self) -> None:
        await self._cti_away("stopped (SIGTERM)", kill=False)

    async def _cti_away(self, how: str, *, kill: bool) -> None:
        run = self.run
        before = {a["id"]: a["state"] for a in (await run.get("/api/v1/agents"))["items"]}
        run.truth.cti_gone()
        run.cti_up_since = None
        if kill:
            run.cti.kill()
        else:
            status = await run.cti.stop()
            if status != 0:
                run.say(f"cti serve exited with status {status} on SIGTERM")
        await asyncio.sleep(CTI_AWAY_S)
        run.cti.spawn()
        took = await run.cti.ready(run.session)
        run.truth.cti_back()
        run.cti_up_since = time.monotonic()
        after = {a["id"]: a["state"] for a in (await run.get("/api/v1/agents"))["items"]}
        gone = sorted(a for a, s in after.items() if s == "logged_out" and before.get(a) != s)
        self.agents_not_restored += gone
        run.say(
            f"CTI {how}, started again {CTI_AWAY_S:g} s later, ready in {took:.1f} s;"
            f" agents logged out by it: {len(gone)}"
        )

    # --- PostgreSQL ---------------------------------------------------------------------

    async def pg_kill(self) -> None:
        process = self.pg.process
        if process is None:
            self.run.say("PostgreSQL not running: nothing to kill")
            return
        os.kill(process.pid, signal.SIGKILL)
        killed = time.monotonic()
        statuses: set[int] = set()
        while self.pg.process is process or not self.pg.running:
            statuses.add(await self._status("/api/v1/agents"))
            if time.monotonic() - killed > 60:
                break
            await asyncio.sleep(0.2)
        if 500 in statuses:
            self.api_500_while_db_away += 1
        self.run.say(
            f"PostgreSQL killed (SIGKILL), back in {time.monotonic() - killed:.1f} s;"
            f" the API answered {sorted(statuses)} meanwhile"
        )

    async def _status(self, path: str) -> int:
        run = self.run
        try:
            async with run.session.get(
                f"{run.cti.base}{path}", headers=run.headers, timeout=aiohttp.ClientTimeout(2)
            ) as r:
                return r.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    # --- Asterisk -------------------------------------------------------------------------

    async def asterisk_restart(self) -> None:
        run = self.run
        run.pbx_up_since = None
        await run.server.restart(down_s=2.0)
        await self._asterisk_back("restarted (core restart now)")

    async def asterisk_crash(self) -> None:
        run = self.run
        run.pbx_up_since = None
        run.truth.vanish_all(time.time())  # a crash ends every call, unannounced
        await run.server.crash(down_s=2.0)
        await self._asterisk_back("crashed (SIGKILL) and started")

    async def _asterisk_back(self, how: str) -> None:
        run = self.run
        took = await run.cti.ready(run.session)
        run.pbx_up_since = time.monotonic()
        run.say(f"Asterisk {how}; the CTI ready again {took:.1f} s after it was back")
