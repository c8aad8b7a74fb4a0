"""deploy/asterisk carries every context, variable, AGI script and permission the CTI
relies on, and the simulator runs the same contexts."""

from __future__ import annotations

import ipaddress
import json
import re
import wave
from pathlib import Path
from typing import Any

import pytest

from cti import cli, prompts
from cti.api.campaign_runner import SURVEY_CONTEXT
from cti.asterisk_config import render
from cti.ivr.campaign import SCRIPT as CAMPAIGN_SCRIPT
from cti.ivr.models import load_ivr
from cti.queues import dialplan as acd_service
from cti.queues import load_acd_config
from cti.sim import dialplan, survey_calls

DEPLOY = Path(__file__).parent.parent / "deploy"
EXTENSIONS = (DEPLOY / "asterisk" / "extensions.conf").read_text()
# The classes each AMI action needs (Asterisk 22 manager docs); the user needs one.
ACTION_CLASSES = {
    "Redirect": {"call"},
    "Setvar": {"call"},
    "Getvar": {"call", "reporting"},
    "Hangup": {"system", "call"},
    "Originate": {"originate"},
    "CoreShowChannels": {"system", "reporting"},
    "Status": {"system", "call", "reporting"},
    "MixMonitor": {"system", "call"},
    "StopMixMonitor": {"system", "call"},
    "MixMonitorMute": {"system", "call"},
    "PlayDTMF": {"call"},
    "PJSIPNotify": {"system"},
    "Bridge": {"call"},
}


def contexts() -> set[str]:
    return set(re.findall(r"^\[([a-z0-9-]+)\]", EXTENSIONS, re.MULTILINE)) - {"globals"}


def test_every_context_the_cti_and_the_simulator_use_is_in_the_dialplan() -> None:
    used_by_cti = {acd_service.HOLD, acd_service.CONNECT, acd_service.CALLBACK}
    used_by_cti |= {acd_service.HELD, acd_service.AGENT_HELD, acd_service.TRANSFER_OUT}
    used_by_cti |= set(acd_service.OVERFLOW_CONTEXTS.values())
    simulated = {
        dialplan.INBOUND,
        dialplan.HOLD,
        dialplan.CONNECT,
        dialplan.CALLBACK_OFFER,
        dialplan.CALLBACK,
        dialplan.VOICEMAIL,
        dialplan.FALLBACK,
        dialplan.HELD,
        dialplan.AGENT_HELD,
        dialplan.TRANSFER_OUT,
    }
    assert used_by_cti <= contexts()
    assert simulated <= contexts()
    assert {"cti-survey", "cti-agents"} <= contexts()
    assert {SURVEY_CONTEXT, survey_calls.SURVEY_CALL} <= contexts()


def test_every_variable_the_cti_relies_on_is_set_or_read_there() -> None:
    for name in (
        "CTI_WAITING",
        "CTI_AGENT_ENDPOINT",
        "CTI_RING_TIMEOUT",
        "CTI_DIAL_RESULT",
        "CTI_CALLBACK",
        "CTI_CALLBACK_NUMBER",
        "CTI_NEXT",
        "CTI_SURVEY",
        "CTI_TRANSFER_NUMBER",
    ):
        assert re.search(rf"\b{name}\b", EXTENSIONS), name


def test_the_simulator_says_the_hotline_number_the_deployment_sets() -> None:
    """Survey calls show what the CTI reads from [globals] (AMI Getvar): the simulator
    must answer with the deployment's values."""
    from cti.sim.pbx import HOTLINE_GLOBALS

    for name, value in HOTLINE_GLOBALS.items():
        assert re.search(rf"^{name}={re.escape(value)}$", EXTENSIONS, re.M), name


def test_the_agi_scripts_named_in_the_dialplan_exist_in_the_ivr() -> None:
    scripts = set(re.findall(r"AGI\(\$\{CTI_AGI\}/([a-z-]+)\)", EXTENSIONS))
    assert scripts == {"inbound", "callback-offer", "survey", CAMPAIGN_SCRIPT}
    # The survey campaigns' script is the product's own (cti.ivr.campaign), not the file's.
    assert scripts - {CAMPAIGN_SCRIPT} <= set(load_ivr(DEPLOY / "ivr.yaml").scripts)


def test_the_fallback_queue_exists_and_the_ami_user_may_do_what_the_cti_does() -> None:
    queues = (DEPLOY / "asterisk" / "queues.conf").read_text()
    assert "[cti-fallback]" in queues
    assert "Queue(cti-fallback" in EXTENSIONS
    manager = (DEPLOY / "asterisk" / "manager.conf").read_text()
    write = set(re.search(r"^write = (.*)$", manager, re.MULTILINE).group(1).split(","))
    read = set(re.search(r"^read = (.*)$", manager, re.MULTILINE).group(1).split(","))
    for action, classes in ACTION_CLASSES.items():
        assert classes & write, f"{action} needs one of {classes}"
    assert {"system", "call", "dialplan", "dtmf"} <= read
    assert "all" not in write | read  # least privilege


def test_asterisk_config_renders_a_phone_and_a_member_per_agent() -> None:
    acd = load_acd_config(DEPLOY / "acd.yaml")
    text = render(acd, {"agent-1001": "secret-1"})
    for agent in acd.agents:
        name = agent.endpoint.split("/")[1]
        assert f"[{name}](agent-endpoint)" in text
        assert f"member => {agent.endpoint}" in text
    assert "password = secret-1" in text
    assert text.count("password = ") == len(acd.agents)


def _code(text: str) -> str:
    """A config file without its comments."""
    return "\n".join(line.split(";", 1)[0] for line in text.splitlines())


def test_the_inbound_call_goes_on_by_what_the_ivr_handed_over_not_by_agistatus() -> None:
    # Asterisk ends an AGI with AGISTATUS=FAILURE when a prompt was missing even though
    # the script ran to its end (transcript 03): the hand-over is CTI_NEXT.
    inbound = _code(EXTENSIONS.split("[cti-inbound]", 1)[1].split("\n[", 1)[0])
    assert "AGISTATUS" not in inbound
    assert re.search(r'GotoIf\(\$\["\$\{CTI_NEXT\}" = "queue"\]\?cti-hold,s,1\)', inbound)
    # whatever else (no hand-over: the CTI unreachable) ends in the plain queue
    assert inbound.rstrip().splitlines()[-2].strip() == "same => n,Goto(cti-fallback,s,1)"


def test_the_trunk_is_identified_by_address_and_the_voicemail_box_exists() -> None:
    pjsip = _code((DEPLOY / "asterisk" / "pjsip.conf").read_text())
    identify = pjsip.split("type = identify", 1)[1].split("\n[", 1)[0]
    match = re.search(r"^match = (\S+)$", identify, re.MULTILINE)
    assert match is not None
    ipaddress.ip_network(match.group(1), strict=False)  # an address, not a host name
    boxes = set(re.findall(r"VoiceMail\((\w+)@(\w+)", EXTENSIONS))
    assert boxes == {("hotline", "default")}
    voicemail = _code((DEPLOY / "asterisk" / "voicemail.conf").read_text())
    context = voicemail.split("[default]", 1)[1].split("\n[", 1)[0]
    assert re.search(r"^hotline => \d+,", context, re.MULTILINE)


def test_asterisk_config_renders_supervisors_phones_outside_the_fallback_queue() -> None:
    acd = load_acd_config(DEPLOY / "acd.yaml")
    text = render(acd, {"sup1": "secret-s"}, supervisors=["sup1"])
    assert "[sup1](agent-endpoint)" in text
    assert "[sup1](agent-aor)" in text
    assert "username = sup1\npassword = secret-s" in text
    assert "member => PJSIP/sup1" not in text
    with pytest.raises(ValueError, match="supervisor endpoint"):
        render(acd, supervisors=["bad name]"])


def test_the_cli_prints_the_supervisors_phone(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["asterisk-config", str(DEPLOY / "acd.yaml"), "--supervisor", "sup1"]) == 0
    out = capsys.readouterr().out
    assert "[sup1](agent-endpoint)" in out
    assert out.count("password = ") == len(load_acd_config(DEPLOY / "acd.yaml").agents) + 1


def test_the_prompt_list_is_every_prompt_the_ivr_definition_names() -> None:
    names = prompts.prompt_names(load_ivr(DEPLOY / "ivr.yaml"))
    text = (DEPLOY / "ivr.yaml").read_text()
    named = set(re.findall(r"\b(cti/[a-z0-9-]+)", text))
    assert set(names) == named
    assert names == sorted(names)
    assert "cti/main-menu" in names
    assert "cti/survey-1-to-5" in names


def test_prompts_list_and_make_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ivr = tmp_path / "ivr.yaml"
    ivr.write_text(
        "scripts: {inbound: hello}\n"
        "nodes:\n"
        "  hello: {kind: play, prompts: [test/hello], next: bye}\n"
        "  bye: {kind: hangup, prompts: [test/good-bye]}\n"
    )
    assert cli.main(["prompts", "list", str(ivr)]) == 0
    assert capsys.readouterr().out.split() == ["test/good-bye", "test/hello"]
    sounds = tmp_path / "sounds"
    (sounds / "en" / "test").mkdir(parents=True)
    (sounds / "en" / "test" / "hello.wav").write_bytes(b"a real recording")
    assert cli.main(["prompts", "make", str(ivr), str(sounds), "--lang", "bg,en"]) == 0
    assert "3 made, 1 already there" in capsys.readouterr().out
    assert (sounds / "en" / "test" / "hello.wav").read_bytes() == b"a real recording"
    for made in ("bg/test/hello.wav", "bg/test/good-bye.wav", "en/test/good-bye.wav"):
        with wave.open(str(sounds / made)) as w:  # what Asterisk plays as is
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() > 8000 * 0.3  # speech, not an empty file


def test_prompts_make_speaks_the_given_texts_in_each_language(tmp_path: Path) -> None:
    definition = load_ivr(DEPLOY / "ivr.yaml")
    calls: list[list[str]] = []
    texts = {"cti/welcome": {"bg": "Добре дошли", "en": "Welcome"}}
    made, kept = prompts.make(
        prompts.prompt_names(definition),
        tmp_path,
        ["bg", "en"],
        texts=texts,
        run=lambda args: calls.append(list(args)),
    )
    assert kept == []
    assert len(made) == 2 * len(prompts.prompt_names(definition))
    spoken = {(c[2], c[-1]) for c in calls if c[0] == "espeak-ng"}
    assert ("bg", "Добре дошли") in spoken
    assert ("en", "Welcome") in spoken
    assert ("en", "main menu") in spoken  # no text given: the name read out
    converted = [c for c in calls if c[0] == "sox"]
    assert str(tmp_path / "bg" / "cti" / "welcome.wav") in {c[-1] for c in converted}
    assert all(c[c.index("-r") + 1] == "8000" and c[c.index("-c") + 1] == "1" for c in converted)


def test_the_two_node_example_is_valid_settings_with_ha_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cti.config import load_settings

    for line in (DEPLOY / "ha" / "cti.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    settings = load_settings(DEPLOY / "ha" / "cti-node1.toml")
    assert settings.ha.enabled
    assert settings.ha.renew_s * 2 <= settings.ha.lease_s
    assert settings.database_url is not None
    assert "target_session_attrs=read-write" in settings.database_url.get_secret_value()


def test_with_two_ctis_each_agi_step_tries_the_other_when_the_first_does_not_answer() -> None:
    # Only the leader listens for FastAGI: the standby refuses at once and the call goes
    # on to CTI_AGI_OTHER; an inbound call the first CTI handed over (CTI_NEXT) does not.
    for script in ("inbound", "callback-offer", "survey"):
        steps = [s for s in _code(EXTENSIONS).splitlines() if f"/{script})" in s]
        assert len(steps) == 2, script
        assert "${CTI_AGI}/" in steps[0]
        assert '"${CTI_AGI_OTHER}" != ""]?AGI(${CTI_AGI_OTHER}/' in steps[1]
    inbound = [s for s in _code(EXTENSIONS).splitlines() if "CTI_AGI_OTHER}/inbound" in s]
    assert '"${CTI_NEXT}" = ""' in inbound[0]


def test_prompts_of_a_survey_campaign_from_its_spec_or_its_questionnaire(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questionnaire: dict[str, Any] = {
        "language": "bg",
        "questions": [
            {"id": "service", "kind": "scale", "prompt": "poll/service"},
            {"id": "solved", "kind": "yes_no", "prompt": "poll/solved"},
        ],
    }
    spec = tmp_path / "campaign.json"
    spec.write_text(json.dumps({"name": "Quality of life", "questionnaire": questionnaire}))
    alone = tmp_path / "questionnaire.yaml"
    alone.write_text(json.dumps(questionnaire))  # JSON is YAML
    wanted = [
        "cti/invalid-choice",
        "cti/survey-intro",
        "cti/survey-opted-out",
        "cti/survey-thanks",
        "poll/service",
        "poll/solved",
    ]
    for path in (spec, alone):
        assert cli.main(["prompts", "list", str(path)]) == 0
        assert capsys.readouterr().out.split() == wanted

    questionnaire["questions"][1]["prompt"] = "../../etc/passwd"
    spec.write_text(json.dumps({"name": "Quality of life", "questionnaire": questionnaire}))
    assert cli.main(["prompts", "list", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "campaign.json: questionnaire.questions.1.prompt" in err
    spec.write_text(json.dumps({"name": "x", "questionnaire": ["not", "a", "mapping"]}))
    assert cli.main(["prompts", "list", str(spec)]) == 2
    assert "questionnaire: expected a mapping" in capsys.readouterr().err
