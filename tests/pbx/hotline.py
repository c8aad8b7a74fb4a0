"""The whole hotline as in production, on loopback: a real Asterisk configured from
deploy/asterisk, agents' sipp phones, `cti serve` as a child process on a real
PostgreSQL, and the agents' desktops as websocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import sipp
import yaml
from asterisk import AMI_SECRET, DEPLOY, Asterisk, Site, deploy_configs, free_port, install_dir

from cti.api import auth

HERE = Path(__file__).parent
ACD_FILE = HERE / "acd.yaml"
SUPERVISOR_PHONE = "sup1"
CLI = (sys.executable, "-m", "cti")


@dataclass
class Agent:
    """An agent: ACD id, phone and how the person behind it acts."""

    id: str
    endpoint: str  # agent-1001
    address: str  # 127.0.0.11
    answer_ms: int | None = 1000  # None: the phone rings unanswered
    talk_ms: int = 0  # > 0: hangs up after that long; 0: waits for the caller's BYE
    ready: bool = True  # logged in and ready from the start


def agents(*behaviour: dict[str, Any]) -> list[Agent]:
    """The three agents of tests/pbx/acd.yaml, each with the given behaviour."""
    ids = ("ivanova", "petrov", "georgieva")
    return [
        Agent(ids[i], f"agent-100{i + 1}", f"127.0.0.{11 + i}", **b)
        for i, b in enumerate(behaviour)
    ]


class Desktop:
    """One agent's desktop: the websocket, every frame it got, requests with ids."""

    def __init__(self, agent: str, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.agent = agent
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # time.monotonic() of each frame, as frames
        self._ids = 0
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.arrived.append(time.monotonic())
                self.frames.append(json.loads(msg.data))
                self._changed.set()

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        self._ids += 1
        rid = f"r{self._ids}"
        await self.ws.send_json({"type": kind, "id": rid, **fields})
        return await self.wait(lambda f: f.get("id") == rid, 10)

    async def wait(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for frame in self.frames[seen:]:
                if match(frame):
                    return frame
            seen = len(self.frames)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.agent}: no such frame; got {self.frames[-5:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "event" and f.get("event") == name]

    def states(self) -> list[tuple[str, str | None]]:
        return [
            (f["data"]["new"], f["data"].get("reason"))
            for f in self.events("acd.AgentStateChanged")
        ]

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Hotline:
    asterisk: Asterisk
    site: Site
    agents: list[Agent]
    passwords: dict[str, str]
    db_url: str
    phones: dict[str, sipp.Sipp] = field(default_factory=dict)
    callers: list[sipp.Sipp] = field(default_factory=list)
    cti: subprocess.Popen[bytes] | None = None
    http_port: int = 0
    tokens: dict[str, str] = field(default_factory=dict)
    desktops: dict[str, Desktop] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    supervisor: aiohttp.ClientWebSocketResponse | None = None
    ctis_started: int = 0
    acd: Path = ACD_FILE  # the ACD file `cti serve` runs (same agents as ACD_FILE)
    _wallboard_reader: asyncio.Task[None] | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # `cti reconcile`

    @property
    def run(self) -> Path:
        return self.asterisk.run

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # --- the phones -----------------------------------------------------------------------

    def start_phone(self, agent: Agent) -> None:
        spec = sipp.PhoneSpec(
            agent.endpoint,
            self.passwords[agent.endpoint],
            agent.address,
            agent.answer_ms,
            agent.talk_ms,
        )
        self.phones[agent.endpoint] = sipp.phone(
            self.asterisk.install, self.run, self.site.sip_port, spec
        )

    def wait_registered(self, endpoints: list[str], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            text = self.asterisk.cli("pjsip show contacts")
            missing = [e for e in endpoints if not re.search(rf"{e}/sip:\S+\s+\S+\s+Avail", text)]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"phones not reachable: {missing}\n{text}")
            time.sleep(0.2)

    def call(self, name: str, numbers: list[str], **kw: Any) -> sipp.Sipp:
        """Citizens calling the hotline (see sipp.citizens)."""
        caller = sipp.citizens(
            self.asterisk.install, self.run, self.site.sip_port, name, numbers, **kw
        )
        self.callers.append(caller)
        return caller

    # --- the CTI ----------------------------------------------------------------------------

    def cti_env(self) -> dict[str, str]:
        ivr = self.run / "ivr.yaml"
        if not ivr.exists():
            # The deployment's IVR, open around the clock (tests run at any hour).
            definition = yaml.safe_load((DEPLOY / "ivr.yaml").read_text())
            always = {"weekly": {"daily": "24h"}}  # every calendar: the callback slots' too
            calendars = definition.get("calendars") or {}
            definition["calendars"] = {name: always for name in [*calendars, "default"]}
            ivr.write_text(yaml.safe_dump(definition))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
        env.update(
            {
                "CTI_AMI__HOST": "127.0.0.1",
                "CTI_AMI__PORT": str(self.site.ami_port),
                "CTI_AMI__USERNAME": "cti",
                "CTI_AMI__SECRET": AMI_SECRET,
                "CTI_AMI__AUTH": "md5",
                "CTI_AMI__PING_INTERVAL_S": "2",
                "CTI_AMI__RECONNECT_MAX_S": "1",
                "CTI_HTTP__HOST": "127.0.0.1",
                "CTI_HTTP__PORT": str(self.http_port),
                "CTI_IVR__FILE": str(ivr),
                "CTI_IVR__HOST": "127.0.0.1",
                "CTI_IVR__PORT": str(self.site.agi_port),
                "CTI_ACD": str(self.acd),
                "CTI_DATABASE_URL": self.db_url,
                "CTI_RECORDING__ENABLED": "true",
                "CTI_RECORDING__DIR": str(self.asterisk.recordings),
                "CTI_STORE__SPILL_DIR": str(self.run / "outbox"),
                "CTI_STORE__PURGE_EVERY_H": "0",
                "CTI_LOG__FORMAT": "json",
                "CTI_LOG__LEVEL": "info",
            }
        )
        return env

    def spawn_cti(self) -> subprocess.Popen[bytes]:
        """`cti serve` as in production, configured by CTI_* variables."""
        self.ctis_started += 1
        with open(self.run / f"cti-{self.ctis_started}.log", "wb") as out:
            self.cti = subprocess.Popen(
                [sys.executable, "-m", "cti", "serve"],
                env=self.cti_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.cti

    async def start_cti(self, timeout: float = 30.0) -> None:
        """Spawn the CTI and wait until it says it is ready (AMI and database up)."""
        self.cti = self.spawn_cti()
        assert self.session is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.cti.poll() is not None:
                raise RuntimeError(f"cti serve exited: {self.cti_log()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(f"{self.base}/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cti not ready: {self.cti_log()[-2000:]}")
            await asyncio.sleep(0.2)

    def cti_log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.run.glob("cti-*.log")))

    def cti_events(self, name: str) -> list[dict[str, Any]]:
        """JSON log lines of the CTI with this `event`."""
        out = []
        for line in self.cti_log().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("event") == name:
                    out.append(entry)
        return out

    def kill_cti(self) -> None:
        if self.cti is not None and self.cti.poll() is None:
            os.killpg(self.cti.pid, signal.SIGKILL)
            self.cti.wait(10)

    def stop_cti(self) -> None:
        if self.cti is not None and self.cti.poll() is None:
            self.cti.send_signal(signal.SIGTERM)
            try:
                self.cti.wait(15)
            except subprocess.TimeoutExpired:
                self.kill_cti()

    # --- people -----------------------------------------------------------------------------

    async def make_users(self) -> None:
        conn = await asyncpg.connect(self.db_url)
        try:
            for agent in self.agents:
                await auth.create_user(conn, agent.id, "agent", agent.id)
                self.tokens[agent.id] = await auth.issue_token(conn, agent.id)
            await auth.create_user(conn, "boss", "supervisor")
            self.tokens["boss"] = await auth.issue_token(conn, "boss")
        finally:
            await conn.close()

    async def open_desktop(self, agent: Agent) -> Desktop:
        assert self.session is not None
        ws = await self.session.ws_connect(
            f"{self.base}/ws/agent?token={self.tokens[agent.id]}", heartbeat=None
        )
        desktop = Desktop(agent.id, ws)
        await desktop.wait(lambda f: f.get("type") == "hello", 5)
        self.desktops[agent.id] = desktop
        return desktop

    async def log_in(self, agent: Agent) -> None:
        desktop = self.desktops[agent.id]
        for kind in ("login", "ready"):
            reply = await desktop.request(kind)
            assert reply["type"] == "ack", reply

    async def open_wallboard(self) -> list[dict[str, Any]]:
        """The supervisor's websocket; its frames collect in the returned list."""
        assert self.session is not None
        ws = await self.session.ws_connect(
            f"{self.base}/ws/supervisor?token={self.tokens['boss']}", heartbeat=None
        )
        self.supervisor = ws
        frames: list[dict[str, Any]] = []

        async def read() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frames.append(json.loads(msg.data))

        self._wallboard_reader = asyncio.create_task(read())
        return frames

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.db_url)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    async def settle(self, timeout: float = 20.0) -> None:
        """Every caller's sipp has finished and Asterisk has no channel left."""
        deadline = time.monotonic() + timeout
        for caller in self.callers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                caller.wait(max(0.1, deadline - time.monotonic()))
        # Polling another process: there is no event to wait on.
        while self.asterisk.channels() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)

    async def interactions(self, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The stored interactions, once `expected` of them are there (the outbox writes
        a little after the call ends)."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.rows("SELECT * FROM interactions ORDER BY arrived_at")
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.2)


def asterisk_config() -> str:
    """What `cti asterisk-config` prints for the tier's agents and supervisor, as an
    operator runs it."""
    return subprocess.run(
        [*CLI, "asterisk-config", str(ACD_FILE), "--supervisor", SUPERVISOR_PHONE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@contextlib.asynccontextmanager
async def hotline(
    db_url: str,
    people: list[Agent],
    *,
    cti: bool = True,
    acd: Path = ACD_FILE,
    agi_other: bool = False,
) -> AsyncIterator[Hotline]:
    """Asterisk up with the deployment's configuration, phones registered, the CTI
    serving (with `acd`: other queues, the same agents), desktops logged in and ready
    (those with `ready`). `agi_other`: the dialplan's CTI_AGI_OTHER set to a second
    port (`site.agi_other_port`), for a second CTI (docs/ha.md)."""
    install = install_dir()
    generated = asterisk_config()
    passwords = dict(re.findall(r"^username = (\S+)\npassword = (\S+)$", generated, re.M))
    other = free_port() if agi_other else 0
    site = Site(free_port(), free_port(), free_port(), generated, agi_other_port=other)
    asterisk = Asterisk(install, lambda run: deploy_configs(site))
    line = Hotline(asterisk, site, people, passwords, db_url, http_port=free_port(), acd=acd)
    try:
        asterisk.start()
        for agent in people:
            line.start_phone(agent)
        line.wait_registered([a.endpoint for a in people])
        async with aiohttp.ClientSession() as session:
            line.session = session
            await line.make_users()
            if cti:
                await line.start_cti()
                for agent in people:
                    await line.open_desktop(agent)
                    if agent.ready:
                        await line.log_in(agent)
            try:
                yield line
            finally:
                for desktop in line.desktops.values():
                    await desktop.close()
                if line.supervisor is not None:
                    await line.supervisor.close()
                if line._wallboard_reader is not None:
                    line._wallboard_reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await line._wallboard_reader
    finally:
        for caller in line.callers:
            caller.stop()
        line.stop_cti()
        for phone in line.phones.values():
            phone.stop()
        asterisk.cleanup()
