"""What a crash leaves behind is kept: a recording Asterisk never closed is repaired (or
stored as it is), never refused; an outbox's spill folder is its own, so two CTIs never
replay each other's records."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import subprocess
import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from cti.app import build_store
from cti.config import Settings
from cti.logs import configure_logging
from cti.sim.wav import write_wav
from cti.store.errors import StoreError
from cti.store.outbox import Outbox, Record, SpillDirInUse
from cti.store.recordings import open_recording, save_recording
from cti.store.records import apply_record
from cti.store.service import default_spill_dir
from proc_helpers import python, read_until
from record_helpers import abandoned_call

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
NOBODY_LISTENS = "postgresql://cti:x@127.0.0.1:9/cti"  # nothing listens on port 9


@pytest.fixture(autouse=True)
def _logs_to_an_open_stream() -> None:
    """An earlier test may leave logging pointed at its captured stderr, closed since
    (`cli.main` run in-process configures it): a log line from the outbox writer or the
    supervisor thread would then raise and end them."""
    configure_logging("warning", "console", io.StringIO())


def _cut_by_a_crash(path: Path, seconds: float) -> bytes:
    """A WAV file as Asterisk leaves it when it dies mid-call: the audio is there, the
    RIFF and data sizes (written at close) are still 0. Returns the whole file's bytes."""
    write_wav(path, seconds)
    whole = path.read_bytes()
    assert whole[36:40] == b"data"
    cut = bytearray(whole)
    cut[4:8] = bytes(4)  # RIFF size
    cut[40:44] = bytes(4)  # data size
    path.write_bytes(bytes(cut))
    old = time.time() - 60  # the CTI restarts a while after the crash
    os.utime(path, (old, old))
    return whole


def _recording_record(path: Path, interaction: str) -> Record:
    return Record(
        "recording",
        f"{interaction}-leg",
        {
            "interaction_id": interaction,
            "leg_id": "leg",
            "path": str(path),
            "started_at": T0.timestamp(),
            "ended_at": T0.timestamp() + 3,
        },
    )


async def test_a_recording_cut_by_a_crash_is_repaired_and_stored_through_the_outbox(
    db_url: str, tmp_path: Path
) -> None:
    wav = tmp_path / "i-cut-leg.wav"
    whole = _cut_by_a_crash(wav, 3.0)
    cut = wav.read_bytes()
    with pytest.raises(wave.Error, match="not a WAVE file"):  # as it was refused before
        wave.open(str(wav)).close()

    box = Outbox(db_url, tmp_path / "outbox", apply_record)
    box.put(_recording_record(wav, "i-cut"))
    await box.start()
    assert await box.flush(20)
    await box.close()
    assert box.rejected == 0

    # Only the two sizes changed: the file is what Asterisk would have closed.
    repaired = wav.read_bytes()
    assert len(repaired) == len(cut)
    assert [i for i in range(len(cut)) if repaired[i] != cut[i]] == [4, 5, 40, 41]
    assert repaired == whole
    with wave.open(str(wav)) as w:
        assert w.getnframes() == 3 * 8000
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow("SELECT duration_s, size_bytes, repair FROM recordings")
        assert row["repair"] == "sizes_fixed"
        assert row["duration_s"] == pytest.approx(3.0)
        assert row["size_bytes"] == len(whole)
        rec = await open_recording(conn, "i-cut-leg", "supervisor-1", "listen")
        assert rec.repair == "sizes_fixed"
        # A replay (the record written again after a restart) keeps what was done.
        again = await save_recording(conn, "i-cut", "leg", wav, T0)
        assert again.repair == "sizes_fixed"
        assert again.sha256 == rec.sha256
    finally:
        await conn.close()


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Makes files unwritable, even for root (immutable); writable again after."""
    files: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(path)], check=True)
        else:
            path.chmod(0o444)
        files.append(path)

    yield make
    for path in files:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(0o644)


async def test_a_cut_recording_the_cti_cannot_write_is_stored_as_it_is(
    db_url: str, tmp_path: Path, read_only: Callable[[Path], None]
) -> None:
    wav = tmp_path / "i-ro-leg.wav"
    _cut_by_a_crash(wav, 2.0)
    cut = wav.read_bytes()
    read_only(wav)
    conn = await asyncpg.connect(db_url)
    try:
        rec = await save_recording(conn, "i-ro", "leg", wav, T0)
        assert rec.repair == "sizes_wrong"
        assert rec.duration_s == pytest.approx(2.0)  # from the file's length
        assert wav.read_bytes() == cut
        got = await open_recording(conn, rec.id, "supervisor-1", "download")
        assert got.sha256 == rec.sha256
    finally:
        await conn.close()


async def test_a_recording_still_being_closed_is_read_once_asterisk_is_done(
    db_url: str, tmp_path: Path
) -> None:
    """The hang-up can reach us before MixMonitor has closed the file (sizes still 0,
    the last audio still to come): it is not 'repaired' under Asterisk's feet."""
    wav = tmp_path / "i-open-leg.wav"
    whole = _cut_by_a_crash(wav, 2.0)
    os.utime(wav)  # written just now: Asterisk is closing it
    half = wav.read_bytes()[: len(whole) - 4000]
    wav.write_bytes(half)

    def asterisk_closes() -> None:
        time.sleep(0.3)
        wav.write_bytes(whole)

    closer = threading.Thread(target=asterisk_closes)
    closer.start()
    conn = await asyncpg.connect(db_url)
    try:
        rec = await save_recording(conn, "i-open", "leg", wav, T0, settle_s=2.0)
    finally:
        await conn.close()
        closer.join()
    assert rec.repair is None
    assert rec.size_bytes == len(whole)
    assert rec.duration_s == pytest.approx(2.0)
    assert wav.read_bytes() == whole


async def test_what_is_not_a_wav_file_is_still_refused(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVE")  # a header and nothing else
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(StoreError) as err:
            await save_recording(conn, "i-x", None, bad, T0)
    finally:
        await conn.close()
    assert err.value.code == "recording_unreadable"


# --- spill folders -------------------------------------------------------------------


async def test_a_second_outbox_on_the_same_folder_is_refused_with_the_folder_named(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "outbox"
    first = Outbox(NOBODY_LISTENS, folder, apply_record)
    with pytest.raises(SpillDirInUse) as err:
        Outbox(NOBODY_LISTENS, folder, apply_record)
    assert err.value.code == "spill_dir_in_use"
    assert str(folder) in err.value.message
    assert f"pid {os.getpid()}" in err.value.message
    await first.close()
    second = Outbox(NOBODY_LISTENS, folder, apply_record)  # free again
    await second.close()


HOLD_THE_FOLDER = """
import sys, time
from pathlib import Path
from cti.store.outbox import Outbox
from cti.store.records import apply_record
box = Outbox("postgresql://cti:x@127.0.0.1:9/cti", Path(sys.argv[1]), apply_record)
print("HOLDING", flush=True)
time.sleep(120)
"""


def test_another_process_on_the_folder_is_named_and_a_killed_one_lets_go(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    with python(HOLD_THE_FOLDER, str(folder)) as proc:
        read_until(proc, "HOLDING")
        with pytest.raises(SpillDirInUse, match=f"{folder} is in use by another CTI") as err:
            Outbox(NOBODY_LISTENS, folder, apply_record)
        assert f"(pid {proc.pid})" in err.value.message
        proc.kill()
        proc.wait()
    asyncio.run(Outbox(NOBODY_LISTENS, folder, apply_record).close())  # the lock was dropped


async def test_two_ctis_with_sibling_database_folders_never_replay_each_others_records(
    db_url: str, tmp_path: Path
) -> None:
    """CTI A (database folder base/a) spills while its database is away; CTI B (base/b,
    same parent) starts against its own database: B writes none of A's records and
    leaves them alone; A writes them when its database is back."""
    a = Settings(embedded_pg_dir=tmp_path / "a")
    b = Settings(embedded_pg_dir=tmp_path / "b")
    store_a = build_store(a, NOBODY_LISTENS)
    store_a.outbox.connect_timeout_s = 0.5
    assert store_a.outbox.spill_dir == tmp_path / "a" / "outbox"
    store_a.outbox.memory_limit = 0  # everything to disk
    for n in range(5):
        store_a.put(abandoned_call(f"of-a-{n}"))
    await store_a.close(flush_timeout=0.1)
    spilled = (tmp_path / "a" / "outbox" / "spill.jsonl").read_text()
    assert spilled.count('"key": "of-a-') == 5

    store_b = build_store(b, db_url)
    assert store_b.outbox.spill_dir == tmp_path / "b" / "outbox"
    assert store_b.outbox.depth == 0
    await store_b.start()
    store_b.put(abandoned_call("of-b"))
    assert await store_b.outbox.flush(20)
    await store_b.close()
    assert (tmp_path / "a" / "outbox" / "spill.jsonl").read_text() == spilled

    again_a = build_store(a, db_url)  # A's database is back (here: the test's)
    assert again_a.outbox.depth == 5
    await again_a.start()
    assert await again_a.outbox.flush(20)
    await again_a.close()
    conn = await asyncpg.connect(db_url)
    try:
        ids = sorted(r["id"] for r in await conn.fetch("SELECT id FROM interactions"))
    finally:
        await conn.close()
    assert ids == ["of-a-0", "of-a-1", "of-a-2", "of-a-3", "of-a-4", "of-b"]


def test_the_default_spill_folder_is_per_database(tmp_path: Path) -> None:
    home = tmp_path / "share"
    assert default_spill_dir(tmp_path / "a", "ignored", home) == tmp_path / "a" / "outbox"
    one = default_spill_dir(None, "postgresql://cti:pw@db1:5432/cti", home)
    assert one.parent == home / "outbox"
    assert default_spill_dir(None, "postgresql://other:pw2@db1:5432/cti", home) == one
    assert default_spill_dir(None, "postgresql://cti:pw@db1:5432/cti2", home) != one
    assert default_spill_dir(None, "postgresql://cti:pw@db2:5432/cti", home) != one
    assert "pw" not in one.name


async def test_spilled_records_wait_in_their_own_folder_across_a_restart(tmp_path: Path) -> None:
    """The lock is held while the outbox lives and let go at close, so the same CTI
    restarted in the same process gets its folder back."""
    folder = tmp_path / "outbox"
    box = Outbox(NOBODY_LISTENS, folder, apply_record, memory_limit=0, connect_timeout_s=0.2)
    box.put(abandoned_call("k1"))
    await box.start()
    await asyncio.sleep(0.1)
    await box.close(flush_timeout=0.1)
    again = Outbox(NOBODY_LISTENS, folder, apply_record)
    assert again.depth == 1
    await again.close()


async def test_a_spill_file_left_where_earlier_versions_shared_it_is_named_not_replayed(
    tmp_path: Path,
) -> None:
    old = tmp_path / "outbox"  # beside the data folders: every sibling CTI's, before
    old.mkdir()
    (old / "spill.jsonl").write_text(abandoned_call("whose").line())
    with capture_logs() as logs:
        store = build_store(Settings(embedded_pg_dir=tmp_path / "a"), NOBODY_LISTENS)
    assert store.outbox.depth == 0
    await store.close(flush_timeout=0.1)
    (warning,) = [e for e in logs if e["event"] == "store.old_spill_file_left"]
    assert warning["file"] == str(old / "spill.jsonl")
    assert (old / "spill.jsonl").read_text() == abandoned_call("whose").line()


async def test_a_batch_sent_again_after_the_link_broke_sets_nothing_aside_twice(
    db_url: str, tmp_path: Path
) -> None:
    """One record of a batch is refused, so the others are written one by one; the link
    dies under one of those: the batch is sent again once reconnected, that record is
    written, and the refused one is set aside once (not once per attempt)."""
    calls: list[str] = []

    async def apply(conn: Any, record: Record) -> None:
        calls.append(record.key)
        if record.key == "good" and calls.count("good") == 1:
            conn.terminate()  # the server went away in the middle of this write
            raise asyncpg.InternalClientError("cannot switch to state 12; another operation")
        await apply_record(conn, record)

    box = Outbox(db_url, tmp_path / "outbox", apply, retry_max_s=0.2)
    refused = Record("case_link", "no-case", {"case_id": 999999, "interaction_id": "good"})
    box.put(refused)
    box.put(abandoned_call("good"))
    await box.start()
    assert await box.flush(20)
    await box.close()
    assert box.rejected == 1  # only the one the database refused
    conn = await asyncpg.connect(db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM interactions WHERE id = 'good'") == 1
    finally:
        await conn.close()
