"""More people on the line for the call-control and fault scenarios: a citizen who keeps
pressing a key for a later prompt (the survey's score, accepting a callback), and the
citizen's own phone that the hotline calls out to through the trunk (click-to-call, a
callback): a sipp UAS on the trunk's address, answering as a phone does."""

from __future__ import annotations

import socket
from pathlib import Path

from asterisk import SIP_HOST, TRUNK_HOST, free_port
from hotline import Hotline
from sipp import HOTLINE, SCENARIOS, Sipp

# deploy_configs points the trunk's AOR at sip:127.0.0.2:5060: Asterisk's calls out
# through the trunk arrive there.
TRUNK_PORT = 5060


def rtp_port(address: str) -> int:
    """An even port on `address` (sipp takes the next one for RTCP)."""
    while True:
        port = free_port(address, kind=socket.SOCK_DGRAM)
        if port % 2 == 0 and port < 65000:
            return port


def keying_citizen(
    line: Hotline,
    name: str,
    number: str,
    *,
    menu_key: str,
    later_key: str,
    language_key: str = "2",
    language_ms: int = 2500,
    menu_ms: int = 4000,
    every_ms: int = 1000,
    presses: int = 40,
) -> Sipp:
    """One citizen: a language and a topic, then `later_key` every `every_ms` until
    Asterisk hangs up (or `presses` presses later, when he gives up)."""
    scenario = line.run / f"{name}.xml"
    text = (SCENARIOS / "citizen-keys.xml").read_text()
    for key, value in (
        ("LANGUAGE_KEY", language_key),
        ("LATER_KEY", later_key),
        ("MENU_KEY", menu_key),
        ("LANGUAGE_MS", str(language_ms)),
        ("MENU_MS", str(menu_ms)),
        ("EVERY_MS", str(every_ms)),
        ("PRESSES", str(presses)),
    ):
        text = text.replace(key, value)
    scenario.write_text(text)
    users = line.run / f"{name}.csv"
    users.write_text(f"SEQUENTIAL\n{number};\n")
    caller = Sipp(
        line.asterisk.install,
        line.run,
        name,
        [
            "-sf",
            str(scenario),
            f"{SIP_HOST}:{line.site.sip_port}",
            "-s",
            HOTLINE,
            "-i",
            TRUNK_HOST,
            "-p",
            str(free_port(TRUNK_HOST, kind=socket.SOCK_DGRAM)),
            "-mi",
            TRUNK_HOST,
            "-mp",
            str(rtp_port(TRUNK_HOST)),
            "-m",
            "1",
            "-inf",
            str(users),
            "-timeout",
            "300",
        ],
    )
    line.callers.append(caller)
    return caller


def citizen_phone(line: Hotline, *, answer_ms: int, talk_ms: int) -> Sipp:
    """The citizen's phone behind the trunk, for one call from the hotline: rings,
    answers after `answer_ms`, echoes what it hears, hangs up after `talk_ms` unless
    Asterisk's BYE comes first. The same behaviour as an agent's phone (agent-answer.xml),
    here as the main scenario of a sipp of its own on the trunk's address."""
    scenario = line.run / "citizen-phone.xml"
    text = (SCENARIOS / "agent-answer.xml").read_text()
    scenario.write_text(text.replace("ANSWER_MS", str(answer_ms)).replace("TALK_MS", str(talk_ms)))
    return trunk_phone(line, "citizen-phone", scenario, echo=True)


def trunk_phone(line: Hotline, name: str, scenario: Path, *, echo: bool) -> Sipp:
    """A sipp UAS on the trunk's address running `scenario` for one call from the
    hotline (`echo`: it sends back the audio it hears)."""
    args = ["-sf", str(scenario), "-i", TRUNK_HOST, "-p", str(TRUNK_PORT)]
    args += ["-mi", TRUNK_HOST, "-mp", str(rtp_port(TRUNK_HOST))]
    if echo:
        args.append("-rtp_echo")
    args += ["-m", "1", "-timeout", "300"]
    phone = Sipp(line.asterisk.install, line.run, name, args)
    line.callers.append(phone)
    return phone
