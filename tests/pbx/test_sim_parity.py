"""One scripted call through the simulated PBX and through the real Asterisk, both with
the deployment's dialplan, the pbx tier's ACD and IVR and the CTI in front (recording
on): the AMI events the CTI consumes must be the same, per party, in the same order and
with the fields that steer the tracker (parity.py), so that drift between the simulator
and Asterisk fails here. What is left out of the comparison, and why, is in parity.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import parity
import pytest
from amitap import AmiTap
from asterisk import AMI_SECRET, DEPLOY
from hotline import ACD_FILE, Desktop, agents, hotline

from cti.ami.tracker import CallTracker
from cti.app import Core, build_store
from cti.config import AmiSettings, IvrSettings, RecordingSettings, Settings, StoreSettings
from cti.demo import always_open
from cti.ivr.models import load_ivr
from cti.ivr.service import IvrService
from cti.queues import AgentState
from cti.queues.models import load_acd_config
from cti.queues.service import AcdService
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Citizen, Endpoint
from cti.store.embedded import free_port

pytestmark = pytest.mark.pbx

NUMBER = "0888555001"
KEYS = ("2", "1")  # English, then the first topic (social assistance)
ANSWER_S = 1.5  # ivanova's phone answers after
TALK_S = 2.0  # the citizen hangs up after talking this long
WAIT_S = 3.0  # or, nobody being ready, after waiting this long
SIM_SCALE = 0.1


def screen_pop_ms(tap: AmiTap, desk: Desktop) -> float:
    """From the AMI event that puts the caller in line for the CTI's ACD (`VarSet
    CTI_WAITING`, as the tap received it) to the `screen_pop` frame at ivanova's
    desktop client: both stamped with this process's monotonic clock."""
    waiting = next(
        t
        for t, e in tap.events
        if e.get("Event") == "VarSet" and e.get("Variable") == "CTI_WAITING"
    )
    popped = next(
        t for t, f in zip(desk.arrived, desk.frames, strict=True) if f["type"] == "screen_pop"
    )
    return (popped - waiting) * 1000


async def on_asterisk(
    db_url: str, scenario: str, report: Callable[[str], None]
) -> list[parity.Message]:
    """The call on the real Asterisk, seen by a second AMI session beside the CTI's."""
    ready = scenario == "answered"
    people = agents({"answer_ms": int(ANSWER_S * 1000), "talk_ms": 0, "ready": ready})
    async with (
        hotline(db_url, people) as line,
        AmiTap(line.site.ami_port, "cti", AMI_SECRET) as tap,
    ):
        # The citizen stays TALK_S after the agent answers (~4 s of IVR after the topic
        # key, then ring, then talk), or gives up after WAIT_S of music.
        stay = 4.0 + ANSWER_S + TALK_S if ready else 4.0 + WAIT_S
        caller = line.call(
            "citizen", [NUMBER], language_key=KEYS[0], menu_key=KEYS[1], stay_ms=int(stay * 1000)
        )
        if ready:
            await line.desktops["ivanova"].wait(lambda f: f["type"] == "screen_pop", 25)
        # Off the loop: Asterisk drops an AMI session that does not read its events.
        status = await asyncio.to_thread(caller.wait, 40)
        assert status == 0, caller.errors()[-3000:]
        await line.settle()
        if ready:  # the issue 24 figure on the real Asterisk, printed, not asserted
            ms = screen_pop_ms(tap, line.desktops["ivanova"])
            report(
                f"screen-pop on the real Asterisk (CTI_WAITING -> frame at desktop): {ms:.2f} ms"
            )
    return [message for _, message in tap.events]


def state(acd: AcdService) -> AgentState:
    return next(a.state for a in acd.acd.agents() if a.id == "ivanova")


async def on_simulator(db_url: str, tmp: Path, scenario: str) -> list[parity.Message]:
    """The same call on the simulated PBX, with the CTI's core in this process."""
    phone = Endpoint("agent-1001", answer_after_s=ANSWER_S, display="ivanova")
    # The simulator's clock (and the ACD's) 10x faster: the order of events is compared,
    # not their times.
    server = SimAmiServer(
        {"agent-1001": phone}, time_scale=SIM_SCALE, recordings_dir=tmp / "recordings"
    )
    seen: list[parity.Message] = []
    server.listeners.append(lambda name, fields: seen.append({"Event": name, **dict(fields)}))
    port = await server.start()
    ivr_file = DEPLOY / "ivr.yaml"
    ivr_settings = IvrSettings(file=ivr_file, port=free_port())
    settings = Settings(
        ami=AmiSettings(port=port, auth="md5", secret=server.secret, username=server.username),
        recording=RecordingSettings(enabled=True, dir=tmp / "recordings"),
        store=StoreSettings(spill_dir=tmp / "outbox"),
        database_url=db_url,
    )
    store = build_store(settings, db_url)
    ivr = IvrService(ivr_settings, always_open(load_ivr(ivr_file)), store, adjust=always_open)
    core = Core(
        settings,
        load_acd_config(ACD_FILE),
        publish_call=lambda e: None,
        publish_acd=lambda e: None,
        acd_time_scale=SIM_SCALE,
        store=store,
        ivr=ivr,
    )
    await core.start()
    try:
        server.pbx.use_fastagi("127.0.0.1", ivr.agi.port)
        await core.ami.wait_connected(10)
        acd = core.acd
        assert acd is not None
        # The store may give her back as the Asterisk run left her (queues/restore.py).
        if state(acd) == AgentState.LOGGED_OUT:
            acd.apply(acd.acd.login("ivanova", acd.now(), ready=scenario == "answered"))
        assert (state(acd) == AgentState.READY) == (scenario == "answered")
        citizen = Citizen(NUMBER, "social_assistance", keys=list(KEYS), talk_s=TALK_S)
        if scenario == "abandoned":
            citizen.patience_s = WAIT_S
        ch = server.pbx.inbound_call(citizen)
        deadline = time.monotonic() + 40
        while not (ch.hung_up and not server.pbx.channels):
            assert time.monotonic() < deadline, "the simulated call did not end"
            await asyncio.sleep(0.05)
    finally:
        await core.close()
        server.pbx.close()
        await server.close()
    return seen


@pytest.mark.parametrize("scenario", ["answered", "abandoned"])
async def test_the_simulator_sends_the_events_asterisk_sends(
    db_url: str, tmp_path: Path, scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """answered: ivanova answers after 1.5 s, the citizen hangs up after 2 s of talk;
    abandoned: nobody is ready, the citizen hangs up after 3 s of music."""
    handled = CallTracker().handled_events

    def report(line: str) -> None:
        with capsys.disabled():  # into the run's log
            print(f"\n{line}")

    real = parity.steps(await on_asterisk(db_url, scenario, report), handled)
    sim = parity.steps(await on_simulator(db_url, tmp_path, scenario), handled)
    shown = f"{parity.show('Asterisk', real)}\n{parity.show('simulator', sim)}"
    assert real["caller"], shown  # the tap saw the call
    assert bool(real["agent"]) == (scenario == "answered"), shown
    assert sim == real, shown
