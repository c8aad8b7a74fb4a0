"""The embedded PostgreSQL kept up while the CTI runs.

A thread waits on the server process: the moment it exits, however (killed, crashed),
it is reaped (no zombie keeps its pid taken) and started again in the same directory
on the same port, after a capped, growing pause while it keeps failing (a killed
server's backends may hold its shared memory for a moment). Nothing is lost meanwhile:
the outbox keeps the call records and the API answers 503 `database_unavailable`;
both reconnect by themselves.

The thread that starts a server is its parent for `PR_SET_PDEATHSIG`: the server this
thread restarts dies with the thread, which lives until `stop()` has stopped the server.
"""

from __future__ import annotations

import threading

import structlog

from cti.store.embedded import EmbeddedPostgres

log = structlog.get_logger(__name__)


class Supervisor:
    """Restarts `pg` whenever its server exits, until `stop()` (which stops it too)."""

    def __init__(
        self,
        pg: EmbeddedPostgres,
        first_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.pg = pg
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.ready_timeout_s = ready_timeout_s
        self.restarts = 0
        self.last_exit: int | None = None  # the exit status of the last server that died
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a restart and stop() never overlap
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Watch the server `pg.start()` started."""
        self._thread = threading.Thread(target=self._watch, name="embedded-pg", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """No more restarts; the server gets a fast shutdown."""
        self._stopping.set()
        with self._lock:
            self.pg.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            proc = self.pg.process
            if proc is not None:
                code = proc.wait()  # reaps it as it exits
                if self._stopping.is_set():
                    return
                self.last_exit = code
                log.error("embedded_pg.exited", pid=proc.pid, code=code, port=self.pg.port)
            self._restart()

    def _restart(self) -> None:
        delay = self.first_delay_s
        while not self._stopping.wait(delay):
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self.pg.restart(self.ready_timeout_s)
                except Exception as exc:  # whatever it is, this thread must go on trying:
                    # the servers it started die with it (PR_SET_PDEATHSIG)
                    delay = min(self.max_delay_s, delay * 2)
                    log.error("embedded_pg.restart_failed", error=str(exc), retry_in_s=delay)
                    continue
            self.restarts += 1
            return
