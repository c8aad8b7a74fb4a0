"""The survey campaigns' test world: api_helpers' world with the IVR's FastAGI server
(the `campaign-survey` script) on the simulated PBX, and a quick campaign runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from acd_helpers import agent, config
from cti.api import auth
from cti.api.campaign_runner import CampaignRunner
from cti.api.server import ApiServer
from cti.app import Core
from cti.config import AmiSettings, IvrSettings, Settings
from cti.demo import always_open
from cti.ivr.models import load_ivr
from cti.ivr.service import IvrService
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Endpoint
from cti.sim.survey_calls import SurveyCalls
from cti.store.embedded import free_port
from cti.store.errors import StoreError
from cti.store.service import StoreService

SCALE = 0.05
IVR_FILE = Path(__file__).parent.parent / "deploy" / "ivr.yaml"
QUESTIONNAIRE = {
    "language": "en",
    "questions": [
        {"id": "service", "kind": "scale", "prompt": "cti/survey-service"},
        {"id": "solved", "kind": "yes_no", "prompt": "cti/survey-solved"},
        {"id": "age", "kind": "digits", "prompt": "cti/survey-age", "max_digits": 3},
        {"id": "comment", "kind": "comment", "prompt": "cti/survey-comment", "max_s": 10},
    ],
}


@dataclass
class SurveyWorld:
    server: SimAmiServer
    core: Core
    api: ApiServer
    base: str
    tokens: dict[str, str]
    http: aiohttp.ClientSession
    db_url: str

    @property
    def calls(self) -> SurveyCalls:
        return self.server.pbx.survey_calls

    @property
    def runner(self) -> CampaignRunner:
        return self.api.campaigns

    async def call(self, method: str, path: str, role: str | None, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        async with self.http.request(method, self.base + path, headers=headers, **kw) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def campaign(self, numbers: list[str], **fields: Any) -> int:
        """A campaign with these numbers (a CSV upload), started."""
        spec = {"name": "Quality of life 2026", "questionnaire": QUESTIONNAIRE, **fields}
        status, created = await self.call("POST", "/api/v1/campaigns", "supervisor", json=spec)
        assert status == 201, created
        cid = int(created["id"])
        status, up = await self.call(
            "POST", f"/api/v1/campaigns/{cid}/numbers", "supervisor", data="\n".join(numbers)
        )
        assert (status, up["bad"]) == (200, []), up
        status, started = await self.call("POST", f"/api/v1/campaigns/{cid}/start", "supervisor")
        assert (status, started["state"]) == (200, "running"), started
        return cid

    async def execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.db_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(self.db_url)
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()


async def until(check: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def survey_world(
    db_url: str, tmp_path: Any, outbound: dict[str, Any] | None = None
) -> AsyncIterator[SurveyWorld]:
    phones = {name: Endpoint(name, 1.0) for name in ("a1", "a2")}
    server = SimAmiServer(phones, time_scale=SCALE)
    port = await server.start()
    store = StoreService(db_url, tmp_path / "outbox")
    settings = Settings(ami=AmiSettings(port=port, secret="ctisecret", auth="plain"))  # type: ignore[arg-type]
    acd = config(
        {"benefits": {"skills": {"benefits": 5}, "wrap_up_s": 5}},
        [agent("a1", {"benefits": 8}, ["benefits"]), agent("a2", {"benefits": 6}, ["benefits"])],
        not_ready_reasons=["break"],
        outbound=outbound or {"max_lines": 10, "inbound_wait_limit_s": 20},
    )
    ivr = IvrService(IvrSettings(port=free_port()), always_open(load_ivr(IVR_FILE)), store)
    core = Core(
        settings,
        acd,
        publish_call=lambda e: None,
        publish_acd=lambda e: None,
        acd_time_scale=SCALE,
        store=store,
        ivr=ivr,
    )
    await core.start()
    await core.ami.wait_connected(5)
    server.pbx.use_fastagi("127.0.0.1", ivr.agi.port)
    api = ApiServer(core, db_url, "127.0.0.1", free_port())
    api_port = await api.start()
    await api.campaigns.close()  # the same runner, with rounds quick enough for a test
    api.campaigns = CampaignRunner(api.ctx, every_s=0.2, poll_s=0.05, answer_grace_s=5.0)
    await api.campaigns.start()
    conn = await asyncpg.connect(db_url)
    tokens = {}
    try:
        for name, role, agent_id in (
            ("ann", "agent", "a1"),
            ("sue", "supervisor", None),
            ("adm", "admin", None),
        ):
            with contextlib.suppress(StoreError):
                await auth.create_user(conn, name, role, agent_id, password="correct horse battery")
            tokens[role] = await auth.issue_token(conn, name, "session")
    finally:
        await conn.close()
    async with aiohttp.ClientSession() as http:
        try:
            base = f"http://127.0.0.1:{api_port}"
            yield SurveyWorld(server, core, api, base, tokens, http, db_url)
        finally:
            await api.close()
            server.pbx.close()
            await core.close()
            await server.close()
