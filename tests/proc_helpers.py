"""Child processes in tests: start one, read up to a marker line, always clean up."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def python(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`python -c code args` with stdout piped; killed and reaped on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield proc
    finally:
        reap(proc)


def reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def read_until(proc: subprocess.Popen[str], prefix: str) -> str:
    """The first output line starting with `prefix` (log lines before it are skipped)."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, f"the child exited before printing {prefix!r}"
        if line.startswith(prefix):
            return line
