"""A real Asterisk for the `pbx` tier: found (or installed) outside the repo, run with an
asterisk.conf of its own whose directories all point into a RUN folder, configured with
the project's `deploy/asterisk/*.conf` plus what a test adds, stopped without leftovers.

This module (and `sipp.py` beside it) is the only code of the project that looks outside
the checkout: `CTI_ASTERISK_DIR`, else `../shared/asterisk` next to the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
DEPLOY = CHECKOUT / "deploy"
AMI_SECRET = "pbx-tier-secret"
SIP_HOST = "127.0.0.1"  # Asterisk's SIP, RTP and AMI
TRUNK_HOST = "127.0.0.2"  # the provider: every citizen's call comes from here

# Modules a hotline does not use: not loading them halves the boot time.
NOLOAD = [
    "chan_iax2",
    "chan_unistim",
    "chan_motif",
    "chan_mgcp",
    "chan_skinny",
    "chan_sip",
    "chan_console",
    "chan_alsa",
    "chan_oss",
    "chan_mobile",
    "chan_ooh323",
    "chan_dahdi",
    "chan_websocket",
    "chan_audiosocket",
    "chan_rtp",
    "res_xmpp",
    "res_calendar",
    "res_calendar_caldav",
    "res_calendar_ews",
    "res_calendar_exchange",
    "res_calendar_icalendar",
    "res_config_pgsql",
    "res_config_mysql",
    "res_config_ldap",
    "res_config_odbc",
    "res_config_sqlite3",
    "cdr_pgsql",
    "cel_pgsql",
    "cdr_odbc",
    "cel_odbc",
    "cdr_tds",
    "cel_tds",
    "cdr_radius",
    "cel_radius",
    "cdr_sqlite3_custom",
    "cel_sqlite3_custom",
    "cdr_adaptive_odbc",
    "cdr_beanstalkd",
    "cel_beanstalkd",
    "cdr_manager",
    "cdr_csv",
    "res_snmp",
    "res_statsd",
    "res_hep",
    "res_hep_pjsip",
    "res_hep_rtcp",
    "res_corosync",
    "res_fax",
    "res_fax_spandsp",
    "res_smdi",
    "res_stun_monitor",
    "res_phoneprov",
    "res_pjsip_phoneprov_provider",
    "res_ari",
    "res_ari_applications",
    "res_ari_asterisk",
    "res_ari_bridges",
    "res_ari_channels",
    "res_ari_device_states",
    "res_ari_endpoints",
    "res_ari_events",
    "res_ari_mailboxes",
    "res_ari_model",
    "res_ari_playbacks",
    "res_ari_recordings",
    "res_ari_sounds",
    "res_stasis_answer",
    "res_stasis_device_state",
    "res_stasis_mailbox",
    "res_stasis_playback",
    "res_stasis_recording",
    "res_stasis_snoop",
    "res_stasis_test",
    "res_prometheus",
    "res_geolocation",
    "res_stir_shaken",
    "res_aeap",
    "res_speech_aeap",
    "app_festival",
    "app_meetme",
    "app_minivm",
    "app_alarmreceiver",
    "app_adsiprog",
    "app_getcpeid",
    "res_adsi",
    "res_http_media_cache",
    "res_pjsip_stir_shaken",
    "res_pjsip_geolocation",
    "res_odbc",
    "res_odbc_transaction",
    "func_odbc",
    "res_pgsql",
    "res_curl",
    "func_curl",
    "res_config_curl",
    "res_pktccops",
    "pbx_dundi",
    "pbx_lua",
    "pbx_ael",
    "app_confbridge",
    "res_parking",
    "res_pjsip_config_wizard",
    "res_websocket_client",
    "codec_gsm",
    "app_stasis",
    "res_stasis_broadcast",
    "app_stasis_broadcast",
    "app_page",
]


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def install_dir() -> Path:
    """The installed Asterisk tree (with sbin/asterisk), installing it first if we were
    given the folder with the `install` script and the tarball."""
    given = os.environ.get("CTI_ASTERISK_DIR")
    folder = Path(given) if given else CHECKOUT.parent / "shared" / "asterisk"
    if (folder / "sbin" / "asterisk").is_file():
        return folder
    script = folder / "install"
    if not script.is_file():
        raise RuntimeError(
            f"no Asterisk at {folder} (neither sbin/asterisk nor the install script);"
            " set CTI_ASTERISK_DIR"
        )
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cti"
    target = cache / "asterisk-22"
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LD_LIBRARY_PATH": str(target / "lib")}
    subprocess.run([str(script), str(target)], check=True, env=env, capture_output=True)
    return target


def cpu_mismatch(install: Path) -> str:
    """Why this Asterisk build cannot run on this machine's processor."""
    return (
        f"{install / 'sbin' / 'asterisk'} stopped on an illegal instruction (SIGILL): it"
        " was compiled for a processor with instructions this one lacks (seen: AVX-512"
        " on an AMD EPYC without it). Run the pbx tier on a machine whose processor has"
        " them, or give CTI_ASTERISK_DIR an Asterisk built for this one."
    )


def runs_here(install: Path) -> str | None:
    """None if this Asterisk build can run on this processor, else why not. Asterisk
    executes such instructions within its first milliseconds, before reading any
    configuration: started on a missing configuration file, a build that can run
    exits (or waits) without a signal."""
    try:
        done = subprocess.run(
            [str(install / "sbin" / "asterisk"), "-f", "-n", "-C", "/nonexistent/asterisk.conf"],
            capture_output=True,
            timeout=3,
            env=lib_env(install),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    return cpu_mismatch(install) if done.returncode == -signal.SIGILL else None


def lib_env(install: Path) -> dict[str, str]:
    return {**os.environ, "LD_LIBRARY_PATH": str(install / "lib")}


# --- configuration ---------------------------------------------------------------------


def override(text: str, section: str, values: dict[str, str], kind: str | None = None) -> str:
    """Set `key = value` lines inside `[section]` (only in the one with `type = kind` when
    several sections share the name, as PJSIP's do); keys not there are added."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("["):
            blocks.append([])
        blocks[-1].append(line)

    def option(line: str) -> tuple[str, str] | None:
        found = re.match(r"\s*([^=\s]+)\s*=>?\s*(.*)$", line.split(";", 1)[0])
        return (found.group(1), found.group(2).strip()) if found else None

    out: list[str] = []
    for block in blocks:
        name = re.match(r"\[([^\]]+)\]", block[0]) if block else None
        options = [o for o in map(option, block[1:]) if o]
        if (
            name is None
            or name.group(1) != section
            or (kind is not None and ("type", kind) not in options)
        ):
            out.extend(block)
            continue
        todo = dict(values)
        body = []
        for line in block[1:]:
            found = option(line)
            if found and found[0] in todo:
                body.append(f"{found[0]} = {todo.pop(found[0])}")
            else:
                body.append(line)
        tail = []
        while body and (not body[-1].strip() or body[-1].lstrip().startswith(";")):
            tail.insert(0, body.pop())
        out += [block[0], *body, *(f"{k} = {v}" for k, v in todo.items()), *tail]
    return "\n".join(out) + "\n"


@dataclass
class Site:
    """What a test adds to the deployment: addresses, ports, agents' phones."""

    sip_port: int
    ami_port: int
    agi_port: int
    endpoints: str = ""  # `cti asterisk-config` output (pjsip part and queue members)
    extra: dict[str, str] = field(default_factory=dict)  # file name -> whole text
    agi_other_port: int = 0  # two CTIs (docs/ha.md): the second node's FastAGI


def deploy_configs(site: Site) -> dict[str, str]:
    """deploy/asterisk/*.conf with the site's addresses, ports and phones put in."""
    files = {p.name: p.read_text() for p in sorted((DEPLOY / "asterisk").glob("*.conf"))}
    pjsip_part, _, members = site.endpoints.partition("; ---- queues.conf")
    pjsip = override(files["pjsip.conf"], "transport-udp", {"bind": f"{SIP_HOST}:{site.sip_port}"})
    pjsip = override(pjsip, "trunk", {"contact": f"sip:{TRUNK_HOST}:5060"}, kind="aor")
    pjsip = override(pjsip, "trunk", {"match": TRUNK_HOST}, kind="identify")
    files["pjsip.conf"] = pjsip + "\n" + pjsip_part
    files["manager.conf"] = override(
        override(files["manager.conf"], "general", {"port": str(site.ami_port)}),
        "cti",
        {"secret": AMI_SECRET},
    )
    agi = {"CTI_AGI": f"agi://127.0.0.1:{site.agi_port}"}
    if site.agi_other_port:
        agi["CTI_AGI_OTHER"] = f"agi://127.0.0.1:{site.agi_other_port}"
    files["extensions.conf"] = override(files["extensions.conf"], "globals", agi)
    member_lines = [ln for ln in members.splitlines() if ln.startswith("member =>")]
    files["queues.conf"] = files["queues.conf"].rstrip("\n") + "\n" + "\n".join(member_lines)
    files["queues.conf"] += "\n"
    return files


def test_configs(run: Path, install: Path) -> dict[str, str]:
    """The files a test adds: its own directories, logs, CEL/CDR/queue_log, modules."""
    return {
        "asterisk.conf": f"""[directories]
astetcdir => {run}/etc
astmoddir => {install}/lib/asterisk/modules
astvarlibdir => {install}/var/lib/asterisk
astdatadir => {install}/var/lib/asterisk
astagidir => {install}/var/lib/asterisk/agi-bin
astkeydir => {run}/keys
astdbdir => {run}/db
astspooldir => {run}/spool
astrundir => {run}/run
astlogdir => {run}/log
astsbindir => {install}/sbin
astcachedir => {run}/cache
[options]
verbose = 3
timestamp = yes
defaultlanguage = en
cache_media_frames = no
""",
        "modules.conf": "[modules]\nautoload = yes\n"
        + "".join(f"noload => {name}.so\n" for name in NOLOAD),
        "logger.conf": """[general]
dateformat = %F %T.%3q
queue_log = yes
queue_log_to_file = yes
[logfiles]
messages.log => notice,warning,error,verbose
""",
        # CEL and CDR on, as docs/records.md asks of an operator; their CSV mappings are
        # the deployment's (deploy/asterisk/cel_custom.conf, cdr_custom.conf).
        "cel.conf": "[general]\nenable = yes\napps = all\nevents = ALL\n",
        "cdr.conf": "[general]\nenable = yes\nunanswered = yes\nbatch = no\n",
        "rtp.conf": "[general]\nrtpstart = 20000\nrtpend = 30000\n",
    }


# --- the process -----------------------------------------------------------------------


class Asterisk:
    """One Asterisk with its RUN folder; `start()`, `cli()`, `stop()`, and its accounting."""

    def __init__(self, install: Path, configs: Callable[[Path], dict[str, str]]) -> None:
        self.install = install
        # A short path: the control socket's must fit in 108 bytes.
        self.run = Path(tempfile.mkdtemp(prefix="cti-pbx-"))
        self.proc: subprocess.Popen[bytes] | None = None
        etc = self.run / "etc"
        for sub in ("etc", "keys/keys", "db", "spool/monitor", "run", "cache", "log/cdr-custom"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        (self.run / "log" / "cel-custom").mkdir()
        (self.run / "spool" / "recording").mkdir()
        # A fresh install's configuration (Asterisk's samples), then ours over it, as an
        # operator following the README does.
        for sample in (install / "etc" / "asterisk").iterdir():
            if sample.is_file():
                shutil.copy(sample, etc / sample.name)
        for name, text in {**configs(self.run), **test_configs(self.run, install)}.items():
            (etc / name).write_text(text)
        self.conf = etc / "asterisk.conf"
        self.boots = 0

    @property
    def recordings(self) -> Path:
        return self.run / "spool" / "recording"

    def start(self, timeout: float = 60.0) -> None:
        self.boots += 1
        out = open(self.run / f"stdout-{self.boots}.log", "wb")  # noqa: SIM115 (kept by Popen)
        self.proc = subprocess.Popen(
            [str(self.install / "sbin" / "asterisk"), "-f", "-n", "-C", str(self.conf)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=lib_env(self.install),
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while not (self.run / "run" / "asterisk.ctl").exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"asterisk exited at start: {self.exit_reason()}")
            if time.monotonic() > deadline:
                raise RuntimeError("asterisk did not open its control socket")
            time.sleep(0.05)
        self.cli("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))

    def exit_reason(self) -> str:
        assert self.proc is not None
        if self.proc.returncode == -signal.SIGILL:
            return cpu_mismatch(self.install)
        return f"exit code {self.proc.returncode}: {self.log_tail()}"

    def cli(self, command: str, timeout: float = 20.0) -> str:
        result = subprocess.run(
            [str(self.install / "sbin" / "asterisk"), "-C", str(self.conf), "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=lib_env(self.install),
            check=False,
        )
        return result.stdout

    def restart_now(self, timeout: float = 60.0) -> None:
        """`core restart now`: calls are hung up, the process re-executes itself."""
        self.cli("core restart now")
        deadline = time.monotonic() + timeout
        time.sleep(1.0)
        while time.monotonic() < deadline:
            # The old process answers nothing once it has begun to restart; the new
            # one's first answer is "System uptime: 0 seconds".
            if "System uptime" in self.cli("core show uptime", timeout=5):
                self.cli("core waitfullybooted", timeout=deadline - time.monotonic())
                return
            time.sleep(0.2)
        raise RuntimeError("asterisk did not come back from core restart now")

    def crash(self) -> None:
        """kill -9: Asterisk sends nothing."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        (self.run / "run" / "asterisk.ctl").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.cli("core stop now", timeout=10)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if not os.environ.get("CTI_PBX_KEEP"):
            shutil.rmtree(self.run, ignore_errors=True)

    # --- what Asterisk recorded ------------------------------------------------------------

    def log_text(self) -> str:
        path = self.run / "log" / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_text() or (self.run / f"stdout-{self.boots}.log").read_text()
        return "\n".join(text.splitlines()[-lines:])

    @property
    def cel_file(self) -> Path:
        return self.run / "log" / "cel-custom" / "cel.csv"

    @property
    def cdr_file(self) -> Path:
        return self.run / "log" / "cdr-custom" / "cdr.csv"

    @property
    def queue_log_file(self) -> Path:
        return self.run / "log" / "queue_log"

    def queue_log(self) -> list[list[str]]:
        path = self.queue_log_file
        if not path.exists():
            return []
        return [line.split("|") for line in path.read_text().splitlines() if line]

    def channels(self) -> list[str]:
        """`core show channels concise`: one line per live channel."""
        return [ln for ln in self.cli("core show channels concise").splitlines() if "!" in ln]


_NORMALISE = (
    (re.compile(r"^\[[^\]]*\]\s*"), ""),  # the timestamp
    (re.compile(r"\[\d+\]"), "[PID]"),  # thread/process ids
    (re.compile(r"\d+\.\d+\.\d+\.\d+(:\d+)?"), "ADDR"),
    (re.compile(r"0x[0-9a-f]+"), "PTR"),
    (re.compile(r"/tmp/cti-pbx-[^/\s]+"), "RUN"),
)


def problems(log_text: str) -> list[str]:
    """The ERROR and WARNING lines of a log, without timestamps, pids and addresses."""
    out = []
    for line in log_text.splitlines():
        if " ERROR[" not in line and " WARNING[" not in line:
            continue
        for pattern, repl in _NORMALISE:
            line = pattern.sub(repl, line)
        out.append(line)
    return out
