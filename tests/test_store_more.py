"""Recordings, announcements and retention against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg
import pytest

from cti.sim.wav import write_wav
from cti.store import cases
from cti.store.announcements import AnnouncementIn, add_announcement, current_announcements
from cti.store.errors import StoreError
from cti.store.models import CaseCreate
from cti.store.recordings import link_recording, open_recording, save_recording
from cti.store.retention import purge

CLASSIFIER = Path(__file__).parent.parent / "deploy" / "classifier.yaml"
T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def conn(classified_db: asyncpg.Connection) -> asyncpg.Connection:
    return classified_db


async def test_a_recording_is_verified_linked_and_every_access_logged(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    wav = tmp_path / "i-1-leg.wav"
    write_wav(wav, 3.0, 1.0)
    rec = await save_recording(conn, "i-1", "leg", wav, T0, T0 + dt.timedelta(seconds=4))
    assert rec.id == "i-1-leg"
    assert rec.duration_s == pytest.approx(4.0)
    assert rec.size_bytes == wav.stat().st_size
    case = await cases.create_case(conn, CaseCreate(topic="other"), "a")
    await link_recording(conn, case.id, rec.id)
    await link_recording(conn, case.id, rec.id)  # idempotent
    assert await conn.fetchval("SELECT count(*) FROM case_recordings") == 1
    got = await open_recording(conn, rec.id, "supervisor-1", "download")
    assert got.sha256 == rec.sha256
    log = await conn.fetch("SELECT actor, action FROM recording_access")
    assert [(r["actor"], r["action"]) for r in log] == [("supervisor-1", "download")]
    data = bytearray(wav.read_bytes())
    data[1000:1100] = bytes(100)  # altered after the fact (inside the tone)
    wav.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        await open_recording(conn, rec.id, "supervisor-1", "listen")
    assert err.value.code == "recording_tampered"
    with pytest.raises(StoreError) as err:
        await link_recording(conn, 999999, rec.id)
    assert err.value.code == "not_found"


async def test_a_file_that_is_not_a_wav_is_refused(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    bad = tmp_path / "x.wav"
    bad.write_text("not audio")
    with pytest.raises(StoreError) as err:
        await save_recording(conn, "i-2", None, bad, T0)
    assert err.value.code == "recording_unreadable"
    with pytest.raises(StoreError) as err:
        await save_recording(conn, "i-2", None, tmp_path / "missing.wav", T0)
    assert err.value.code == "recording_missing"
    assert await conn.fetchval("SELECT count(*) FROM recordings") == 0


async def test_announcements_play_only_while_valid_and_for_sub_topics(
    conn: asyncpg.Connection,
) -> None:
    hour = dt.timedelta(hours=1)
    water = await add_announcement(
        conn,
        AnnouncementIn(topic="social", text="Office closed", valid_from=T0, valid_to=T0 + hour),
    )
    everyone = await add_announcement(
        conn, AnnouncementIn(text="Holiday hours", valid_from=T0 - hour, valid_to=T0 + 2 * hour)
    )
    now = T0 + dt.timedelta(minutes=30)
    got = await current_announcements(conn, "social.benefits.child", now)
    assert [a.id for a in got] == [everyone.id, water.id]
    assert [a.id for a in await current_announcements(conn, "employment", now)] == [everyone.id]
    assert await current_announcements(conn, "social", T0 + 3 * hour) == []
    with pytest.raises(StoreError) as err:
        await add_announcement(conn, AnnouncementIn(text="x", valid_from=T0, valid_to=T0 - hour))
    assert err.value.code == "bad_period"


async def test_the_purge_removes_only_what_is_past_retention_and_logs_it(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    old, new = T0 - dt.timedelta(days=400), T0 - dt.timedelta(days=10)
    for iid, at in (("old", old), ("new", new)):
        await conn.execute(
            "INSERT INTO interactions (id, direction, arrived_at) VALUES ($1, 'inbound', $2)",
            iid,
            at,
        )
        await conn.execute(
            "INSERT INTO legs (id, interaction_id, channel, role, started_at)"
            " VALUES ($1, $1, 'PJSIP/x', 'caller', $2)",
            iid,
            at,
        )
        write_wav(tmp_path / f"{iid}.wav", 1.0)
        await save_recording(conn, iid, None, tmp_path / f"{iid}.wav", at)
    removed = await purge(conn, {"cdr": 365, "recordings": 30}, now=T0)
    assert removed["cdr"] == 1
    assert removed["recordings"] == 1
    assert [r["id"] for r in await conn.fetch("SELECT id FROM interactions")] == ["new"]
    assert [r["id"] for r in await conn.fetch("SELECT id FROM legs")] == ["new"]  # cascaded
    assert not (tmp_path / "old.wav").exists()
    assert (tmp_path / "new.wav").exists()
    logged = await conn.fetch("SELECT kind, removed FROM purge_log ORDER BY id")
    assert ("cdr", 1) in [(r["kind"], r["removed"]) for r in logged]
    with pytest.raises(ValueError, match="unknown retention kinds"):
        await purge(conn, {"everything": 1}, now=T0)
