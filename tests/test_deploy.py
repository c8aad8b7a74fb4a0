"""deploy/asterisk carries every context, variable, AGI script and permission the CTI
relies on, and the simulator runs the same contexts."""

from __future__ import annotations

import re
from pathlib import Path

from cti.asterisk_config import render
from cti.ivr.models import load_ivr
from cti.queues import dialplan as acd_service
from cti.queues import load_acd_config
from cti.sim import dialplan

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


def test_every_variable_the_cti_relies_on_is_set_or_read_there() -> None:
    for name in (
        "CTI_WAITING",
        "CTI_AGENT_ENDPOINT",
        "CTI_RING_TIMEOUT",
        "CTI_DIAL_RESULT",
        "CTI_CALLBACK",
        "CTI_CALLBACK_NUMBER",
        "CTI_NEXT",
        "AGISTATUS",
        "CTI_SURVEY",
        "CTI_TRANSFER_NUMBER",
    ):
        assert re.search(rf"\b{name}\b", EXTENSIONS), name


def test_the_agi_scripts_named_in_the_dialplan_exist_in_the_ivr() -> None:
    scripts = set(re.findall(r"AGI\(\$\{CTI_AGI\}/([a-z-]+)\)", EXTENSIONS))
    assert scripts == {"inbound", "callback-offer", "survey"}
    assert scripts <= set(load_ivr(DEPLOY / "ivr.yaml").scripts)


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
