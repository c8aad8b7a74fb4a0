"""Recording through the whole stack: MixMonitor on answer, pause/resume, the WAV file
checked and stored with the interaction and its case (simulator, AMI, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import asyncpg

from acd_helpers import agent, config
from cti.app import Core
from cti.config import AmiSettings, RecordingSettings, Settings
from cti.queues.events import CallAnswered, CallCompleted, Event
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Citizen, Endpoint
from cti.store import cases
from cti.store.models import CaseCreate
from cti.store.outbox import Record
from cti.store.service import StoreService

SCALE = 0.05


async def test_a_call_is_recorded_paused_and_stored_with_its_case(
    db_url: str, tmp_path: Path
) -> None:
    recordings = tmp_path / "recordings"
    server = SimAmiServer({"a1": Endpoint("a1", 1.0)}, time_scale=SCALE, recordings_dir=recordings)
    port = await server.start()
    store = StoreService(db_url, tmp_path / "outbox")
    settings = Settings(
        ami=AmiSettings(port=port, secret="ctisecret", auth="plain"),  # type: ignore[arg-type]
        recording=RecordingSettings(enabled=True, dir=recordings),
    )
    events: list[Event] = []
    queues = {"benefits": {"skills": {"benefits": 5}, "wrap_up_s": 5}}
    core = Core(
        settings,
        config(queues, [agent("a1", {"benefits": 8}, ["benefits"])]),
        publish_call=lambda e: None,
        publish_acd=events.append,
        acd_time_scale=SCALE,
        store=store,
    )
    await core.start()
    conn = await asyncpg.connect(db_url)
    try:
        await core.ami.wait_connected(5)
        acd, recorder = core.acd, core.recording
        assert acd is not None
        assert recorder is not None
        acd.apply(acd.acd.login("a1", acd.now(), ready=True))
        ch = server.pbx.inbound_call(Citizen("+359888000200", "benefits", talk_s=20.0))

        async def until(what: object) -> None:
            deadline = time.monotonic() + 10
            while not what():  # type: ignore[operator]
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)

        await until(lambda: any(isinstance(e, CallAnswered) for e in events))
        await until(lambda: ch.recording is not None)
        await asyncio.sleep(5 * SCALE)
        assert recorder.pause(ch.linkedid, True)  # the citizen dictates personal data
        await asyncio.sleep(4 * SCALE)
        assert recorder.pause(ch.linkedid, False)
        await until(lambda: any(isinstance(e, CallCompleted) for e in events))
        # The agent files a case for the call during wrap-up.
        await conn.execute("INSERT INTO topics (code, name) VALUES ('other', 'Other')")
        case = await cases.create_case(conn, CaseCreate(topic="other"), "a1")
        store.put(
            Record(
                "case_link",
                f"{case.id}:{ch.linkedid}",
                {"case_id": case.id, "interaction_id": ch.linkedid},
            )
        )
        assert await store.outbox.flush(10)
        rows = await conn.fetch("SELECT * FROM recordings")
        linked = await conn.fetch("SELECT * FROM case_recordings")
    finally:
        await conn.close()
        await core.close()
        await server.close()
    actions = [a for a in server.received if a["Action"].startswith("MixMonitor")]
    assert [a["Action"] for a in actions] == ["MixMonitor", "MixMonitorMute", "MixMonitorMute"]
    assert [a.get("State") for a in actions[1:]] == ["1", "0"]
    assert (len(rows), store.outbox.rejected) == (1, 0)
    rec = rows[0]
    assert rec["interaction_id"] == ch.linkedid
    # Keyed by the leg MixMonitor ran on (the citizen's channel), whoever started it.
    assert (rec["id"], rec["leg_id"]) == (f"{ch.linkedid}-{ch.uniqueid}", ch.uniqueid)
    assert Path(rec["path"]) == recordings.resolve() / f"{ch.linkedid}-a1.wav"
    assert 15 < rec["duration_s"] < 25  # answer to hang-up, in simulated seconds
    with wave.open(rec["path"]) as wav:
        frames = wav.readframes(wav.getnframes())
    assert bytes(2 * 8000 * 3) in frames  # the paused stretch is silent
    assert [(r["case_id"], r["recording_id"]) for r in linked] == [(case.id, rec["id"])]
