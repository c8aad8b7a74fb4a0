"""What Asterisk itself recorded, and our records checked against it, by the product:
`cti reconcile` run as an operator runs it (CTI_DATABASE_URL, CTI_ACD) over the test's
period with the CEL, CDR and queue_log files of the test's Asterisk; and Asterisk's view
of each call as that command reads it from CEL (`cti.reconcile.cel`), for what a scenario
asserts about itself (who answered, who hung up, how long a phone rang)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from subprocess import PIPE

from asterisk import Asterisk

from cti.queues import load_acd_config
from cti.reconcile.cdr import calls_from_cdr, read_cdr
from cti.reconcile.cel import calls_from_cel, read_cel
from cti.reconcile.models import Agents, Call, CdrCall

ACD_FILE = Path(__file__).parent / "acd.yaml"
SOFIA = timezone(timedelta(hours=2))  # --from/--to in a zone of their own, as a site's


def agents() -> Agents:
    return Agents((a.endpoint, a.id) for a in load_acd_config(ACD_FILE).agents)


def calls(asterisk: Asterisk) -> dict[str, Call]:
    """Asterisk's view of each call (by Linkedid), from its CEL file."""
    return calls_from_cel(read_cel(asterisk.cel_file), agents())


def cdr(asterisk: Asterisk) -> dict[str, CdrCall]:
    """Asterisk's CDR rows by Linkedid: the answering agent, the last row's end."""
    return calls_from_cdr(read_cdr(asterisk.cdr_file), agents())


@dataclass
class Reconciled:
    """`cti reconcile`'s exit code, its report, and the JSON of its last line."""

    code: int
    report: str
    errors: str

    @property
    def summary(self) -> dict[str, int]:
        lines = self.report.strip().splitlines()
        try:
            return dict(json.loads(lines[-1])) if lines else {}
        except ValueError:
            return {}


async def reconcile(
    asterisk: Asterisk, db_url: str, since: datetime, acd: Path = ACD_FILE
) -> Reconciled:
    """`cti reconcile` from `since` to now over every accounting file Asterisk wrote,
    with the agents of `acd` (the ACD file the CTI ran)."""
    start = (since - timedelta(seconds=1)).astimezone(SOFIA)
    end = datetime.now(UTC).astimezone(SOFIA) + timedelta(seconds=1)
    command = ["-m", "cti", "reconcile", "--from", start.isoformat(), "--to", end.isoformat()]
    command += ["--cel", str(asterisk.cel_file)]
    if asterisk.cdr_file.exists():
        command += ["--cdr", str(asterisk.cdr_file)]
    if asterisk.queue_log_file.exists():
        command += ["--queue-log", str(asterisk.queue_log_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    env.update({"CTI_DATABASE_URL": db_url, "CTI_ACD": str(acd)})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Reconciled(proc.returncode, out.decode(), err.decode())


class Mismatches:
    """Every way the CTI's record differs from Asterisk's, collected so that one run
    reports them all (a test asserts `not mismatches` once, at its end)."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.found.append(what)

    def equal(self, cti: object, asterisk: object, what: str) -> None:
        self.check(cti == asterisk, f"{what}: CTI {cti!r}, Asterisk {asterisk!r}")

    def close(
        self, cti: float | None, asterisk: float | None, what: str, within: float = 0.1
    ) -> None:
        if cti is None or asterisk is None:
            self.check(cti is None and asterisk is None, f"{what}: CTI {cti}, Asterisk {asterisk}")
            return
        self.check(
            abs(cti - asterisk) <= within,
            f"{what}: CTI {cti:.3f} s, Asterisk {asterisk:.3f} s (allowed {within} s)",
        )

    def reconciled(self, result: Reconciled, calls: int) -> None:
        """`cti reconcile` found the `calls` calls on both sides and no disagreement."""
        expected = {"calls_ours": calls, "calls_asterisk": calls, "disagreements": 0}
        ok = result.code == 0 and result.summary == expected
        self.check(ok, f"cti reconcile exited {result.code}:\n{result.report}{result.errors}")

    def __bool__(self) -> bool:
        return bool(self.found)

    def __str__(self) -> str:
        return "\n".join(["the CTI and Asterisk disagree:", *self.found])
