"""The API test world: the simulated PBX, the CTI core with the ACD, real PostgreSQL,
the API server, and aiohttp clients with a token per role."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from acd_helpers import agent, config
from cti.api import auth
from cti.api.server import ApiServer
from cti.app import Core
from cti.config import AmiSettings, Settings
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Endpoint
from cti.store.embedded import free_port
from cti.store.errors import StoreError
from cti.store.service import StoreService

SCALE = 0.05
QUEUES = {"benefits": {"skills": {"benefits": 5}, "wrap_up_s": 5}}


@dataclass
class World:
    server: SimAmiServer
    core: Core
    api: ApiServer
    base: str
    tokens: dict[str, str]
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, role: str | None, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        async with self.http.request(method, self.base + path, headers=headers, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    def ws(self, role: str = "agent") -> Any:
        return self.http.ws_connect(f"{self.base}/ws/agent?token={self.tokens[role]}")


@asynccontextmanager
async def world(db_url: str, tmp_path: Any) -> AsyncIterator[World]:
    phones = {name: Endpoint(name, 1.0) for name in ("a1", "a2", "sup1")}
    server = SimAmiServer(phones, time_scale=SCALE)
    port = await server.start()
    store = StoreService(db_url, tmp_path / "outbox")
    settings = Settings(ami=AmiSettings(port=port, secret="ctisecret", auth="plain"))  # type: ignore[arg-type]
    acd = config(
        QUEUES,
        [agent("a1", {"benefits": 8}, ["benefits"]), agent("a2", {"benefits": 6}, ["benefits"])],
        not_ready_reasons=["break"],
    )
    core = Core(
        settings,
        acd,
        publish_call=lambda e: None,
        publish_acd=lambda e: None,
        acd_time_scale=SCALE,
        store=store,
    )
    await core.start()
    await core.ami.wait_connected(5)
    api = ApiServer(core, db_url, "127.0.0.1", free_port())
    api_port = await api.start()
    conn = await asyncpg.connect(db_url)
    tokens = {}
    try:
        for name, role, agent_id in (
            ("ann", "agent", "a1"),
            ("bob", "agent", "a2"),
            ("sue", "supervisor", None),
            ("adm", "admin", None),
            ("int", "integrator", None),
        ):
            with contextlib.suppress(StoreError):  # a second hypothesis example: still there
                await auth.create_user(conn, name, role, agent_id, password="correct horse battery")
            kind = "api_key" if role == "integrator" else "session"
            tokens[role if name != "bob" else "agent2"] = await auth.issue_token(conn, name, kind)
    finally:
        await conn.close()
    async with aiohttp.ClientSession() as http:
        try:
            yield World(server, core, api, f"http://127.0.0.1:{api_port}", tokens, http)
        finally:
            await api.close()
            await core.close()
            await server.close()


async def next_of(ws: Any, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), timeout)
        if msg["type"] == kind:
            return msg  # type: ignore[no-any-return]
