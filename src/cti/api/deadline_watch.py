"""The deadline watch (issue 22, docs/organisations.md): every `check_every_s` the
leading CTI raises the alerts of cases that became due soon or overdue (once per case
and kind, kept in the database), which land in the users' inboxes; publishes
`case.due_soon` / `case.overdue` on the bus (webhooks take `case.*`); and mails the
inbox entries of users with an e-mail address when `[smtp] host` is set, retrying a
failed send (the entry stays in the inbox whatever the mail does).

With several CTIs only the leader checks (`may_act`); two checkers at once still raise
and send each alert once (the store's ON CONFLICT / SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import smtplib
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from cti.api import mail
from cti.api.context import Context
from cti.config import DeadlineSettings, SmtpSettings
from cti.store import deadlines

log = structlog.get_logger(__name__)
MAIL_BATCH = 50  # e-mails claimed per round; the rest wait for the next
MAIL_FAILURES = (OSError, smtplib.SMTPException, TimeoutError)


class DeadlineWatch:
    """Owns the periodic check: started and closed by the API server."""

    def __init__(
        self,
        ctx: Context,
        settings: DeadlineSettings,
        smtp: SmtpSettings,
        zone: Callable[[], str],
        may_act: Callable[[], bool] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.ctx = ctx
        self.settings, self.smtp = settings, smtp
        self._zone = zone  # the centre's time zone: its day is the deadlines' today
        self._may_act = may_act  # several CTIs: only the leader checks
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-deadlines")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_every_s)
            if self._may_act is not None and not self._may_act():
                continue  # a standby: the leader checks
            try:
                await self.round()
            except Exception as exc:  # a database outage, say: the next round tries again
                log.warning("deadlines.round_failed", error=str(exc))

    def today(self) -> dt.date:
        """The centre's day now."""
        return self._clock().astimezone(ZoneInfo(self._zone())).date()

    async def round(self) -> list[dict[str, Any]]:
        """One check: the alerts raised now (published), then the e-mails due."""
        if self.ctx.pool is None:
            return []
        day = self.today()
        async with self.ctx.pool.acquire() as conn:
            raised = await deadlines.raise_alerts(
                conn, day, self.settings.due_soon_days, bool(self.smtp.host)
            )
        for alert in raised:
            case = json.loads(alert["case"].model_dump_json())
            self.ctx.core.bus.publish(f"case.{alert['kind']}", case)
        if raised:
            log.info("deadlines.alerts_raised", count=len(raised), day=day.isoformat())
        if self.smtp.host:
            await self.send_mail()
        return raised

    async def send_mail(self) -> dict[str, int]:
        """Send the e-mails due now; a failure is logged and retried later."""
        if self.ctx.pool is None:
            return {}
        # Claimed past any send's own bound: a CTI that dies mid-send leaves it to a later round.
        lease = self.smtp.timeout_s * 4 + self.settings.check_every_s
        async with self.ctx.pool.acquire() as conn:
            due = await deadlines.claim_mail(conn, MAIL_BATCH, lease)
        outcomes: dict[str, int] = {}
        for entry in due:
            error: str | None = None
            try:
                await mail.send(self.smtp, mail.compose(self.smtp, entry))
            except MAIL_FAILURES as exc:
                error = f"{type(exc).__name__}: {exc}"
            async with self.ctx.pool.acquire() as conn:
                status = await deadlines.mail_done(
                    conn,
                    entry["id"],
                    error,
                    entry["attempts"],
                    self.smtp.max_attempts,
                    self.smtp.retry_after_s,
                )
            if error is not None:
                log.warning(
                    "deadlines.mail_failed",
                    entry=entry["id"],
                    case=entry["case_number"],
                    attempt=entry["attempts"],
                    status=status,
                    error=error,
                )
            outcomes[status] = outcomes.get(status, 0) + 1
        return outcomes
