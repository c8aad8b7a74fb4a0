"""Places survey campaigns' calls (issue 21, docs/outbound.md "Survey campaigns").

Every `every_s`, for each running campaign within its calling hours, due numbers are
taken and called: AMI `Originate` of `PJSIP/<number>@trunk` into `[cti-survey-call]`
(with `CTI_CAMPAIGN` and `CTI_CAMPAIGN_NUMBER`), which runs `AMD()` and then the IVR's
`campaign-survey` script. Not answered or busy (the OriginateResponse's reason) is
recorded here; an answered call's outcome is the IVR's. The ACD's outbound policy
holds: no call while an inbound caller waits beyond `inbound_wait_limit_s`, and all
survey calls together never above `max_lines` (each campaign also within its own
`lines`). With several CTIs only the one that may act places calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import structlog

from cti.ami.errors import AmiError, OriginateFailed
from cti.api.context import Context
from cti.campaigns.models import inbound_waiting_too_long, lines_free, outside_hours
from cti.store import campaigns

log = structlog.get_logger(__name__)
SURVEY_CONTEXT = "cti-survey-call"
# OriginateResponse Reason -> outcome (3 no answer, 5 busy, 8 congestion: try later).
_NOT_ANSWERED = {3: "no_answer", 5: "busy", 8: "busy"}


class CampaignRunner:
    """Owns the round task and one task per call in progress (all cancelled on close)."""

    def __init__(
        self,
        ctx: Context,
        may_act: Callable[[], bool] | None = None,
        every_s: float = 2.0,
        ring_s: float = 30.0,
        answer_grace_s: float = 30.0,
        survey_max_s: float = 1800.0,
        poll_s: float = 0.5,
    ) -> None:
        self.ctx = ctx
        self._may_act = may_act
        self._shown: str | None = None  # the hotline caller id, once read (_caller_id)
        self.every_s, self.ring_s, self.poll_s = every_s, ring_s, poll_s
        # After the answer: AMD's analysis and the IVR starting; then the questionnaire.
        self.answer_grace_s, self.survey_max_s = answer_grace_s, survey_max_s
        self.calls: dict[int, asyncio.Task[None]] = {}  # number id -> its call
        self._campaign_of: dict[int, int] = {}
        self.most_at_once = 0  # the most survey calls seen in progress at once
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="campaign-runner")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self.calls.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def _run(self) -> None:
        released = False
        while True:
            await asyncio.sleep(self.every_s)
            try:
                if not released and self._acting() and self.ctx.pool is not None:
                    async with self.ctx.pool.acquire() as conn:
                        await campaigns.release_calling(conn)  # left by an earlier run
                    released = True
                await self.round()
            except Exception as exc:  # a database outage, say: the next round tries again
                log.warning("campaigns.round_failed", error=str(exc))

    def _acting(self) -> bool:
        return self._may_act is None or self._may_act()

    def refusal(self) -> str | None:
        """Why no survey call may be placed now, the ACD's policy asked (None: it may)."""
        acd = self.ctx.core.acd
        if acd is None:
            return None
        now = acd.now()
        waits = [now - c.entered for c in acd.acd.calls() if c.state == "waiting"]
        if inbound_waiting_too_long(waits, acd.acd.config.outbound.inbound_wait_limit_s):
            return "inbound_waiting"
        return None

    async def round(self) -> int:
        """One pass: the calls placed now."""
        if not self._acting() or self.ctx.pool is None or self.refusal() is not None:
            return 0
        acd = self.ctx.core.acd
        max_lines = acd.acd.config.outbound.max_lines if acd is not None else 10
        ivr = self.ctx.core.ivr
        definition = ivr.ivr.definitions.current if ivr is not None else None
        wall = dt.datetime.now(dt.UTC)
        placed = 0
        async with self.ctx.pool.acquire() as conn:
            for campaign in await campaigns.listed(conn, "running"):
                cid = campaign["id"]
                calendar = campaign["calendar"] or self.ctx.core.settings.outbound.calendar
                if outside_hours(definition, calendar, wall) is not None:
                    continue
                mine = sum(1 for c in self._campaign_of.values() if c == cid)
                free = lines_free(campaign["lines"], mine, len(self.calls), max_lines)
                due = await campaigns.claim_due(conn, cid, free) if free else []
                for number in due:
                    self._place(cid, number)
                    placed += 1
                if not due and not mine and await campaigns.finish_if_done(conn, cid):
                    log.info("campaigns.done", campaign=cid)
        self.most_at_once = max(self.most_at_once, len(self.calls))
        return placed

    def _place(self, cid: int, number: dict[str, Any]) -> None:
        nid = number["id"]
        task = asyncio.create_task(self._call(cid, number), name=f"campaign-call-{nid}")
        self.calls[nid] = task
        self._campaign_of[nid] = cid

        def done(_: asyncio.Task[None]) -> None:
            self.calls.pop(nid, None)
            self._campaign_of.pop(nid, None)

        task.add_done_callback(done)

    async def _call(self, cid: int, number: dict[str, Any]) -> None:
        try:
            await self._attempt(cid, number)
        except Exception as exc:  # the database away, say: the attempt is closed at restart
            log.warning("campaigns.call_failed", number=number["id"], error=str(exc))

    async def _attempt(self, cid: int, number: dict[str, Any]) -> None:
        nid = number["id"]
        try:
            await self.ctx.core.ami.send_action(
                {
                    "Action": "Originate",
                    "Channel": f"PJSIP/{number['phone']}@trunk",
                    # Named, so that a failure Asterisk gives no reason for (a busy
                    # phone: Reason 0) is told by the channel's hang-up cause.
                    "ChannelId": f"cti-survey-{nid}-{secrets.token_hex(4)}",
                    "Context": SURVEY_CONTEXT,
                    "Exten": "s",
                    "Priority": "1",
                    "Async": "true",
                    "Timeout": str(round(self.ring_s * 1000)),
                    "Variable": [f"CTI_CAMPAIGN={cid}", f"CTI_CAMPAIGN_NUMBER={nid}"],
                    **await self._caller_id(),
                },
                timeout=self.ring_s + 30,
            )
        except OriginateFailed as exc:
            outcome = _NOT_ANSWERED.get(exc.reason_code, "failed")
            log.info("campaigns.not_answered", number=nid, reason=exc.reason_code, outcome=outcome)
            await self._record(nid, outcome)
            return
        except AmiError as exc:
            log.warning("campaigns.originate_failed", number=nid, error=str(exc))
            await self._record(nid, "failed")
            return
        await self._follow(nid)

    async def _caller_id(self) -> dict[str, str]:
        """The Originate's CallerID: the hotline's public number and name, read from
        the dialplan's globals (CTI_HOTLINE_NUMBER/NAME, deploy/asterisk), so that the
        citizen's phone shows the hotline (not the trunk's default) and the number is
        configured in one place. Read once it is set; none while the dialplan sets none."""
        if self._shown is None:
            found = []
            for name in ("CTI_HOTLINE_NUMBER", "CTI_HOTLINE_NAME"):
                try:
                    reply = await self.ctx.core.ami.send_action(
                        {"Action": "Getvar", "Variable": name}
                    )
                except AmiError as exc:
                    log.warning("campaigns.hotline_number_unknown", error=str(exc))
                    return {}
                first = reply[0] if isinstance(reply, list) else reply
                found.append(str(first.get("Value") or "").strip())
            number, name = found
            name = "".join(c for c in name if c not in '"<>')
            shown = f'"{name}" <{number}>' if number and name else number
            if not shown:
                return {}  # not set (yet: a dialplan reload may add it): asked again
            self._shown = shown
        return {"CallerID": self._shown}

    async def _follow(self, nid: int) -> None:
        """Answered: the IVR records the outcome. An attempt the IVR never took up
        (hung up during AMD) or never finished is closed here as `failed`."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            await asyncio.sleep(self.poll_s)
            async with self.ctx.pool.acquire() as conn:
                status = await campaigns.number_status(conn, nid)
            elapsed = loop.time() - started
            if status not in ("calling", "surveying"):
                return
            limit = self.answer_grace_s if status == "calling" else self.survey_max_s
            if elapsed > limit:
                await self._record(nid, "failed")
                return

    async def _record(self, nid: int, outcome: str) -> None:
        async with self.ctx.pool.acquire() as conn:
            await campaigns.record_outcome(conn, nid, outcome)
