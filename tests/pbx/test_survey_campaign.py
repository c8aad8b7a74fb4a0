"""The pbx tier's survey campaign (issue 21, docs/outbound.md "Survey campaigns"): a
supervisor creates a campaign over REST with one number and starts it; the CTI's runner
originates `PJSIP/<number>@trunk` into `[cti-survey-call]`, where Asterisk's `AMD()`
listens to the citizen's "hello?" and, a person, hands the call to the questionnaire
(FastAGI `campaign-survey`). The citizen's phone behind the trunk (sipp,
sipp/survey-answer.xml) says a short greeting, keys the answers (RFC 4733) and waits
for Asterisk's BYE. What Asterisk did (the INVITE the phone got, CEL, its log) is held
against what the CTI stored (the number's status and outcome, the attempt, the answers)
and reported (`GET .../results`)."""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass

import pytest
from celfacts import Cel
from findings import Findings, poll
from hotline import Agent, Hotline, agents, hotline
from peers import trunk_phone
from sipp import SCENARIOS, Sipp, tone_ulaw
from test_control import presented, rest

pytestmark = pytest.mark.pbx

PHONE = "0888555009"  # behind the trunk (the UAS answers any number)
E164 = "+359888555009"
HOTLINE_NUMBER = "080012345"  # CTI_HOTLINE_NUMBER in deploy/asterisk/extensions.conf
# Only Asterisk's own sounds and the IVR's cti/* exist on this Asterisk (sounds/en):
# the questionnaire uses those, so that every prompt really plays.
QUESTIONNAIRE = {
    "language": "en",
    "intro_prompt": "hello-world",  # 0.93 s
    "invalid_prompt": "cti/invalid-choice",
    "thanks_prompt": "cti/thank-you",  # 0.79 s
    "opted_out_prompt": "vm-goodbye",
    "questions": [
        {"id": "service", "kind": "scale", "prompt": "cti/survey-1-to-5"},  # 1.58 s
        {"id": "solved", "kind": "yes_no", "prompt": "cti/enter-number"},  # 1.07 s
        {"id": "age", "kind": "digits", "prompt": "cti/enter-case-number", "max_digits": 3},
    ],
}
# What the citizen keys for each question, and what the product stores for it.
KEYS = ("4", "1", "42#")
STORED = {"service": "4", "solved": "yes", "age": "42"}
# Timing (ms after the citizen's 200 OK): AMD hears the tone (0.8 s) and 0.8 s of
# silence after it (HUMAN at 1.6 s in the runs), the intro plays (0.9 s), then the
# first question (1.6 s) waits 6 s for a key: keys count from 2.5 s to 10 s. Each
# key starts the next question at once (its prompt about 1-1.5 s, then 6 s), so the
# keys go 3 s apart, in the middle of each window.
GREETING_S = 0.8
FIRST_MS = 6500
EVERY_MS = 3000
PCMU, EVENT = 0, 101  # payload types of Asterisk's offer (trunk: alaw, ulaw; RFC 4733)
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def rtp_pcap(packets: list[tuple[int, int, bool, int, bytes]], seq: int = 0) -> bytes:
    """RTP packets (microseconds from the start, payload type, marker, RTP timestamp,
    payload) as a pcap for sipp's play_pcap_audio, which sends their RTP as it is (with
    the pcap's timing) from the SDP's media port to the far end's: one stream across
    the files, so each goes on with the sequence numbers and timestamps (`seq`, the
    packets' own) of the one before (Asterisk took a key press with the timestamp of an
    earlier one for a repeat of that one and dropped it)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n, (at, pt, marker, stamp, payload) in enumerate(packets):
        rtp = struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq + n, stamp, 0x5EED)
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp) + len(payload), 0) + rtp + payload
        ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0)
        frame = b"\x00" * 12 + b"\x08\x00" + ip + bytes([127, 0, 0, 1] * 2) + udp
        out += struct.pack("<IIII", at // 1_000_000, at % 1_000_000, len(frame), len(frame))
        out += frame
    return bytes(out)


def voice(ulaw: bytes) -> bytes:
    """PCMU audio in 20 ms packets."""
    frames = [ulaw[i : i + 160] for i in range(0, len(ulaw) - 159, 160)]
    return rtp_pcap([(n * 20_000, PCMU, n == 0, n * 160, f) for n, f in enumerate(frames)])


def keys(digits: str, at_ms: int, press_ms: int = 200, gap_ms: int = 300) -> bytes:
    """RFC 4733 key presses `at_ms` after the greeting began: each an event of
    `press_ms` (a packet every 20 ms, the first with the marker, the end sent three
    times), `gap_ms` apart."""
    packets = []
    start = 0
    base = at_ms * 8  # the RTP clock: 8 kHz
    for digit in digits:
        code = EVENTS[digit]
        steps = press_ms // 20
        for i in range(1, steps + 1):
            end = i == steps
            body = struct.pack("!BBH", code, (0x80 if end else 0) | 10, i * 160)
            for _ in range(3 if end else 1):
                packets.append((start + i * 20_000, EVENT, i == 1, base + start * 8 // 1000, body))
        start += (press_ms + gap_ms) * 1000
    return rtp_pcap(packets, seq=at_ms // 20)


def survey_citizen(
    line: Hotline, presses: tuple[str, ...] = KEYS, greeting_s: float = GREETING_S
) -> Sipp:
    """The citizen's phone for the campaign's call (sipp/survey-answer.xml): says a
    greeting of `greeting_s`, keys `presses` (none to three, a question's answer each)
    and waits for the BYE."""
    # "Hello?": a tone, then silence (0xFF is mu-law's zero) going on past AMD's decision.
    (line.run / "survey-greeting.pcap").write_bytes(
        voice(tone_ulaw(440.0, greeting_s) + b"\xff" * (8000 * 3))
    )
    for n, digits in enumerate(presses, start=1):
        at_ms = FIRST_MS + (n - 1) * EVERY_MS
        (line.run / f"survey-keys-{n}.pcap").write_bytes(keys(digits, at_ms))
    scenario = line.run / "survey-answer.xml"
    text = (SCENARIOS / "survey-answer.xml").read_text()
    for n in range(len(presses) + 1, 4):  # fewer keys: their steps go
        wait = "FIRST_MS" if n == 1 else "EVERY_MS"
        step = (
            f'  <pause milliseconds="{wait}"/>\n'
            f'  <nop><action><exec play_pcap_audio="KEY{n}_FILE"/></action></nop>\n'
        )
        assert step in text, step
        text = text.replace(step, "")
    for key, value in (
        ("ANSWER_MS", "1000"),
        ("GREETING_FILE", "survey-greeting.pcap"),
        ("FIRST_MS", str(FIRST_MS)),
        ("EVERY_MS", str(EVERY_MS)),
        ("STAY_MS", "20000"),
        ("KEY1_FILE", "survey-keys-1.pcap"),
        ("KEY2_FILE", "survey-keys-2.pcap"),
        ("KEY3_FILE", "survey-keys-3.pcap"),
    ):
        text = text.replace(key, value)
    scenario.write_text(text)
    return trunk_phone(line, "survey-citizen", scenario, echo=False)


async def started(line: Hotline, name: str) -> tuple[int, str]:
    """A campaign of one number, PHONE, created, filled and started over REST by the
    supervisor: (its id, its path)."""
    spec = {"name": name, "questionnaire": QUESTIONNAIRE, "max_attempts": 1, "lines": 1}
    status, created = await rest(line, "POST", "/api/v1/campaigns", "boss", spec)
    assert status == 201, created
    path = f"/api/v1/campaigns/{created['id']}"
    assert line.session is not None
    headers = {"Authorization": f"Bearer {line.tokens['boss']}"}
    async with line.session.post(
        f"{line.base}{path}/numbers", data=f"phone\n{PHONE}\n", headers=headers
    ) as r:
        uploaded = (r.status, await r.json())
    assert uploaded[0] == 200, uploaded
    assert uploaded[1]["added"] == 1, uploaded
    status, moved = await rest(line, "POST", f"{path}/start", "boss")
    assert (status, moved.get("state")) == (200, "running"), moved
    return int(created["id"]), path


async def settled(line: Hotline, cid: int) -> list[dict[str, object]]:
    """The campaign's numbers once none is waiting or being called (15 s at most)."""

    async def final() -> list[dict[str, object]]:
        rows = await line.rows("SELECT * FROM campaign_numbers WHERE campaign_id = $1", cid)
        busy = ("pending", "calling", "surveying")
        return rows if rows and rows[0]["status"] not in busy else []

    await poll(final, 15)
    return await line.rows("SELECT * FROM campaign_numbers WHERE campaign_id = $1", cid)


async def test_a_survey_campaign_calls_a_citizen_who_answers_the_questionnaire(
    db_url: str,
) -> None:
    async with hotline(db_url, nobody()) as line:
        citizen = survey_citizen(line)
        cid, path = await started(line, "Quality of services 2026")
        try:
            exit_code: int | None = citizen.wait(90)
        except subprocess.TimeoutExpired:
            exit_code = None
        await line.settle()
        numbers = await settled(line, cid)
        nids = [n["id"] for n in numbers]
        attempts = await line.rows(
            "SELECT * FROM campaign_attempts WHERE number_id = ANY($1) ORDER BY id", nids
        )
        answers = await line.rows(
            "SELECT * FROM campaign_answers WHERE number_id = ANY($1) ORDER BY at", nids
        )

        async def done() -> dict[str, object] | None:
            _, campaign = await rest(line, "GET", path, "boss")
            return campaign if campaign.get("state") == "done" else None

        await poll(done, 10)
        _, campaign = await rest(line, "GET", path, "boss")
        status, results = await rest(line, "GET", f"{path}/results", "boss")
        cel = Cel(line.asterisk.cel_file)
        log = line.asterisk.log_text()
        messages = citizen.messages()
        errors = citizen.errors()
    m = Findings()
    m.equal(exit_code, 0, f"the citizen's sipp exit code (errors: {errors[-1500:]!r})")
    # The INVITE: his number, from the hotline.
    m.check(f"INVITE sip:{E164}@" in messages, "the citizen's phone got no INVITE for his number")
    shown = presented(messages)
    m.check(
        f"sip:{HOTLINE_NUMBER}@" in shown,
        f"the citizen's phone is not shown the hotline's number {HOTLINE_NUMBER}: {shown!r}",
    )
    # What Asterisk did: one call out through the trunk, answered, AMD said HUMAN, the
    # questionnaire heard the keys, Asterisk hung up.
    trunks = cel.channels("PJSIP/trunk-")
    m.equal(len(trunks), 1, f"CEL: calls out through the trunk: {trunks}")
    trunk = trunks[0] if trunks else ""
    m.check(cel.first("ANSWER", trunk) is not None, "CEL: the citizen's leg never answered")
    surveyed = [r for r in cel.rows if r.channel == trunk and r.context == "cti-survey-call"]
    m.check(bool(surveyed), "CEL: the call never reached [cti-survey-call]")
    keyed = [str(r.extra.get("digit")) for r in surveyed if r.kind == "DTMF"]
    m.equal(keyed, list("".join(KEYS)), "CEL: the digits Asterisk heard in [cti-survey-call]")
    m.check(
        bool(trunk) and cel.hangup_source(trunk) != trunk,
        f"CEL: the citizen hung up (source {cel.hangup_source(trunk)!r}): Asterisk never"
        " ended the questionnaire",
    )
    amd = re.findall(r"AMD: Channel \[[^\]]*\]\. ([A-Z]+)\b", log)
    agi = re.findall(r"Executing \[s@cti-survey-call:\d+\] AGI\(\"[^\"]*\", \"([^\"]*)\"\)", log)
    m.check("HUMAN" in amd, f"Asterisk's log: AMD's verdicts {amd}")
    m.check(
        any(a.endswith("/campaign-survey") for a in agi),
        f"Asterisk's log: the questionnaire was not run for a person: AGI {agi}",
    )
    # What the CTI stored and reports.
    m.equal(
        [(n["phone"], n["status"], n["last_outcome"], n["attempts"]) for n in numbers],
        [(E164, "completed", "completed", 1)],
        "the campaign's number",
    )
    m.equal(
        [(a["attempt"], a["outcome"]) for a in attempts], [(1, "completed")], "campaign_attempts"
    )
    m.equal({a["question"]: a["value"] for a in answers}, STORED, "campaign_answers")
    m.equal(len(answers), len(STORED), "one answer per question")
    m.equal(campaign.get("state"), "done", "the campaign after its only number")
    m.equal(status, 200, "GET .../results")
    m.equal(results.get("statuses"), {"completed": 1}, "results: numbers by status")
    m.equal(results.get("outcomes"), {"completed": 1}, "results: numbers by last outcome")
    questions = {q["question"]: q for q in results.get("questions", [])}
    m.equal(
        {q: (v.get("answers"), v.get("counts")) for q, v in questions.items()},
        {q: (1, {v: 1}) for q, v in STORED.items()},
        "results: answers per question",
    )
    m.equal(questions.get("service", {}).get("mean"), 4.0, "results: the scale's mean")
    print(f"\nAMD: {amd}; AGI: {agi}; From: {shown}; CEL digits: {keyed}")
    assert not m.found, str(m)


@dataclass
class Ran:
    """A campaign's call to the citizen's phone, as Asterisk and the CTI left it."""

    cid: int
    exit_code: int | None  # the phone's sipp; None: it did not end in time
    numbers: list[dict[str, object]]
    outcomes: list[object]  # the campaign's attempts, in order
    told: list[dict[str, object]]  # what the runner took from a failed Originate
    cel: Cel
    log: str
    messages: str
    errors: str

    def findings(self) -> tuple[Findings, str]:
        """What every such call must show (the phone's scenario ran to its end, the
        INVITE for his number, one call out through the trunk), and that call's channel."""
        m = Findings()
        m.equal(
            self.exit_code, 0, f"the citizen's sipp exit code (errors: {self.errors[-1500:]!r})"
        )
        m.check(f"INVITE sip:{E164}@" in self.messages, "the citizen's phone got no INVITE")
        trunks = self.cel.channels("PJSIP/trunk-")
        m.equal(len(trunks), 1, f"CEL: calls out through the trunk: {trunks}")
        return m, trunks[0] if trunks else ""


async def one_call(line: Hotline, citizen: Sipp, wait_s: float = 60) -> Ran:
    """A campaign of PHONE started; its call followed until the phone's scenario ends
    and the number is settled."""
    cid, _ = await started(line, "Quality of services 2026")
    try:
        exit_code: int | None = citizen.wait(wait_s)
    except subprocess.TimeoutExpired:
        exit_code = None
    await line.settle()
    numbers = await settled(line, cid)
    attempts = await line.rows(
        "SELECT a.outcome FROM campaign_attempts a JOIN campaign_numbers n"
        " ON n.id = a.number_id WHERE n.campaign_id = $1 ORDER BY a.id",
        cid,
    )
    return Ran(
        cid,
        exit_code,
        numbers,
        [a["outcome"] for a in attempts],
        line.cti_events("campaigns.not_answered"),
        Cel(line.asterisk.cel_file),
        line.asterisk.log_text(),
        citizen.messages(),
        citizen.errors(),
    )


def nobody() -> list[Agent]:
    """The agents of a survey scenario: none ready (no agent takes part in a survey)."""
    return agents({"ready": False}, {"ready": False}, {"ready": False})


async def test_a_citizen_who_keys_9_is_never_called_again_by_any_campaign(db_url: str) -> None:
    """Opt-out on the real Asterisk: 9 keyed on the first question ends the call with the
    "you will not be called again" prompt (Asterisk hangs up), the number is kept in
    `survey_opt_outs`, and a second campaign with the same number closes it `opted_out`
    without a call: one INVITE to the trunk in all."""
    async with hotline(db_url, nobody()) as line:
        ran = await one_call(line, survey_citizen(line, ("9",)))
        opted = await line.rows("SELECT phone, campaign_id FROM survey_opt_outs")
        answers = await line.rows("SELECT * FROM campaign_answers")
        second, _ = await started(line, "Health care 2026")
        again = await settled(line, second)
        calls_out = Cel(line.asterisk.cel_file).channels("PJSIP/trunk-")
    m, trunk = ran.findings()
    m.equal(len(calls_out), 1, f"CEL: calls out through the trunk, both campaigns: {calls_out}")
    surveyed = [r for r in ran.cel.rows if r.channel == trunk and r.context == "cti-survey-call"]
    keyed = [str(r.extra.get("digit")) for r in surveyed if r.kind == "DTMF"]
    m.equal(keyed, ["9"], "CEL: the digits Asterisk heard in [cti-survey-call]")
    m.check(
        bool(trunk) and ran.cel.hangup_source(trunk) != trunk,
        f"CEL: the citizen hung up (source {ran.cel.hangup_source(trunk)!r}): Asterisk did"
        " not end the call after the opt-out",
    )
    m.equal(
        [(n["phone"], n["status"], n["last_outcome"], n["attempts"]) for n in ran.numbers],
        [(E164, "opted_out", "opted_out", 1)],
        "the first campaign's number",
    )
    m.equal(ran.outcomes, ["opted_out"], "campaign_attempts")
    m.equal(opted, [{"phone": E164, "campaign_id": ran.cid}], "survey_opt_outs")
    m.equal(answers, [], "no answer stored for the opt-out key")
    m.equal(
        [(n["phone"], n["status"], n["attempts"]) for n in again],
        [(E164, "opted_out", 0)],
        "the second campaign's number: closed without a call",
    )
    print(f"\nCEL digits: {keyed}; trunk calls: {len(calls_out)}")
    assert not m.found, str(m)


async def test_an_answering_machine_hears_no_questionnaire_and_is_not_counted_answered(
    db_url: str,
) -> None:
    """A long greeting (3 s, as a machine's "you have reached ..."): Asterisk's `AMD()`
    says MACHINE, the questionnaire does not run, Asterisk hangs up; the attempt is
    `machine` and, the only attempt allowed, the number ends `failed`."""
    async with hotline(db_url, nobody()) as line:
        ran = await one_call(line, survey_citizen(line, (), greeting_s=3.0))
        answers = await line.rows("SELECT * FROM campaign_answers")
    m, trunk = ran.findings()
    m.check(ran.cel.first("ANSWER", trunk) is not None, "CEL: the machine's leg never answered")
    m.check(
        bool(trunk) and ran.cel.hangup_source(trunk) != trunk,
        f"CEL: the machine hung up (source {ran.cel.hangup_source(trunk)!r}), not Asterisk",
    )
    amd = re.findall(r"AMD: Channel \[[^\]]*\]\. ([A-Z]+)\b", ran.log)
    # app_amd logs a machine as "ANSWERING MACHINE: <why>" (AMDSTATUS=MACHINE).
    m.check(amd == ["ANSWERING"], f"Asterisk's log: AMD's verdicts {amd}")
    m.equal(ran.outcomes, ["machine"], "campaign_attempts")
    m.equal(answers, [], "no answer stored")
    m.equal(
        [(n["status"], n["last_outcome"], n["attempts"]) for n in ran.numbers],
        [("failed", "machine", 1)],
        "the number after its only attempt",
    )
    print(f"\nAMD: {amd}")
    assert not m.found, str(m)


async def test_a_busy_citizen_is_recorded_busy_not_surveyed(db_url: str) -> None:
    """The citizen's phone answers the INVITE with 486 Busy Here: Asterisk's Originate
    fails with Reason 0, the CTI takes busy (5) from the channel's hang-up cause 17
    (cti.ami.causes), the attempt is `busy` and, the only attempt allowed, the number
    ends `failed`; no call reached the questionnaire."""
    async with hotline(db_url, nobody()) as line:
        phone = trunk_phone(line, "survey-busy", SCENARIOS / "survey-busy.xml", echo=False)
        ran = await one_call(line, phone)
    m, trunk = ran.findings()
    m.check(ran.cel.first("ANSWER", trunk) is None, "CEL: the busy leg answered")
    surveyed = [r for r in ran.cel.rows if r.context == "cti-survey-call"]
    m.equal(surveyed, [], "CEL: a busy call reached [cti-survey-call]")
    # Asterisk's OriginateResponse says Reason 0 for the 486; the channel's Hangup, 17.
    m.equal([t.get("reason") for t in ran.told], [5], "the Originate's reason, as the CTI took it")
    m.equal(ran.outcomes, ["busy"], "campaign_attempts")
    m.equal(
        [(n["status"], n["last_outcome"], n["attempts"]) for n in ran.numbers],
        [("failed", "busy", 1)],
        "the number after its only attempt",
    )
    print(f"\nthe runner was told: {ran.told}")
    assert not m.found, str(m)


async def test_a_citizen_who_does_not_pick_up_is_recorded_no_answer(db_url: str) -> None:
    """The citizen's phone rings and nobody picks up: Asterisk gives up after the
    runner's 30 s (`Timeout`) with CANCEL, the OriginateResponse says Reason 3 (its own
    ring timeout), the attempt is `no_answer` and, the only attempt allowed, the number
    ends `failed`."""
    async with hotline(db_url, nobody()) as line:
        scenario = SCENARIOS / "survey-noanswer.xml"
        phone = trunk_phone(line, "survey-noanswer", scenario, echo=False)
        ran = await one_call(line, phone, wait_s=90)
    m, trunk = ran.findings()
    m.check("CANCEL sip:" in ran.messages, "the ringing phone got no CANCEL from Asterisk")
    m.check(ran.cel.first("ANSWER", trunk) is None, "CEL: the ringing leg answered")
    m.equal([t.get("reason") for t in ran.told], [3], "the Originate's reason, as the CTI took it")
    m.equal(ran.outcomes, ["no_answer"], "campaign_attempts")
    m.equal(
        [(n["status"], n["last_outcome"], n["attempts"]) for n in ran.numbers],
        [("failed", "no_answer", 1)],
        "the number after its only attempt",
    )
    assert not m.found, str(m)
