"""sipp processes for the `pbx` tier: agents' phones (register with digest auth, answer
or not) and citizens calling through the trunk, with the scenarios in `sipp/`."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from asterisk import SIP_HOST, TRUNK_HOST, free_port, lib_env

SCENARIOS = Path(__file__).parent / "sipp"
HOTLINE = "080012345"  # the number citizens dial (the trunk's called number)


@dataclass
class PhoneSpec:
    endpoint: str  # agent-1001
    password: str
    address: str  # its own loopback address: PJSIP tells phones and the trunk apart by IP
    answer_ms: int | None = 1000  # None: never answers
    talk_ms: int = 0  # > 0: the agent hangs up after that long; 0: waits for the BYE


class Sipp:
    """One sipp process; `stop()` ends it (SIGKILL after a grace period)."""

    def __init__(self, install: Path, workdir: Path, name: str, args: list[str]) -> None:
        self.name = name
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        out = open(self.log, "wb")  # noqa: SIM115 (handed to the child)
        self.proc = subprocess.Popen(
            [
                str(install / "bin" / "sipp"),
                *args,
                "-nostdin",
                "-trace_err",
                "-error_file",
                str(workdir / f"{name}-errors.log"),
                "-trace_msg",
                "-message_file",
                str(workdir / f"{name}-messages.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=lib_env(install),
            start_new_session=True,
        )
        out.close()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def messages(self) -> str:
        path = self.workdir / f"{self.name}-messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def errors(self) -> str:
        path = self.workdir / f"{self.name}-errors.log"
        return path.read_text(errors="replace") if path.exists() else ""


def phone(install: Path, workdir: Path, sip_port: int, spec: PhoneSpec) -> Sipp:
    """An agent's phone: registers, then answers (or lets ring) every call."""
    users = workdir / f"{spec.endpoint}.csv"
    users.write_text(f"SEQUENTIAL\n{spec.endpoint};\n")
    if spec.answer_ms is None:
        ooc = SCENARIOS / "agent-noanswer.xml"
    else:
        ooc = workdir / f"{spec.endpoint}-answer.xml"
        talk = spec.talk_ms if spec.talk_ms > 0 else 3_600_000
        text = (SCENARIOS / "agent-answer.xml").read_text()
        ooc.write_text(text.replace("ANSWER_MS", str(spec.answer_ms)).replace("TALK_MS", str(talk)))
    return Sipp(
        install,
        workdir,
        spec.endpoint,
        [
            "-sf",
            str(SCENARIOS / "agent-register.xml"),
            "-oocsf",
            str(ooc),
            f"{SIP_HOST}:{sip_port}",
            "-i",
            spec.address,
            "-p",
            str(free_port(spec.address, kind=2)),
            "-mi",
            spec.address,
            "-mp",
            str(_media_port(spec.address)),
            "-rtp_echo",
            "-aa",
            "-m",
            "1",
            "-inf",
            str(users),
            "-au",
            spec.endpoint,
            "-ap",
            spec.password,
            "-timeout",
            "900",
        ],
    )


def citizens(
    install: Path,
    workdir: Path,
    sip_port: int,
    name: str,
    numbers: list[str],
    *,
    language_key: str = "2",
    menu_key: str = "1",
    language_ms: int = 2500,
    menu_ms: int = 4000,
    stay_ms: int = 0,
    per_minute: float | None = None,
) -> Sipp:
    """Citizens calling the hotline one after another (all at once if `per_minute` is
    None): they key a language and a topic, then wait for the agent's BYE (`stay_ms` 0)
    or hang up `stay_ms` after the topic key."""
    voice = workdir / "citizen-voice.ulaw"
    if not voice.exists():
        voice.write_bytes(tone_ulaw(440.0, 1.0))
    users = workdir / f"{name}.csv"
    users.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers))
    scenario = workdir / f"{name}.xml"
    text = (SCENARIOS / "citizen.xml").read_text()
    for key, value in (
        ("LANGUAGE_KEY", language_key),
        ("MENU_KEY", menu_key),
        ("LANGUAGE_MS", str(language_ms)),
        ("MENU_MS", str(menu_ms)),
        ("STAY_MS", str(stay_ms if stay_ms > 0 else 3_600_000)),
    ):
        text = text.replace(key, value)
    scenario.write_text(text)
    rate = ["-r", str(per_minute), "-rp", "60000"] if per_minute else ["-r", "1000"]
    return Sipp(
        install,
        workdir,
        name,
        [
            "-sf",
            str(scenario),
            f"{SIP_HOST}:{sip_port}",
            "-s",
            HOTLINE,
            "-i",
            TRUNK_HOST,
            "-p",
            str(free_port(TRUNK_HOST, kind=2)),
            "-mi",
            TRUNK_HOST,
            "-mp",
            str(_media_port(TRUNK_HOST)),
            "-m",
            str(len(numbers)),
            "-l",
            str(len(numbers)),
            *rate,
            "-inf",
            str(users),
            "-timeout",
            "600",
        ],
    )


def tone_ulaw(hz: float, seconds: float, rate: int = 8000) -> bytes:
    """A sine tone as raw G.711 mu-law samples (what sipp's rtp_stream plays as PCMU)."""
    out = bytearray()
    for n in range(int(seconds * rate)):
        sample = int(8000 * math.sin(2 * math.pi * hz * n / rate))
        sign = 0x80 if sample < 0 else 0
        magnitude = min(abs(sample), 32635) + 0x84
        exponent = max(0, magnitude.bit_length() - 8)
        mantissa = (magnitude >> (exponent + 3)) & 0x0F
        out.append(~(sign | (exponent << 4) | mantissa) & 0xFF)
    return bytes(out)


def _media_port(address: str) -> int:
    """An even port with the next one free too (RTP and RTCP)."""
    for _ in range(50):
        port = free_port(address, kind=2)
        if port % 2 == 0 and port < 65000:
            return port
    return 40000 + int(time.time()) % 10000 * 2
