"""The CTI as the soak runs it: `cti serve` as a child process, configured by CTI_*
variables like a production install, killed (SIGKILL), stopped (SIGTERM) and started
again; its memory read from /proc."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp


class CtiChild:
    def __init__(self, env: dict[str, str], http_port: int, log_dir: Path) -> None:
        self.env = env
        self.base = f"http://127.0.0.1:{http_port}"
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def spawn(self) -> None:
        self.starts += 1
        with open(self.log_dir / f"cti-{self.starts}.log", "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cti", "serve"],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def ready(self, session: aiohttp.ClientSession, timeout_s: float = 60.0) -> float:
        """Wait for `/ready` (AMI up, database up); seconds it took."""
        started = time.monotonic()
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"cti serve exited; see {self.log_dir}/cti-{self.starts}.log")
            try:
                async with session.get(f"{self.base}/ready", timeout=aiohttp.ClientTimeout(2)) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"cti serve not ready in {timeout_s:g} s")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    async def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, as systemd stops it; the exit status (None: had to be killed)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                return None
            await asyncio.sleep(0.05)
        return proc.returncode

    def rss_mb(self) -> float | None:
        """Resident memory of the CTI process now (MB), None if it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment without any CTI_* of its own, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env.update(overrides)
    return env
