"""The IVR as the running server uses it: the FastAGI server, the definition (reloaded
on SIGHUP), and the store behind announcements, case status and surveys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from cti.config import IvrSettings
from cti.ivr.agi import AgiArgumentError, FastAgiServer, Handler, prompt_name
from cti.ivr.campaign import SCRIPT as CAMPAIGN_SCRIPT
from cti.ivr.campaign import CampaignSurvey
from cti.ivr.engine import Definitions, Ivr, IvrServices
from cti.ivr.models import IvrDefinition
from cti.store.outbox import Record

log = structlog.get_logger(__name__)
_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class IvrService:
    def __init__(
        self,
        settings: IvrSettings,
        definition: IvrDefinition,
        store: Any = None,  # StoreService: announcements, cases, surveys
        adjust: Callable[[IvrDefinition], IvrDefinition] | None = None,
        may_act: Callable[[], bool] | None = None,  # several CTIs: whether this one leads
        now: Callable[[], dt.datetime] | None = None,  # the IVR's clock (hours, slots)
    ) -> None:
        self._store = store
        services = IvrServices() if now is None else IvrServices(now=now)
        if store is not None:
            services.announcements = self._announcements
            services.case_status = self._case_status
            services.save_survey = self._save_survey
        self.ivr = Ivr(Definitions(settings.file, definition, adjust), services)
        # Survey campaigns' calls (issue 21): a script of the product, not of the file.
        self.campaign = CampaignSurvey(store.connect) if store is not None else None
        self.agi = FastAgiServer(
            self._route,
            settings.host,
            settings.port,
            settings.max_sessions,
            env_timeout_s=settings.env_timeout_s,
            command_timeout_s=settings.command_timeout_s,
            quick_timeout_s=settings.quick_timeout_s,
            may_act=may_act,
        )

    async def start(self) -> int:
        return await self.agi.start()

    def _route(self, script: str) -> Handler | None:
        if script == CAMPAIGN_SCRIPT and self.campaign is not None:
            return self.campaign.handle
        return self.ivr.route(script)

    async def close(self) -> None:
        await self.agi.close()

    def reload(self) -> list[str]:
        return self.ivr.definitions.reload()

    async def _announcements(self, topic: str | None, now: dt.datetime) -> list[str]:
        from cti.store.announcements import current_announcements

        try:
            conn = await self._store.connect()
            try:
                notices = await current_announcements(conn, topic, now)
            finally:
                await conn.close()
        except _DB_ERRORS as exc:
            log.warning("ivr.announcements_unavailable", error=str(exc))
            return []  # the caller is not kept waiting for the database
        prompts = []
        for notice in notices:
            if not notice.prompt:
                continue
            try:
                prompts.append(prompt_name(notice.prompt))
            except AgiArgumentError as exc:  # stored before prompts were checked: skipped
                log.error("ivr.notice_skipped", announcement=notice.id, error=str(exc))
        return prompts

    async def _case_status(self, number: str) -> str | None:
        from cti.store.cases import case_by_number
        from cti.store.errors import StoreError

        try:
            conn = await self._store.connect()
            try:
                return (await case_by_number(conn, number)).status
            finally:
                await conn.close()
        except StoreError:
            return None
        except _DB_ERRORS as exc:
            log.warning("ivr.case_status_unavailable", error=str(exc))
            return None

    def _save_survey(self, interaction: str, question: str, score: int) -> None:
        now = dt.datetime.now(dt.UTC).timestamp()
        self._store.put(
            Record(
                "survey",
                f"{interaction}:{question}",
                {"interaction_id": interaction, "question": question, "score": score, "at": now},
            )
        )
