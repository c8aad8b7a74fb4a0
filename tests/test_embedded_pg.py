"""The embedded PostgreSQL server: a real server, locked down, and gone when we are."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from cti.store.embedded import EmbeddedPostgres, EmbeddedPostgresError
from proc_helpers import python, read_until


@pytest.fixture
def base() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="cti-test-epg-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_a_fresh_server_needs_its_password_listens_on_loopback_and_keeps_data(
    base: Path,
) -> None:
    pg = EmbeddedPostgres(base / "pg")
    url = pg.start()
    try:
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
            assert await conn.fetchval("SHOW unix_socket_directories") == ""
            await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        finally:
            await conn.close()
        wrong = url.replace(pg.password, "not-the-password")
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(wrong)
    finally:
        pg.stop()
    assert not _port_open(pg.port)
    # Nothing readable by others; the data belong to the server alone.
    assert stat.S_IMODE((base / "pg" / "password").stat().st_mode) == 0o600
    assert stat.S_IMODE((base / "pg" / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((base / "pg").stat().st_mode) in (0o700, 0o711)
    assert stat.S_IMODE(os.stat(base).st_mode) == 0o755  # the parent was not touched
    again = EmbeddedPostgres(base / "pg")
    url = again.start()
    try:
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT n FROM kept") == 42
        await conn.close()
    finally:
        again.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_a_folder_the_server_user_cannot_pass_is_named_and_left_alone(base: Path) -> None:
    closed = base / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(EmbeddedPostgresError, match=f"{closed} is not passable"):
        EmbeddedPostgres(closed / "pg").start()
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700


def test_the_server_dies_with_a_killed_cti_process(base: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from cti.store.embedded import EmbeddedPostgres\n"
        "pg = EmbeddedPostgres(Path(sys.argv[1]))\n"
        "pg.start()\n"
        "print('PORT', pg.port, flush=True)\n"
        "time.sleep(120)\n"
    )
    with python(script, str(base / "pg")) as proc:
        port = int(read_until(proc, "PORT").split()[1])
        assert _port_open(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while _port_open(port):
        assert time.monotonic() < deadline, "the embedded server outlived its parent"
        time.sleep(0.1)
