"""Nothing recorded is lost: the real PostgreSQL stopped under simulated traffic, and the
CTI process killed with records spilled to disk."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from cti.app import Core
from cti.config import AmiSettings, Settings
from cti.logs import configure_logging
from cti.queues.events import CallAnswered
from cti.queues.events import Event as AcdEvent
from cti.sim.ami_server import SimAmiServer
from cti.sim.routing import skills_router
from cti.sim.traffic import Traffic, bot_endpoints
from cti.sim.workload import default_workload_path, load_workload
from cti.store import cases
from cti.store.classifier import load_classifier
from cti.store.embedded import EmbeddedPostgres
from cti.store.models import CaseCreate
from cti.store.outbox import Outbox, Record
from cti.store.records import apply_record
from cti.store.service import StoreService
from proc_helpers import python, read_until

CLASSIFIER = Path(__file__).parent.parent / "deploy" / "classifier.yaml"
SPEED = 200.0  # 300 calls/h x 200: ~17 calls per wall second


@pytest.fixture(autouse=True)
def _logs_to_an_open_stream() -> None:
    """An earlier test may leave logging pointed at its captured stderr, closed since
    (`cli.main` run in-process configures it): a log line from the outbox writer or the
    supervisor thread would then raise and end them."""
    configure_logging("warning", "console", io.StringIO())


@pytest.fixture
def own_pg() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, since the test stops it."""
    base = Path(tempfile.mkdtemp(prefix="cti-test-outage-"))
    base.chmod(0o755)
    pg = EmbeddedPostgres(base / "pg")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


async def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_database_outage_under_traffic_loses_and_duplicates_nothing(
    own_pg: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = own_pg.url()
    store = StoreService(
        url, tmp_path / "outbox", memory_limit=20, classifier=load_classifier(CLASSIFIER)
    )
    store.outbox.retry_max_s = 0.3
    # A case the agents file every answered call under (through the outbox, as the
    # desktop's wrap-up will).
    await store.start()
    store.put(
        Record("agent_state", "warm-up", {"agent": "x", "state": "ready", "at": 0, "previous_s": 0})
    )
    assert await store.outbox.flush(10)
    conn = await asyncpg.connect(url)
    case = await cases.create_case(conn, CaseCreate(topic="other"), "test")
    await conn.close()
    await store.close()

    workload = load_workload(default_workload_path())
    scenario = skills_router(workload)
    server = SimAmiServer(bot_endpoints(scenario.config, 1), time_scale=1 / SPEED)
    port = await server.start()
    answered: list[str] = []

    def file_case(event: AcdEvent) -> None:
        if isinstance(event, CallAnswered):
            answered.append(event.call)
            store.put(
                Record(
                    "case_link",
                    f"{case.id}:{event.call}",
                    {"case_id": case.id, "interaction_id": event.call},
                )
            )

    settings = Settings(ami=AmiSettings(port=port, secret=server.secret, auth="plain"))  # type: ignore[arg-type]
    core = Core(
        settings,
        scenario.config,
        publish_call=lambda e: None,
        publish_acd=file_case,
        acd_time_scale=1 / SPEED,
        store=store,
    )
    await core.start()
    await core.ami.wait_connected(10)
    acd = core.acd
    assert acd is not None
    for agent in scenario.config.agents:
        acd.apply(acd.acd.login(agent.id, acd.now(), ready=True))
    traffic = asyncio.create_task(Traffic(server.pbx, workload, scenario.queue_of).run())
    try:
        await _wait(lambda: store.outbox.written > 50, 20, "records written before the outage")
        own_pg.stop()  # the database goes away under traffic
        await _wait(lambda: store.outbox.spilled > 100, 30, "records spilled to disk")
        assert not store.outbox.database_up
        own_pg.start()  # same directory, same port
        await _wait(lambda: store.outbox.database_up, 30, "the outbox to reconnect")
        # More traffic after the outage, counted rather than timed: on a slow machine a fixed
        # second had ended only 23 calls and the check below on how much was seen failed.
        after = store.outbox.written
        await _wait(
            lambda: (
                store.outbox.written > after + 20
                and len({ch.linkedid for ch in server.pbx.ended}) > 40
            ),
            60,
            "records written and calls ended after the outage",
        )
    finally:
        traffic.cancel()
        with pytest.raises(asyncio.CancelledError):
            await traffic
    await asyncio.sleep(0.5)
    # The PBX's clock stops, then the CTI reads all it was told (the answer to a Ping
    # comes after every event sent before it): `seen` ended while the CTI listened. A
    # call the PBX ends after the CTI closed its AMI link is never seen by this CTI (on
    # a loaded machine a Hangup came 4 ms after close() began: the test, comparing with
    # every call the PBX ended by the end, failed 1 run in 2; nothing had been lost).
    server.pbx.time_scale = 1e9  # a timer set from now on never fires...
    server.pbx.close()  # ...nor does one set before
    await core.ami.send_action({"Action": "Ping"}, timeout=10)
    seen = {ch.linkedid for ch in server.pbx.ended} - {
        ch.linkedid for ch in server.pbx.channels.values()
    }
    await core.close()  # flushes the outbox
    await server.close()
    assert store.outbox.depth == 0
    assert store.outbox.rejected == 0

    live = {ch.linkedid for ch in server.pbx.channels.values()}
    ended = {ch.linkedid for ch in server.pbx.ended} - live
    conn = await asyncpg.connect(url)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM interactions")]
        legs = await conn.fetch("SELECT id, interaction_id FROM legs")
        links = [
            r["interaction_id"]
            for r in await conn.fetch(
                "SELECT interaction_id FROM case_interactions WHERE case_id = $1", case.id
            )
        ]
    finally:
        await conn.close()
    assert len(ids) == len(set(ids))
    # Every interaction the CTI saw end, once (the ACD may still have ended one or two
    # before the link closed: those too, and none the PBX had not ended).
    assert seen <= set(ids) <= ended
    expected_legs = {ch.uniqueid for ch in server.pbx.ended if ch.linkedid in set(ids)}
    assert sorted(r["id"] for r in legs) == sorted(expected_legs)
    assert sorted(links) == sorted(set(answered))  # every case link, once
    assert len(seen) > 25


SPILL_THEN_WAIT = """
import asyncio, sys
from pathlib import Path
from cti.store.outbox import Outbox, Record
from cti.store.records import apply_record

async def main():
    box = Outbox(sys.argv[1], Path(sys.argv[2]), apply_record, memory_limit=5,
                 connect_timeout_s=0.5)
    await box.start()
    for n in range(40):
        box.put(Record("interaction", f"killed-{n}", {
            "arrived_at": 1795000000 + n, "ended_at": 1795000060 + n,
            "caller_number": "+359888000001", "outcome": "abandoned",
            "legs": [{"id": f"killed-{n}.leg", "channel": "PJSIP/trunk-1", "role": "caller",
                      "started_at": 1795000000 + n}]}))
    print("SPILLED", box.spilled, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def _spill_and_get_killed(spill: Path) -> int:
    """Run an outbox in another process with the database unreachable, SIGKILL it once
    it has spilled; how many records it spilled."""
    closed_port = "postgresql://cti:x@127.0.0.1:9/cti"  # nothing listens on port 9
    with python(SPILL_THEN_WAIT, closed_port, str(spill)) as proc:
        line = read_until(proc, "SPILLED")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return int(line.split()[1])


async def test_records_spilled_before_a_sigkill_are_written_after_restart(
    db_url: str, tmp_path: Path
) -> None:
    spill = tmp_path / "outbox"
    spilled = await asyncio.to_thread(_spill_and_get_killed, spill)
    assert spilled == 35  # 5 were in memory: those a SIGKILL takes with it
    lines = (spill / "spill.jsonl").read_text().splitlines()
    assert [json.loads(x)["key"] for x in lines] == [f"killed-{n}" for n in range(5, 40)]

    box = Outbox(db_url, spill, apply_record)  # the restarted CTI
    assert box.depth == 35
    await box.start()
    assert await box.flush(10)
    await box.close()
    conn = await asyncpg.connect(db_url)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM interactions ORDER BY arrived_at")]
        legs = await conn.fetchval("SELECT count(*) FROM legs")
    finally:
        await conn.close()
    assert ids == [f"killed-{n}" for n in range(5, 40)]
    assert legs == 35
    assert not (spill / "spill.jsonl").exists()  # replayed, then cleared


async def test_a_replay_writes_nothing_twice_and_bad_records_are_set_aside(
    db_url: str, tmp_path: Path
) -> None:
    box = Outbox(db_url, tmp_path / "outbox", apply_record, batch_size=3)
    record = Record(
        "interaction",
        "dup-1",
        {
            "arrived_at": 1795000000,
            "caller_number": "+359888000002",
            "outcome": "answered",
            "legs": [
                {
                    "id": "dup-1.a",
                    "channel": "PJSIP/trunk-2",
                    "role": "caller",
                    "started_at": 1795000000,
                }
            ],
        },
    )
    bad_link = Record("case_link", "nope", {"case_id": 999999, "interaction_id": "dup-1"})
    bad_survey = Record(
        "survey", "s1", {"interaction_id": "dup-1", "question": "q", "score": 9, "at": 1795000000}
    )
    for r in (record, bad_link, record, bad_survey, record):
        box.put(r)
    await box.start()
    assert await box.flush(10)
    await box.close()
    assert box.rejected == 2
    rejected = [
        json.loads(x) for x in (tmp_path / "outbox" / "rejected.jsonl").read_text().splitlines()
    ]
    assert [r["record"]["key"] for r in rejected] == ["nope", "s1"]
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM interactions") == 1
        assert await conn.fetchval("SELECT count(*) FROM legs") == 1
        assert await conn.fetchval("SELECT count(*) FROM survey_answers") == 0
    finally:
        await conn.close()
