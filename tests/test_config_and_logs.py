"""Configuration validation, secrets, and log lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cti.ami.events import InteractionStarted
from cti.app import log_call_event
from cti.cli import main
from cti.config import ConfigError, load_settings
from cti.logs import configure_logging


def test_bad_port_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_AMI__PORT", "70000")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.problems == ["ami.port: must be 1..65535, got 70000"]


def test_toml_file_and_environment_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "cti.toml"
    cfg.write_text('[ami]\nhost = "10.0.0.5"\nport = 5039\nsecret = "from-file"\n')
    monkeypatch.setenv("CTI_AMI__PORT", "5040")
    settings = load_settings(cfg)
    assert settings.ami.host == "10.0.0.5"
    assert settings.ami.port == 5040  # the environment wins over the file
    assert settings.ami.secret.get_secret_value() == "from-file"
    assert "from-file" not in repr(settings)
    assert "from-file" not in settings.model_dump_json()


def test_every_problem_is_listed(tmp_path: Path) -> None:
    cfg = tmp_path / "cti.toml"
    cfg.write_text('[ami]\nport = 0\nping_interval_s = -1\nauth = "kerberos"\n[nope]\nx = 1\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    text = str(err.value)
    assert "ami.port: must be 1..65535, got 0" in text
    assert "ami.ping_interval_s: must be > 0, got -1" in text
    assert "ami.auth: Input should be 'plain' or 'md5', got 'kerberos'" in text
    assert "nope: unknown setting" in text


def test_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[ami\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken)


def test_check_config_cli_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_AMI__SECRET", "hunter2")
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert json.loads(out)["ami"]["secret"] == "**********"
    monkeypatch.setenv("CTI_AMI__PORT", "70000")
    with pytest.raises(SystemExit) as stop:
        main(["check-config"])
    assert stop.value.code == 2
    assert "ami.port: must be 1..65535, got 70000" in capsys.readouterr().err


def test_json_log_lines_carry_the_interaction_and_hide_secrets() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    try:
        log_call_event(
            InteractionStarted(
                seq=7, at=1.0, interaction_id="1795437633.52", uniqueid="1795437633.52",
                channel="PJSIP/sipp-00000000", caller_num="0888123456", caller_name="Мария",
            )
        )  # fmt: skip
        import structlog

        structlog.get_logger("t").info("login", secret="hunter2", database_url="postgres://x")
    finally:
        configure_logging("warning", "console", io.StringIO())
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "call.InteractionStarted"
    assert first["interaction"] == "1795437633.52"
    assert first["caller_name"] == "Мария"
    assert first["seq"] == 7
    assert second["secret"] == "***"
    assert second["database_url"] == "***"
