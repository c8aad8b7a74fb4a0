"""IVR flows end to end: the simulated PBX's FastAGI client (a citizen with scripted
keys) against our FastAGI server running deploy/ivr.yaml, over real sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.config import ConfigError
from cti.ivr.agi import FastAgiServer
from cti.ivr.engine import Definitions, Ivr, IvrServices
from cti.ivr.models import load_ivr
from cti.sim import transcripts
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Channel, Citizen

IVR_FILE = Path(__file__).parent.parent / "deploy" / "ivr.yaml"
OPEN = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)  # 12:00 in Sofia, a Tuesday
CLOSED = dt.datetime(2026, 11, 24, 20, 30, tzinfo=dt.UTC)  # 22:30 in Sofia
SCALE = 0.002  # a 2 s prompt takes 4 ms


@dataclass
class Rig:
    server: SimAmiServer
    agi: FastAgiServer
    ivr: Ivr
    surveys: list[tuple[str, str, int]] = field(default_factory=list)
    events: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def call(self, keys: list[str], number: str = "+359888000100") -> Channel:
        return self.server.pbx.inbound_call(Citizen(number, "unused", keys=keys))

    async def until(self, what: Callable[[], bool], seconds: float = 5.0) -> None:
        deadline = time.monotonic() + seconds
        while not what():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.005)


@asynccontextmanager
async def rig(now: dt.datetime = OPEN, file: Path = IVR_FILE) -> AsyncIterator[Rig]:
    server = SimAmiServer(time_scale=SCALE)
    surveys: list[tuple[str, str, int]] = []

    async def notices(topic: str | None, when: dt.datetime) -> list[str]:
        return ["cti/notice-water-outage"] if topic == "social" else []

    async def case_status(number: str) -> str | None:
        return {"2026-000123": "in_progress"}.get(number)

    services = IvrServices(
        now=lambda: now,
        announcements=notices,
        case_status=case_status,
        save_survey=lambda i, q, score: surveys.append((i, q, score)),
    )
    ivr = Ivr(Definitions(file, load_ivr(file)), services)
    agi = FastAgiServer(ivr.route, port=0)
    port = await agi.start()
    server.pbx.use_fastagi("127.0.0.1", port)
    r = Rig(server, agi, ivr, surveys)
    server.listeners.append(lambda n, f: r.events.append((n, dict(f))))
    try:
        yield r
    finally:
        server.pbx.close()
        await agi.close()
        await server.close()


def on_hold(ch: Channel) -> bool:
    return ch.context == "cti-hold" and ch.moh


async def test_the_menu_takes_the_caller_to_the_topics_queue_with_the_notice() -> None:
    async with rig() as r:
        ch = r.call(["2", "1"])  # English, then social assistance
        await r.until(lambda: on_hold(ch))
        v = ch.variables
        assert (v["CTI_QUEUE"], v["CTI_TOPIC"], v["CTI_PRIORITY"]) == (
            "social_assistance",
            "social",
            "0",
        )
        assert v["CHANNEL(language)"] == "en"
        assert v["CTI_IVR_PATH"] == (
            "welcome,language:en,hours:open,notices,recording,main:1,social_notices:1,social"
        )
        assert v["CTI_RECORDING_NOTICE"] == "1"
        assert v["AGISTATUS"] == "SUCCESS"
        digits = [f["Digit"] for n, f in r.events if n == "DTMFEnd"]
        assert digits == ["2", "1"]


async def test_no_input_and_wrong_input_end_in_the_general_queue() -> None:
    async with rig() as r:
        ch = r.call(["", "9", "", "8"])  # no language choice; then 9, nothing, 8
        await r.until(lambda: on_hold(ch))
        assert ch.variables["CHANNEL(language)"] == "bg"  # the default
        assert ch.variables["CTI_QUEUE"] == "social_assistance"
        assert ch.variables["CTI_TOPIC"] == "other"
        assert ch.variables["CTI_IVR_PATH"].endswith("main:failed,general")


async def test_the_repeat_key_plays_the_menu_again_without_costing_a_try() -> None:
    async with rig() as r:
        ch = r.call(["1", "*", "*", "*", "2"])
        await r.until(lambda: on_hold(ch))
        assert ch.variables["CTI_IVR_PATH"].endswith("main:2,child"), ch.variables["CTI_IVR_PATH"]
        assert ch.variables["CTI_QUEUE"] == "child_protection"
        assert ch.variables["CTI_PRIORITY"] == "5"


async def test_after_hours_the_caller_may_leave_a_message() -> None:
    async with rig(now=CLOSED) as r:
        ch = r.call(["1"])
        await r.until(lambda: ch.context == "cti-voicemail")
        assert ch.variables["CTI_IVR_PATH"] == "welcome,language:bg,hours:closed,closed"
        assert "CTI_QUEUE" not in ch.variables


async def test_case_status_by_number_then_back_to_the_menu() -> None:
    async with rig() as r:
        ch = r.call(["1", "6", "2026000123#", "3"])
        await r.until(lambda: on_hold(ch))
        assert "case_status:in_progress,main:3,employment" in ch.variables["CTI_IVR_PATH"]
        other = r.call(["1", "6", "2026999#", "4"])
        await r.until(lambda: on_hold(other))
        assert "case_status:not_found,main:4,labour" in other.variables["CTI_IVR_PATH"]


async def test_a_caller_who_hangs_up_in_the_menu_leaves_a_path_and_nothing_waits() -> None:
    async with rig() as r:
        ch = r.call(["1"])
        await r.until(lambda: ch.variables.get("CHANNEL(language)") == "bg")
        r.server.pbx.hangup(ch.name)
        await r.until(lambda: r.agi.sessions == 0)
        assert ch.hung_up
        assert ch.variables["CTI_IVR_PATH"].startswith("welcome,language:bg")
        assert not r.server.pbx.channels


async def test_the_callback_offer_sets_the_number_or_declines() -> None:
    async with rig() as r:
        ch = r.call(["1", "1"], number="0888123456")
        await r.until(lambda: on_hold(ch))
        ch.citizen.accept_callback = True  # type: ignore[union-attr]
        r.server.pbx.redirect(ch.name, "cti-callback-offer", "s")
        await r.until(lambda: ch.hung_up)
        sets = [
            f["Value"] for n, f in r.events if n == "VarSet" and f["Variable"] == "CTI_CALLBACK"
        ]
        assert sets == ["+359888123456"]
        no = r.call(["1", "1"])
        await r.until(lambda: on_hold(no))
        r.server.pbx.redirect(no.name, "cti-callback-offer", "s")
        await r.until(lambda: no.variables.get("CTI_CALLBACK") == "" and on_hold(no))


async def test_the_survey_stores_the_score_with_the_interaction() -> None:
    async with rig() as r:
        ch = r.server.pbx.inbound_call(Citizen("+359888000101", "unused", keys=["4"]))
        # Run the survey script directly on this channel (as [cti-survey] does).
        assert r.server.pbx.agi is not None
        status = await r.server.pbx.agi.run(ch, "survey")
        assert status == "SUCCESS"
        assert r.surveys == [(ch.linkedid, "satisfaction", 4)]
        # The survey's own path; the call's IVR path is not overwritten (it is stored).
        assert ch.variables["CTI_SURVEY_PATH"].startswith("survey")
        assert "survey" not in ch.variables.get("CTI_IVR_PATH", "")


async def test_a_reload_keeps_callers_in_a_menu_on_their_definition(tmp_path: Path) -> None:
    copy = tmp_path / "ivr.yaml"
    copy.write_text(IVR_FILE.read_text())
    async with rig(file=copy) as r:
        slow = r.call(["1", "", "", "2"])  # twice no input in the main menu, then 2
        await r.until(lambda: slow.variables.get("CHANNEL(language)") == "bg")
        copy.write_text(IVR_FILE.read_text().replace("queue: child_protection", "queue: renamed"))
        assert r.ivr.definitions.reload() == []
        await r.until(lambda: on_hold(slow))
        fresh = r.call(["1", "2"])
        await r.until(lambda: on_hold(fresh))
        assert slow.variables["CTI_QUEUE"] == "child_protection"  # started before
        assert fresh.variables["CTI_QUEUE"] == "renamed"
        copy.write_text("nodes: {}\n")  # a broken file is refused, the old one stays
        problems = r.ivr.definitions.reload()
        assert problems
        assert any("scripts" in p for p in problems)
        assert r.ivr.definitions.current.scripts["inbound"] == "welcome"


async def test_when_the_fastagi_server_is_down_the_call_goes_to_the_fallback_queue() -> None:
    server = SimAmiServer(time_scale=SCALE)
    server.pbx.use_fastagi("127.0.0.1", 9)  # nothing listens there
    try:
        ch = server.pbx.inbound_call(Citizen("+359888000102", "unused"))
        deadline = time.monotonic() + 5
        while ch.context != "cti-fallback":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert ch.variables["AGISTATUS"] == "FAILURE"
    finally:
        server.pbx.close()
        await server.close()


def test_the_environment_block_has_asterisks_fields_in_asterisks_order() -> None:
    real = transcripts.load_agi(transcripts.find(3))[0].env
    server = SimAmiServer()
    server.pbx.use_fastagi("127.0.0.1", 4573)
    ch = Channel(
        "PJSIP/trunk-00000001", "1.2", "1.2", "5557000", "AGI Caller", "cti-inbound", "1555"
    )
    assert server.pbx.agi is not None
    ours = server.pbx.agi.environment(ch, "ivr?lang=en", ["first-arg", "second arg"])
    keys = [line.split(":")[0] for line in ours.splitlines() if line]
    assert keys == [line.split(":")[0] for line in real.splitlines() if line]
    assert ours.endswith("\n\n")
    assert "agi_accountcode: \n" in ours  # the empty value keeps its space, as Asterisk's


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ('options:\n      "1": social_notices', "nodes.main.options.1: no node 'nowhere'"),
        ("on_failure: general", "nodes.main.on_failure: no node 'nowhere'"),
    ],
)
def test_a_definition_with_a_dangling_reference_names_node_and_field(
    tmp_path: Path, change: str, expected: str
) -> None:
    text = IVR_FILE.read_text()
    target = change.replace("social_notices", "nowhere").replace("general", "nowhere")
    bad = tmp_path / "ivr.yaml"
    bad.write_text(text.replace(change, target, 1))
    with pytest.raises(ConfigError) as err:
        load_ivr(bad)
    assert any(expected in p for p in err.value.problems)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "kind",
                "prompt",
                "options",
                "next",
                "on_failure",
                "prompts",
                "queue",
                "timeout_s",
                "retries",
                "choices",
                "default",
                "min_digits",
                "max_digits",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(-5, 100),
            st.text(max_size=12),
            st.lists(st.text(max_size=5), max_size=3),
            st.dictionaries(st.text(max_size=2), st.text(max_size=6), max_size=3),
        ),
    )
)
def test_the_loader_refuses_random_nodes_clearly(
    tmp_path_factory: pytest.TempPathFactory, node: dict[str, object]
) -> None:
    import yaml

    path = tmp_path_factory.mktemp("ivr") / "ivr.yaml"
    path.write_text(yaml.safe_dump({"scripts": {"inbound": "start"}, "nodes": {"start": node}}))
    problems: list[str] = []
    try:
        load_ivr(path)
    except ConfigError as exc:
        problems = exc.problems
    # A node that happens to be valid loads; anything else is named, never a crash.
    assert all(str(path) in p for p in problems)


async def _hang_up_when(r: Rig, ch: Channel, ready: Callable[[], bool]) -> None:
    await r.until(ready)
    r.server.pbx.hangup(ch.name)
    await r.until(lambda: r.agi.sessions == 0)


@pytest.mark.parametrize(
    ("keys", "where"),
    [
        ([], "language"),  # while the language prompt plays
        (["1"], "main"),  # in the main menu
        (["1", "6"], "case_status"),  # while keying a case number
    ],
)
async def test_a_hang_up_in_the_middle_of_each_flow_ends_the_session_cleanly(
    keys: list[str], where: str
) -> None:
    async with rig() as r:
        ch = r.call([*keys, "", "", "", ""])
        await _hang_up_when(r, ch, lambda: r.ivr.where.get(ch.name) == where)
        assert ch.hung_up
        assert ch.variables["CTI_IVR_PATH"].split(",")[-1].split(":")[0] == where
        assert "CTI_QUEUE" not in ch.variables
        assert r.ivr.where == {}
        await r.until(lambda: all(t.done() for t in r.server.pbx._tasks))


async def test_a_hang_up_during_the_callback_offer_or_the_survey_stores_nothing() -> None:
    async with rig() as r:
        ch = r.call(["1", "1"])
        await r.until(lambda: on_hold(ch))
        r.server.pbx.time_scale = 0.05  # prompts of 100 ms: time to hang up in the middle
        r.server.pbx.redirect(ch.name, "cti-callback-offer", "s")
        await _hang_up_when(r, ch, lambda: r.ivr.where.get(ch.name) == "offer")
        assert "CTI_CALLBACK" not in {f["Variable"] for n, f in r.events if n == "VarSet"}
        other = r.server.pbx.inbound_call(Citizen("+359888000103", "unused"))
        assert r.server.pbx.agi is not None
        task = asyncio.create_task(r.server.pbx.agi.run(other, "survey"))
        await _hang_up_when(r, other, lambda: r.ivr.where.get(other.name) == "survey")
        assert await task == "HANGUP"
        assert r.surveys == []
