"""Several hotline numbers (issue 22): the number dialled picks where the IVR starts, its
language and its name; a number not listed gets the default entry; numbers are added or
moved by a reload without disturbing calls in the IVR; the call is stored with its
number and the reports group by it. The simulated PBX's FastAGI client against the real
IVR service, over real sockets; storage on real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from acd_helpers import agent, config
from cti.api.reports import number_names
from cti.app import Core
from cti.config import AmiSettings, ConfigError, IvrSettings, Settings
from cti.demo import always_open
from cti.ivr.models import load_ivr
from cti.ivr.service import IvrService
from cti.queues.events import CallCompleted, Event
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Channel, Citizen, Endpoint
from cti.sim.traffic import Traffic, number_keys
from cti.sim.workload import default_workload_path, load_workload
from cti.store import reports
from cti.store.embedded import free_port
from cti.store.reports import KpiFilter
from cti.store.service import StoreService

IVR_FILE = Path(__file__).parent.parent / "deploy" / "ivr.yaml"
FREE, TAKEN_OVER = "080018818", "1818"  # the numbers deploy/ivr.yaml lists

# A small hotline of two lines; the employment line's menu waits long for its key, so a
# reload can come while a caller is in it.
TWO_LINES = """
scripts: {inbound: main}
numbers:
  "080018818": {name: social line, start: main}
  "1818": {name: employment registration, start: jobs, language: bg}
nodes:
  main:
    kind: menu
    prompt: cti/main-menu
    options: {"1": social, "3": jobs_queue}
    on_failure: social
  social: {kind: queue, queue: social_assistance, topic: social}
  jobs:
    kind: menu
    prompt: cti/jobs-menu
    options: {"1": jobs_queue}
    timeout_s: 20
    retries: 4
    on_failure: jobs_queue
  jobs_queue: {kind: queue, queue: employment, topic: employment}
"""
# The same, the taken-over number moved onto the main menu under a new name.
MOVED = TWO_LINES.replace(
    '"1818": {name: employment registration, start: jobs, language: bg}',
    '"1818": {name: employment (main menu), start: main}',
)


@asynccontextmanager
async def rig(file: Path, scale: float = 0.002) -> AsyncIterator[tuple[IvrService, SimAmiServer]]:
    """The IVR service running `file` (always open, as the demo) and a simulated PBX."""
    ivr = IvrService(
        IvrSettings(file=file, port=free_port()), always_open(load_ivr(file)), adjust=always_open
    )
    port = await ivr.start()
    server = SimAmiServer(time_scale=scale)
    server.pbx.use_fastagi("127.0.0.1", port)
    try:
        yield ivr, server
    finally:
        server.pbx.close()
        await ivr.close()
        await server.close()


def dial(
    server: SimAmiServer, number: str, keys: list[str], caller: str = "+359888000300"
) -> Channel:
    return server.pbx.inbound_call(Citizen(caller, "unused", keys=keys, dialled=number))


async def until(what: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def on_hold(ch: Channel) -> bool:
    return ch.context == "cti-hold" and ch.moh


async def test_two_numbers_start_two_trees_with_their_language_and_name() -> None:
    async with rig(IVR_FILE) as (_, server):
        social = dial(server, FREE, ["2", "1"])  # English, then social assistance
        jobs = dial(server, TAKEN_OVER, [])  # no menu on this line
        await until(lambda: on_hold(social) and on_hold(jobs))
    assert social.variables["CTI_IVR_PATH"].startswith("welcome,language:en,")
    assert social.variables["CTI_QUEUE"] == "social_assistance"
    assert (social.variables["CTI_CALLED"], social.variables["CTI_LINE"]) == (FREE, "social line")
    assert social.variables["CHANNEL(language)"] == "en"
    assert jobs.variables["CTI_IVR_PATH"] == (
        "employment_line,employment_hours:open,employment_recording,employment"
    )
    assert (jobs.variables["CTI_QUEUE"], jobs.variables["CTI_TOPIC"]) == (
        "employment",
        "employment",
    )
    assert jobs.variables["CTI_CALLED"] == TAKEN_OVER
    assert jobs.variables["CTI_LINE"] == "employment registration"
    assert jobs.variables["CHANNEL(language)"] == "bg"  # the number's language
    assert jobs.variables["AGISTATUS"] == "SUCCESS"


async def test_a_numbers_language_is_what_the_language_menu_falls_back_to(tmp_path: Path) -> None:
    english = tmp_path / "ivr.yaml"
    english.write_text(
        IVR_FILE.read_text().replace(
            "    name: social line\n    start: welcome\n",
            "    name: social line\n    start: welcome\n    language: en\n",
        )
    )
    async with rig(english) as (_, server):
        ch = dial(server, FREE, ["", "1"])  # no key in the language menu
        await until(lambda: on_hold(ch))
    assert ch.variables["CTI_IVR_PATH"].startswith("welcome,language:en,")  # not bg
    assert ch.variables["CHANNEL(language)"] == "en"


async def test_a_number_not_listed_gets_the_default_entry_logged_once() -> None:
    with capture_logs() as logs:
        async with rig(IVR_FILE) as (_, server):
            calls = [dial(server, n, ["1", "2"]) for n in ("1555", "1555", "1556")]
            await until(lambda: all(on_hold(ch) for ch in calls))
    for ch, number in zip(calls, ("1555", "1555", "1556"), strict=True):
        assert ch.variables["CTI_IVR_PATH"].startswith("welcome,language:bg,")
        assert ch.variables["CTI_QUEUE"] == "child_protection"
        assert ch.variables["CTI_CALLED"] == number  # stored all the same
        assert "CTI_LINE" not in ch.variables
    unlisted = [e for e in logs if e["event"] == "ivr.number_not_listed"]
    assert sorted(e["number"] for e in unlisted) == ["1555", "1556"]
    assert all(e["start"] == "welcome" for e in unlisted)


async def test_a_reload_moves_a_number_and_the_call_in_its_menu_finishes_there(
    tmp_path: Path,
) -> None:
    file = tmp_path / "ivr.yaml"
    file.write_text(TWO_LINES)
    async with rig(file, scale=0.01) as (ivr, server):
        slow = dial(server, TAKEN_OVER, ["", "", "1"])  # waits twice in the jobs menu
        await until(lambda: ivr.ivr.where.get(slow.name) == "jobs")
        file.write_text(MOVED)
        assert ivr.reload() == []  # what SIGHUP does
        assert ivr.ivr.where.get(slow.name) == "jobs"  # still in its menu
        fresh = dial(server, TAKEN_OVER, ["3"], caller="+359888000301")
        await until(lambda: on_hold(slow) and on_hold(fresh))
    # The call in progress finished in the tree it started with, not dropped.
    assert slow.variables["CTI_IVR_PATH"] == "jobs:1,jobs_queue"
    assert slow.variables["CTI_LINE"] == "employment registration"
    assert slow.variables["AGISTATUS"] == "SUCCESS"
    # The next call to the moved number runs the new one.
    assert fresh.variables["CTI_IVR_PATH"] == "main:3,jobs_queue"
    assert fresh.variables["CTI_LINE"] == "employment (main menu)"
    assert "CHANNEL(language)" not in fresh.variables
    assert (slow.variables["CTI_QUEUE"], fresh.variables["CTI_QUEUE"]) == ("employment",) * 2


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (
            TWO_LINES.replace('  "1818"', '  "080018818": {name: again, start: jobs}\n  "1818"'),
            "numbers.080018818: listed twice",
        ),
        (TWO_LINES.replace("start: jobs,", "start: jbos,"), "numbers.1818.start: no node 'jbos'"),
        (TWO_LINES.replace('"1818"', "1818"), "numbers: got 1818 (int): not a dialled number"),
        (TWO_LINES.replace('"1818"', '"18-18"'), "numbers: got '18-18' (str): not a dialled"),
        (
            TWO_LINES.replace("name: social line, ", ""),
            "numbers.080018818.name: Field required",
        ),
    ],
)
async def test_a_bad_numbers_section_is_refused_on_reload_and_the_old_one_runs_on(
    tmp_path: Path, broken: str, problem: str
) -> None:
    file = tmp_path / "ivr.yaml"
    file.write_text(TWO_LINES)
    async with rig(file) as (ivr, server):
        running = ivr.ivr.definitions.current
        file.write_text(broken)
        problems = ivr.reload()
        assert any(problem in p for p in problems), problems
        assert all(str(file) in p for p in problems)
        with pytest.raises(ConfigError):  # `cti check-ivr` and a start refuse it alike
            load_ivr(file)
        assert ivr.ivr.definitions.current is running
        ch = dial(server, TAKEN_OVER, ["1"])
        await until(lambda: on_hold(ch))
    assert ch.variables["CTI_IVR_PATH"] == "jobs:1,jobs_queue"  # the old tree, unchanged


def test_the_demo_traffic_dials_each_number_whose_tree_reaches_the_calls_queue() -> None:
    workload = load_workload(default_workload_path())
    numbers = number_keys(load_ivr(IVR_FILE))
    assert numbers[TAKEN_OVER] == {"employment": []}
    traffic = Traffic(None, workload, {t: t for t in workload.topics}, numbers=numbers)  # type: ignore[arg-type]
    citizens = [traffic.citizen(plan) for _, plan in itertools.islice(traffic.plans(), 300)]
    dialled = {(c.queue, c.dialled) for c in citizens}
    assert {d for q, d in dialled if q != "employment"} == {FREE}  # 1818 reaches none
    assert {d for q, d in dialled if q == "employment"} == {FREE, TAKEN_OVER}
    for c in citizens:
        assert c.keys == numbers[c.dialled][c.queue]


async def test_the_call_is_stored_with_its_number_and_the_reports_group_by_it(
    db_url: str, tmp_path: Path
) -> None:
    scale = 0.02
    server = SimAmiServer({"a1": Endpoint("a1", 0.5)}, time_scale=scale)
    port = await server.start()
    store = StoreService(db_url, tmp_path / "outbox")
    ivr = IvrService(
        IvrSettings(file=IVR_FILE, port=free_port()),
        always_open(load_ivr(IVR_FILE)),
        store,
        adjust=always_open,
    )
    queues = {q: {"skills": {q: 5}, "wrap_up_s": 1} for q in ("social_assistance", "employment")}
    events: list[Event] = []
    core = Core(
        Settings(ami=AmiSettings(port=port, secret=SecretStr("ctisecret"), auth="plain")),
        config(queues, [agent("a1", dict.fromkeys(queues, 8), list(queues))]),
        publish_call=lambda e: None,
        publish_acd=events.append,
        acd_time_scale=scale,
        store=store,
        ivr=ivr,
    )
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    async def completed(count: int) -> None:
        await until(lambda: sum(isinstance(e, CallCompleted) for e in events) >= count, 20)

    await core.start()
    try:
        await core.ami.wait_connected(5)
        server.pbx.use_fastagi("127.0.0.1", ivr.agi.port)
        acd = core.acd
        assert acd is not None
        acd.apply(acd.acd.login("a1", acd.now(), ready=True))
        calls = []
        for n, (number, keys) in enumerate(
            ((FREE, ["1", "1"]), (TAKEN_OVER, []), (TAKEN_OVER, []))
        ):
            citizen = Citizen(f"+35988800040{n}", "unused", keys=keys, talk_s=2.0, dialled=number)
            calls.append(server.pbx.inbound_call(citizen))
            await completed(n + 1)  # one call at a time: the agent takes each
        assert await store.outbox.flush(10)
        conn = await asyncpg.connect(db_url)
        try:
            rows = await conn.fetch("SELECT id, called_number, queue FROM interactions")
            period = (since, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
            by_number = await reports.kpis(conn, KpiFilter("number", *period, "UTC", 20.0))
            one = await reports.kpis(conn, KpiFilter("total", *period, "UTC", 20.0, number=FREE))
        finally:
            await conn.close()
        names = number_names(core)
    finally:
        await core.close()
        await server.close()
    stored = {r["id"]: (r["called_number"], r["queue"]) for r in rows}
    assert stored == {
        calls[0].linkedid: (FREE, "social_assistance"),
        calls[1].linkedid: (TAKEN_OVER, "employment"),
        calls[2].linkedid: (TAKEN_OVER, "employment"),
    }
    assert [(r["key"], r["offered"], r["answered"]) for r in by_number] == [
        (FREE, 1, 1),
        (TAKEN_OVER, 2, 2),
    ]
    assert [(r["key"], r["offered"]) for r in one] == [("total", 1)]
    # The report names each number as the IVR definition does.
    assert names == {FREE: "social line", TAKEN_OVER: "employment registration"}
