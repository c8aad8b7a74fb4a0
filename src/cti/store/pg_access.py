"""What another user (the embedded server's, as root) can reach: folders it can pass
and files it can read or run, by plain mode bits as PostgreSQL will meet them; folders
made with a mode whatever the umask; the system user itself. Nothing here chmods a
folder that is not ours."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def bundled_libs(bin_dir: Path) -> Path:
    """The wheel's bundled shared libraries (auditwheel: `<site>/<package>.libs`), found by
    the binaries through RPATH `$ORIGIN/../../../<package>.libs`."""
    package = bin_dir.parent.parent
    return package.parent / f"{package.name}.libs"


def first_unreachable(path: Path, user: str, need: int = 0o1) -> Path | None:
    """The first folder from `/` down to `path` that `user` cannot pass, else `path`
    itself if it lacks the `need` rights for `user` (0o1 pass or run, 0o4 read, 0o5
    both); None if `user` gets through. Plain mode bits, as PostgreSQL will meet them."""
    pw = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, pw.pw_gid))

    def allowed(p: Path, rights: int) -> bool:
        st = p.stat()
        if st.st_uid == pw.pw_uid:
            rights <<= 6
        elif st.st_gid in groups:
            rights <<= 3
        return st.st_mode & rights == rights

    for folder in reversed(path.parents):
        if not allowed(folder, 0o1):
            return folder
    return None if allowed(path, need) else path


def make_dirs(path: Path, mode: int) -> None:
    """`mkdir -p` whose new folders get `mode` whatever the umask; existing ones are
    left as they are."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            folder.chmod(mode)


def ensure_system_user(user: str) -> None:
    """Create the system user the server runs as under root, once."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        log.info("embedded_pg.creating_system_user", user=user)
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
            check=True,
            capture_output=True,
        )


def open_to_all(tree: Path) -> None:
    """Our copy: folders 0755, files 0755 or 0644 (whatever umask the install had)."""
    for folder, _dirs, files in os.walk(tree):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                executable = os.stat(path).st_mode & 0o111
                os.chmod(path, 0o755 if executable else 0o644)
