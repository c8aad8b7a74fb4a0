"""deploy/asterisk loads in a real Asterisk 22 and adds no ERROR or WARNING to what
Asterisk's own sample configuration gives; what the CTI relies on is there."""

from __future__ import annotations

import time

import pytest
from asterisk import Asterisk, Site, deploy_configs, free_port, install_dir, problems
from hotline import SUPERVISOR_PHONE, asterisk_config

pytestmark = pytest.mark.pbx


def boot(configs: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Start, let it settle (qualifies, module loads), ask, stop; the log's problems."""
    install = install_dir()
    asterisk = Asterisk(install, lambda run: configs)
    try:
        asterisk.start()
        time.sleep(1.5)
        answers = {
            command: asterisk.cli(command)
            for command in (
                "pjsip show identifies",
                "pjsip show endpoints",
                "queue show cti-fallback",
                "dialplan show cti-inbound",
                "voicemail show users",
                "manager show user cti",
                "moh show classes",
                "agi show commands",
            )
        }
        asterisk.stop()
        return problems(asterisk.log_text()), answers
    finally:
        asterisk.cleanup()


def test_the_deployment_loads_as_cleanly_as_asterisks_samples() -> None:
    generated = asterisk_config()
    site = Site(free_port(), free_port(), free_port(), generated)
    samples, _ = boot({})
    ours, answers = boot(deploy_configs(site))
    added = [line for line in ours if line not in samples]
    assert added == [], "deploy/asterisk adds:\n" + "\n".join(added)
    # What the CTI relies on was loaded.
    assert "127.0.0.2/32" in answers["pjsip show identifies"]  # the trunk, by address
    for endpoint in ("agent-1001", "agent-1002", "agent-1003", SUPERVISOR_PHONE, "trunk"):
        assert f"Endpoint:  {endpoint}" in answers["pjsip show endpoints"], endpoint
    for member in ("PJSIP/agent-1001", "PJSIP/agent-1002", "PJSIP/agent-1003"):
        assert member in answers["queue show cti-fallback"], member
    assert "AGI(${CTI_AGI}/inbound)" in answers["dialplan show cti-inbound"]
    assert "hotline" in answers["voicemail show users"]
    assert "cti" in answers["manager show user cti"]
    assert "default" in answers["moh show classes"]
