"""Configuration and reload against careless input (issue 18): no credentials printed,
clear one-line errors for files that are not what they should be, and `cti demo`
living through SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cti.cli import main
from cti.config import ConfigError, load_settings, mask_url
from cti.ivr.engine import Definitions
from cti.ivr.models import load_ivr
from proc_helpers import reap

IVR_FILE = Path(__file__).parent.parent / "deploy" / "ivr.yaml"


def test_check_config_prints_no_webhook_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hooks = [
        {"url": "https://crm:hunter2@hooks.example.org:8443/cti?token=s3cret&x=1", "secret": "k"},
        {"url": "http://plain.example.org/hook", "secret": "k"},
    ]
    monkeypatch.setenv("CTI_WEBHOOKS", json.dumps(hooks))
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "s3cret" not in out
    shown = [h["url"] for h in json.loads(out)["webhooks"]]
    assert shown == [
        "https://***@hooks.example.org:8443/cti?token=***&x=***",
        "http://plain.example.org/hook",
    ]
    settings = load_settings()
    assert settings.webhooks[0].url == hooks[0]["url"]  # the hook itself still has them
    assert mask_url("http://[::1") == "***"


@pytest.mark.parametrize("kind", ["directory", "not utf-8", "binary"])
def test_an_ivr_file_that_is_no_text_file_is_refused_in_one_line(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "ivr.yaml"
    good.write_text(IVR_FILE.read_text())
    definitions = Definitions(good, load_ivr(good))
    good.unlink()
    if kind == "directory":
        good.mkdir()
    elif kind == "not utf-8":
        good.write_bytes(IVR_FILE.read_text().replace("welcome", "wélcome").encode("latin-1"))
    else:
        good.write_bytes(os.urandom(4096))
    problems = definitions.reload()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{good}: ")
    assert definitions.current.scripts["inbound"] == "welcome"  # the old one stays
    with pytest.raises(ConfigError):
        load_ivr(good)
    assert main(["check-ivr", str(good)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 2  # "IVR definition is invalid:" and the reason


def test_a_settings_file_that_is_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path)
    bad = tmp_path / "cti.toml"
    bad.write_bytes(b'[ami]\nhost = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(bad)


def test_cti_demo_reloads_the_ivr_on_sighup_and_keeps_running(db_url: str, tmp_path: Path) -> None:
    ivr = tmp_path / "ivr.yaml"
    ivr.write_text(IVR_FILE.read_text())
    env = {
        **os.environ,
        "CTI_DATABASE_URL": db_url,
        "CTI_EMBEDDED_PG_DIR": str(tmp_path / "pg"),
        "CTI_LOG__FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cti", "demo", "--speed", "20", "--ivr", str(ivr)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )

    def until(prefix: str) -> str:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            assert line, f"cti demo exited (code {proc.poll()}) before {prefix!r}"
            if line.startswith(prefix):
                return line

    try:
        until("  Ctrl-C to stop")
        proc.send_signal(signal.SIGHUP)
        assert until("cti demo: IVR") == "cti demo: IVR reloaded\n"
        ivr.write_bytes(b"\xff\xfe not yaml")
        proc.send_signal(signal.SIGHUP)
        assert until("cti demo: IVR") == "cti demo: IVR reload refused, the old one stays:\n"
        assert "not UTF-8" in until("  ")
        until("waiting")  # still running, still taking calls
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert "cti demo: stopped" in rest
    finally:
        reap(proc)
