"""`[cti-survey-call]` as the simulated PBX runs it (issue 21): a survey campaign's
Originate of `PJSIP/<number>@trunk` rings the citizen; answered, `AMD()` sets
`AMDSTATUS` (HUMAN, MACHINE or NOTSURE) and the IVR's `campaign-survey` script runs over
FastAGI: with no argument for a person, who answers by the DTMF of a scripted profile
(`SurveyCitizen.keys`, one entry per question, "" for none), with the status as the
argument for a machine. Then the call ends. A number without a profile never answers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from cti.sim.channels import Switch
from cti.sim.dialplan import Dialplan
from cti.sim.models import Channel, Citizen

SURVEY_CALL = "cti-survey-call"
SCRIPT = "campaign-survey"
AMD_S = 2.5  # AMD's analysis of the greeting, simulated seconds
RING_S = 30.0  # the Originate's ring timeout when the citizen does not answer


@dataclass
class SurveyCitizen:
    """A called citizen: busy, never answering, an answering machine, or a person who
    keys `keys` (one entry per input: the intro, then each question)."""

    answers: bool = True
    busy: bool = False
    amd: Literal["HUMAN", "MACHINE", "NOTSURE"] = "HUMAN"
    answer_after_s: float = 3.0
    keys: list[str] = field(default_factory=list)
    hang_up_after_s: float | None = None  # puts the phone down this long after answering


class SurveyCalls:
    """Places survey calls on the simulated switch; `citizens`: number -> behaviour."""

    def __init__(
        self,
        switch: Switch,
        dialplan: Dialplan,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        hangup: Callable[[str, int], None],
    ) -> None:
        self._switch = switch
        self._dialplan = dialplan
        self._spawn = spawn
        self._hangup = hangup
        self.citizens: dict[str, SurveyCitizen] = {}
        self.placed: list[str] = []  # numbers called, in order
        self.shown: dict[str, str] = {}  # number -> the caller id its phone showed
        self.up = 0  # survey calls in progress now
        self.most_up = 0  # the most at once

    def originate(
        self,
        channel: str,
        variables: dict[str, str],
        done: Callable[[Channel, int], None],
        caller_id: str = "",
        channel_id: str | None = None,
    ) -> None:
        """`Originate PJSIP/<number>@trunk` into `[cti-survey-call]`; `caller_id` is the
        Originate's CallerID (what the citizen's phone shows)."""
        sw = self._switch
        number = channel.partition("/")[2].partition("@")[0]
        self.placed.append(number)
        self.shown[number] = caller_id
        profile = self.citizens.get(number, SurveyCitizen(answers=False))
        ch = sw.new_channel(
            "PJSIP/trunk", number, "<unknown>", SURVEY_CALL, "s", uniqueid=channel_id
        )
        for key, value in variables.items():
            sw.setvar(ch, key, value)
        if profile.busy:  # 486 Busy Here: Asterisk 22 says Reason 0; the Hangup says 17
            sw.finish(ch, 17)
            done(ch, 0)
            return
        self.up += 1
        self.most_up = max(self.most_up, self.up)
        sw.newstate(ch, 5)

        def no_answer() -> None:
            if ch.state == 5:
                self.up -= 1
                sw.finish(ch, 19)
                done(ch, 3)

        def answer() -> None:
            if ch.state != 5 or ch.hung_up:
                return
            sw.newstate(ch, 6)
            done(ch, 4)
            ch.citizen = Citizen(number, "", keys=list(profile.keys))
            sw.newexten(ch, SURVEY_CALL, "s", 1, "AMD", "")
            sw.later(ch, AMD_S, lambda: self._detected(ch, profile))
            if profile.hang_up_after_s is not None:
                sw.later(ch, profile.hang_up_after_s, lambda: self._hangup(ch.name, 16))

        if profile.answers and profile.answer_after_s < RING_S:
            sw.later(ch, profile.answer_after_s, answer)
        else:
            sw.later(ch, RING_S, no_answer)

    def _detected(self, ch: Channel, profile: SurveyCitizen) -> None:
        sw = self._switch
        sw.setvar(ch, "AMDSTATUS", profile.amd)
        sw.setvar(ch, "AMDCAUSE", "HUMAN-500-500" if profile.amd == "HUMAN" else "LONGGREETING")
        human = profile.amd == "HUMAN"
        sw.newexten(ch, SURVEY_CALL, "s", 2, "GotoIf", f'$["{profile.amd}" = "HUMAN"]?human')
        self._spawn(self._survey(ch, [] if human else [profile.amd]))

    async def _survey(self, ch: Channel, args: list[str]) -> None:
        agi = self._dialplan.agi
        try:
            if agi is not None:
                target = f"agi://{agi.host}:{agi.port}/{SCRIPT}"
                data = ",".join([target, *args])
                self._switch.newexten(ch, SURVEY_CALL, "s", 5 if not args else 3, "AGI", data)
                await agi.run(ch, SCRIPT, args)
            if not ch.hung_up:
                self._hangup(ch.name, 16)
        finally:
            self.up -= 1
