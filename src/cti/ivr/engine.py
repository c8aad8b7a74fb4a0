"""Runs IVR definitions over FastAGI sessions.

Each session takes the definition current when it starts and keeps it to the end, so a
reload (SIGHUP, API) never disturbs a caller already in a menu. The caller's path is
left on the channel as `CTI_IVR_PATH` (`welcome,language:bg,main:2,...`, stored with
the interaction); where the dialplan goes next is `CTI_NEXT` (`queue`, `voicemail`,
`hangup`), with `CTI_QUEUE` / `CTI_TOPIC` / `CTI_PRIORITY` for the ACD. The number the
citizen dialled picks where `inbound` starts (the definition's `numbers`); it is left as
`CTI_CALLED` (stored as the call's `called_number`) and its name as `CTI_LINE`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from cti.config import ConfigError
from cti.ivr import models as m
from cti.ivr.agi import AgiArgumentError, AgiSession, Handler
from cti.store.phone import try_normalise

log = structlog.get_logger(__name__)
MAX_STEPS = 100  # a definition that loops is cut off (the caller goes to the fallback)
UNLISTED_LOGGED = 1_000  # unlisted numbers remembered (a peer making up numbers: no more)


class Definitions:
    """The current IVR definition; `reload()` swaps it only if the new file is valid.
    `adjust` is applied to every definition read (the demo keeps its hotline open)."""

    def __init__(
        self,
        path: Path | None,
        definition: m.IvrDefinition,
        adjust: Callable[[m.IvrDefinition], m.IvrDefinition] | None = None,
    ) -> None:
        self.path = path
        self.current = definition
        self.adjust = adjust

    def reload(self) -> list[str]:
        """Re-read the file; [] if it took effect, else the problems (old one kept)."""
        if self.path is None:
            return ["no IVR file to reload"]
        try:
            loaded = m.load_ivr(self.path)
        except ConfigError as exc:
            log.error("ivr.reload_refused", problems=exc.problems)
            return exc.problems
        self.current = self.adjust(loaded) if self.adjust is not None else loaded
        log.info("ivr.reloaded", file=str(self.path), scripts=sorted(self.current.scripts))
        return []


@dataclass
class IvrServices:
    """What the IVR asks of the rest of the CTI (all optional: a node without its
    service plays nothing and goes on)."""

    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    announcements: Callable[[str | None, dt.datetime], Awaitable[list[str]]] | None = None
    case_status: Callable[[str], Awaitable[str | None]] | None = None
    save_survey: Callable[[str, str, int], None] | None = None


class Ivr:
    def __init__(self, definitions: Definitions, services: IvrServices | None = None) -> None:
        self.definitions = definitions
        self.services = services or IvrServices()
        self.where: dict[str, str] = {}  # channel -> the node its caller is in now
        self._unlisted_in: m.IvrDefinition | None = None
        self._unlisted_seen: set[str] = set()  # numbers not listed, logged once each

    def route(self, script: str) -> Handler | None:
        """The FastAGI handler for a script of the current definition."""
        if script not in self.definitions.current.scripts:
            return None

        async def handler(session: AgiSession) -> None:
            await self.run(script, session)

        return handler

    async def run(self, script: str, s: AgiSession) -> None:
        definition = self.definitions.current  # this caller keeps this one to the end
        path: list[str] = []
        dialled = dialled_number(s.env) if script == "inbound" else None
        name: str | None
        name, number = definition.entry(script, dialled)
        if dialled is not None and number is None:
            self._unlisted(definition, dialled)
        language = number.language if number else None
        steps = 0
        try:
            # A first command Asterisk answers at once: a peer that sent an environment
            # and went silent is let go within the quick timeout, not the long one.
            await s.channel_status()
            if language is not None:
                await s.set_variable("CHANNEL(language)", language)
            while name is not None:
                steps += 1
                if steps > MAX_STEPS:
                    log.error("ivr.loop", script=script, path=path[-10:])
                    await s.set_variable("CTI_NEXT", "fallback")
                    break
                node = definition.nodes[name]
                path.append(name)
                self.where[s.channel] = name
                name = await self._step(definition, node, s, path, language)
        finally:
            self.where.pop(s.channel, None)
            if path and not s.given_up:
                # Even after a hang-up the variable can be set (the CDR wants the path).
                await s.set_variable(path_variable(script), ",".join(path))
                if dialled is not None:  # stored with the call (`called_number`)
                    await s.set_variable("CTI_CALLED", dialled)
                if number is not None:
                    await s.set_variable("CTI_LINE", number.name)

    def _unlisted(self, definition: m.IvrDefinition, dialled: str) -> None:
        """Log once per number (per definition) that a call came to a number not listed."""
        if self._unlisted_in is not definition:
            self._unlisted_in, self._unlisted_seen = definition, set()
        if dialled in self._unlisted_seen or len(self._unlisted_seen) >= UNLISTED_LOGGED:
            return
        self._unlisted_seen.add(dialled)
        log.warning("ivr.number_not_listed", number=dialled, start=definition.scripts["inbound"])

    async def _step(
        self,
        d: m.IvrDefinition,
        node: m.Node,
        s: AgiSession,
        path: list[str],
        language: str | None = None,
    ) -> str | None:
        if isinstance(node, m.Play):
            for prompt in node.prompts:
                await s.stream_file(prompt)
            if node.next is None:
                await s.set_variable("CTI_NEXT", "hangup")
            return node.next
        if isinstance(node, m.RecordingNotice):
            for prompt in node.prompts:
                await s.stream_file(prompt)
            await s.set_variable("CTI_RECORDING_NOTICE", "1")
            return node.next
        if isinstance(node, m.Menu):
            return await self._menu(node, s, path)
        if isinstance(node, m.Collect):
            return await self._collect(node, s, path)
        if isinstance(node, m.Hours):
            is_open = d.is_open(self.services.now(), node.calendar)
            path[-1] += ":open" if is_open else ":closed"
            return node.open if is_open else node.closed
        if isinstance(node, m.Announcements):
            if self.services.announcements is not None:
                prompts = await self.services.announcements(node.topic, self.services.now())
                played = 0
                for prompt in prompts:
                    try:
                        await s.stream_file(prompt)
                    except AgiArgumentError as exc:  # a bad row must not fail every call
                        log.error("ivr.notice_skipped", error=str(exc), channel=s.channel)
                        continue
                    played += 1
                if played:
                    path[-1] += f":{played}"
            return node.next
        if isinstance(node, m.Language):
            digit = await s.stream_file(node.prompt, "".join(node.choices))
            if digit is None:
                digit = await s.wait_for_digit(round(node.timeout_s * 1000))
            chosen = node.choices.get(digit or "", language or node.default)
            await s.set_variable("CHANNEL(language)", chosen)
            path[-1] += f":{chosen}"
            return node.next
        if isinstance(node, m.CaseStatus):
            await self._case_status(node, s, path)
            return node.next
        if isinstance(node, m.Queue):
            await s.set_variable("CTI_QUEUE", node.queue)
            if node.topic:
                await s.set_variable("CTI_TOPIC", node.topic)
            await s.set_variable("CTI_PRIORITY", str(node.priority))
            await s.set_variable("CTI_NEXT", "queue")
            return None
        if isinstance(node, m.CallbackOffer):
            await self._callback_offer(d, node, s, path)
            return None
        if isinstance(node, m.Voicemail):
            for prompt in node.prompts:
                await s.stream_file(prompt)
            await s.set_variable("CTI_NEXT", "voicemail")
            return None
        if isinstance(node, m.Survey):
            await self._survey(node, s, path)
            return None
        assert isinstance(node, m.Hangup)
        for prompt in node.prompts:
            await s.stream_file(prompt)
        await s.set_variable("CTI_NEXT", "hangup")
        return None

    async def _menu(self, node: m.Menu, s: AgiSession, path: list[str]) -> str:
        keys = "".join(node.options) + (node.repeat or "")
        attempts = 0
        plays = 0
        while attempts <= node.retries and plays < 10:
            plays += 1
            digit = await s.stream_file(node.prompt, keys)
            if digit is None:
                digit = await s.wait_for_digit(round(node.timeout_s * 1000))
            if digit is not None and digit == node.repeat:
                continue  # "repeat" costs no attempt
            if digit is not None and digit in node.options:
                path[-1] += f":{digit}"
                return node.options[digit]
            attempts += 1
            if digit is not None and node.invalid_prompt:
                await s.stream_file(node.invalid_prompt)
        path[-1] += ":failed"
        return node.on_failure

    async def _collect(self, node: m.Collect, s: AgiSession, path: list[str]) -> str:
        for _ in range(node.retries + 1):
            digits = await s.get_data(node.prompt, round(node.timeout_s * 1000), node.max_digits)
            if (
                digits
                and node.min_digits <= len(digits) <= node.max_digits
                and (node.pattern is None or re.fullmatch(node.pattern, digits))
            ):
                await s.set_variable(node.variable, digits)
                return node.next
            if digits and node.invalid_prompt:
                await s.stream_file(node.invalid_prompt)
        path[-1] += ":failed"
        return node.on_failure

    async def _case_status(self, node: m.CaseStatus, s: AgiSession, path: list[str]) -> None:
        digits = await s.get_data(node.prompt, round(node.timeout_s * 1000), node.max_digits)
        status = None
        lookup = self.services.case_status
        if digits and len(digits) > 4 and digits.isdigit() and lookup is not None:
            # Keyed as year + number: 2026000123 or 2026123 -> case 2026-000123.
            number = f"{digits[:4]}-{int(digits[4:]):06d}"
            status = await lookup(number)
        prompt = node.status_prompts.get(status or "", node.not_found_prompt)
        path[-1] += f":{status or 'not_found'}"
        await s.stream_file(prompt)

    async def _callback_offer(
        self, d: m.IvrDefinition, node: m.CallbackOffer, s: AgiSession, path: list[str]
    ) -> None:
        own = try_normalise(s.env.get("agi_callerid", ""))
        timeout = round(node.timeout_s * 1000)
        # 3 stays an escape key: without `times` it declines, as it always has.
        keys = "".join(dict.fromkeys("123" + "".join(node.times)))
        digit = await s.stream_file(node.prompt, keys)
        if digit is None:
            digit = await s.wait_for_digit(timeout)
        number: str | None = None
        slot = node.times.get(digit or "")
        at: dt.datetime | None = None
        confirm = node.confirm_prompt
        if (digit == "1" or slot is not None) and own:
            number = own
        elif digit == "2":
            keyed = await s.get_data(node.other_number_prompt, timeout, 15)
            number = try_normalise(keyed or "")
        if number is not None and slot is not None:
            at = d.callback_time(slot, self.services.now())
            if at is None:  # its calendar never opens: as soon as an agent is free
                log.error("ivr.callback_slot_never_open", slot=slot, channel=s.channel)
            confirm = d.callback_slots[slot].confirm_prompt or confirm
        if number is not None and confirm:
            await s.stream_file(confirm)
        path[-1] += (f":accepted:{slot}" if at else ":accepted") if number else ":declined"
        # Before CTI_CALLBACK: the CTI reads the time when the number arrives.
        await s.set_variable("CTI_CALLBACK_AT", str(int(at.timestamp())) if at else "")
        await s.set_variable("CTI_CALLBACK", number or "")

    async def _survey(self, node: m.Survey, s: AgiSession, path: list[str]) -> None:
        digit = await s.stream_file(node.prompt, "12345")
        if digit is None:
            digit = await s.wait_for_digit(round(node.timeout_s * 1000))
        await s.set_variable("CTI_NEXT", "hangup")
        if digit is None or digit not in "12345":
            path[-1] += ":none"
            return
        path[-1] += f":{digit}"
        reply = await s.command('GET FULL VARIABLE "${CHANNEL(linkedid)}"')
        interaction = reply.data or s.uniqueid
        if self.services.save_survey is not None:
            self.services.save_survey(interaction, node.question, int(digit))
        if node.thanks_prompt:
            await s.stream_file(node.thanks_prompt)


def dialled_number(env: dict[str, str]) -> str | None:
    """The number the citizen dialled: the extension the call runs in [cti-inbound]
    (`_X.`), else Asterisk's DNID; None when neither is a number (`s`, `unknown`)."""
    for key in ("agi_extension", "agi_dnid"):
        value = env.get(key, "")
        if m.NUMBER.match(value):
            return value
    return None


def path_variable(script: str) -> str:
    """Where a script leaves the nodes it went through: the call's IVR path
    (`CTI_IVR_PATH`, stored with the call) for `inbound`; another script's (the survey
    after the conversation, the callback offer) its own (`CTI_SURVEY_PATH`), so that it
    does not overwrite the IVR path the citizen took."""
    if script == "inbound":
        return "CTI_IVR_PATH"
    return f"CTI_{script.upper().replace('-', '_')}_PATH"
