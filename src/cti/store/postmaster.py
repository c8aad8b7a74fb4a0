"""The `postmaster.pid` of a data directory, and whether a server still stands behind it.

PostgreSQL refuses to start while `postmaster.pid` names any process that exists: a
server killed with SIGKILL leaves the file behind, and if its pid is still taken (a
zombie nobody reaped, or a new process that got the same pid) no manual start works
either. The file is removed only when the pid in it is not a running `postgres` whose
working directory is that data directory (the server changes into it at start).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)
PID_FILE = "postmaster.pid"


def _state(pid: int) -> str | None:
    """The process state letter (R, S, Z...) of `pid`, None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def serves(pid: int, data: Path) -> bool:
    """Is `pid` a live (not zombie) `postgres` running in the data directory `data`?
    When it cannot be told (no /proc, no right to look), it is taken to be one."""
    if not Path("/proc/self").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        state = _state(pid)
        if state is None or state in ("Z", "X"):
            return False
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        cwd = os.stat(f"/proc/{pid}/cwd")
    except (FileNotFoundError, ProcessLookupError):
        return False  # gone meanwhile
    except PermissionError:
        return True
    here = os.stat(data)
    return Path(exe).name == "postgres" and (cwd.st_dev, cwd.st_ino) == (here.st_dev, here.st_ino)


def _any_server_on(data: Path) -> int | None:
    """Some process serving `data` (by /proc), when the pid file cannot say which."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and serves(int(entry.name), data):
            return int(entry.name)
    return None


def _holder(text: str, data: Path) -> int | None:
    try:
        pid = int(text.split("\n", 1)[0].strip())
    except ValueError:
        pid = 0
    if pid <= 0:  # empty or cut short: a server writing it this instant, or a crash
        return _any_server_on(data) if Path("/proc/self").exists() else -1
    return pid if serves(pid, data) else None


def holder(data: Path) -> int | None:
    """The pid of the running server on `data` that holds `data/postmaster.pid`; None
    when there is no file or it is stale (-1: held, by a server we cannot name)."""
    try:
        text = (data / PID_FILE).read_text()
    except FileNotFoundError:
        return None
    return _holder(text, data)


def remove_if_stale(data: Path) -> int | None:
    """Remove a stale `postmaster.pid` from `data`; returns the pid of the running
    server that holds it instead (then the file stays), else None."""
    path = data / PID_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    pid = _holder(text, data)
    if pid is not None:
        return pid
    with contextlib.suppress(FileNotFoundError):
        if path.read_text() == text:  # not a server's that started meanwhile
            path.unlink()
            stale = text.split("\n", 1)[0]
            log.warning("embedded_pg.stale_pid_file_removed", file=str(path), pid=stale)
    return None
