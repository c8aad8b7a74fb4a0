"""The FastAGI script `campaign-survey` (`[cti-survey-call]`, issue 21): the citizen a
survey campaign called answers its questionnaire by DTMF.

The dialplan runs `AMD()` first. A person (`AMDSTATUS=HUMAN`) gets the intro ("... press
9 never to be called again"), then each question: a scale 1-5, yes (1) / no (2), digits
ended by `#`, or a spoken comment recorded to a file. A question not answered is asked
once more, then skipped. 9 on the intro or a one-key question opts the number out of
every campaign. An answering machine or an unsure detection comes here with the status
as the argument (`AGI(.../campaign-survey,MACHINE)`): nothing is played, the attempt is
counted `machine`. Every answer is stored as it is given; the outcome (completed,
partial, refused, opted out) when the script ends, a hang-up included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from cti.campaigns.models import OPT_OUT_KEY, Question, Questionnaire, accepted, survey_outcome
from cti.ivr.agi import AgiClosed, AgiSession, quote
from cti.store import campaigns

log = structlog.get_logger(__name__)
SCRIPT = "campaign-survey"
# Where Asterisk writes spoken comments (on the PBX; the answer keeps the file's path).
COMMENT_DIR = "/var/spool/asterisk/cti-survey"


class CampaignSurvey:
    """The script's handler; `connect()` opens a database connection (the store's)."""

    def __init__(self, connect: Callable[[], Awaitable[Any]]) -> None:
        self._connect = connect

    async def _db(self, action: Callable[[Any], Awaitable[Any]]) -> Any:
        conn = await self._connect()
        try:
            return await action(conn)
        finally:
            await conn.close()

    async def handle(self, s: AgiSession) -> None:
        nid_text = await s.get_variable("CTI_CAMPAIGN_NUMBER")
        if not nid_text or not nid_text.isdigit():
            log.error("campaign.no_number", channel=s.channel)
            return
        nid = int(nid_text)
        if s.args and s.args[0].upper() != "HUMAN":  # MACHINE or NOTSURE: not surveyed
            await self._db(lambda c: campaigns.record_outcome(c, nid, "machine"))
            return
        number = await self._db(lambda c: campaigns.start_survey(c, nid))
        if number is None:
            log.warning("campaign.not_calling", number=nid, channel=s.channel)
            return
        questionnaire = Questionnaire.model_validate(number["questionnaire"])
        answered = 0
        outcome: str | None = None
        try:
            await s.set_variable("CHANNEL(language)", questionnaire.language)
            if await s.stream_file(questionnaire.intro_prompt, OPT_OUT_KEY) == OPT_OUT_KEY:
                outcome = await self._opt_out(s, questionnaire, number)
                return
            for question in questionnaire.questions:
                value, comment = await self._ask(s, questionnaire, question, nid, number)
                if value == OPT_OUT_KEY and question.kind in ("scale", "yes_no"):
                    outcome = await self._opt_out(s, questionnaire, number)
                    return
                if value is None:
                    continue
                await self._save(nid, question.id, value, comment)
                if question.kind != "comment":
                    answered += 1
            outcome = survey_outcome(answered, questionnaire.answers_needed())
            await s.stream_file(questionnaire.thanks_prompt)
        except AgiClosed:
            pass  # hung up: the answers so far decide
        finally:
            final = outcome or survey_outcome(answered, questionnaire.answers_needed())
            await self._db(lambda c: campaigns.record_outcome(c, nid, final))
            log.info("campaign.surveyed", number=nid, outcome=final, answers=answered)

    async def _save(self, nid: int, question: str, value: str, comment: str | None) -> None:
        await self._db(lambda c: campaigns.save_answer(c, nid, question, value, comment))

    async def _opt_out(self, s: AgiSession, questionnaire: Questionnaire, number: Any) -> str:
        await self._db(lambda c: campaigns.opt_out(c, number["phone"], number["campaign_id"]))
        await s.stream_file(questionnaire.opted_out_prompt)
        return "opted_out"

    async def _ask(
        self, s: AgiSession, questionnaire: Questionnaire, q: Question, nid: int, number: Any
    ) -> tuple[str | None, str | None]:
        """The answer (or the opt-out key) and, for a comment, the recording's path."""
        if q.kind == "comment":
            path = f"{COMMENT_DIR}/{number['campaign_id']}-{nid}-{q.id}"
            await s.stream_file(q.prompt)
            reply = await s.command(
                f"RECORD FILE {quote(path)} wav {quote('#')} {q.max_s * 1000} BEEP s=3"
            )
            recorded = reply.result is not None and reply.result >= 0 and not s.hung_up
            return ("recorded", path + ".wav") if recorded else (None, None)
        digits = 1 if q.kind in ("scale", "yes_no") else q.max_digits
        for attempt in range(2):
            if attempt:
                await s.stream_file(questionnaire.invalid_prompt)
            keys = await s.get_data(q.prompt, round(q.timeout_s * 1000), digits)
            if keys == OPT_OUT_KEY and digits == 1:
                return OPT_OUT_KEY, None
            value = accepted(q, keys)
            if value is not None:
                return value, None
        return None, None
