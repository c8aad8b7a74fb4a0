"""`cti reconcile`: our records of a period against Asterisk's own files, printed as a
report; exit 0 when they agree, 1 on any disagreement, 2 when they cannot be compared
(bad input, no database).

I/O lives here: the options, the files, the database; the comparison is `compare`'s.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from cti.config import ConfigError
from cti.queues import load_acd_config
from cti.reconcile import report
from cti.reconcile.cdr import CdrRow, calls_from_cdr, read_cdr
from cti.reconcile.cel import CelEvent, calls_from_cel, linkedids, read_cel
from cti.reconcile.compare import Totals, compare_cdr, compare_cel, compare_queue_log, totals
from cti.reconcile.errors import InputError
from cti.reconcile.models import Agents, Call, Disagreement, Period
from cti.reconcile.ours import load_calls
from cti.reconcile.queue_log import QueueLogEntry, calls_from_queue_log, read_queue_log
from cti.store.agents import saved_agents


@dataclass(frozen=True)
class Options:
    period: Period
    cel: Path
    cdr: Path | None = None
    queue_log: Path | None = None
    acd: Path | None = None  # the ACD file: agents by their phones' endpoints
    tolerance_s: float = 0.1


def parse_time(text: str, option: str) -> datetime:
    """An ISO datetime with its time zone (a naive one would be read in whatever zone
    this machine is in, and select other calls than the supervisor meant)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            "bad_datetime",
            f"{option} {text!r}: not an ISO datetime (e.g. 2025-03-01T08:00:00+02:00)",
        ) from None
    if value.utcoffset() is None:
        raise InputError(
            "naive_datetime", f"{option} {text}: no time zone (add Z or an offset like +02:00)"
        )
    return value


def make_options(
    start: str,
    end: str,
    cel: Path,
    cdr: Path | None = None,
    queue_log: Path | None = None,
    acd: Path | None = None,
    tolerance_s: float = 0.1,
) -> Options:
    period = Period(parse_time(start, "--from"), parse_time(end, "--to"))
    if period.end <= period.start:
        raise InputError("empty_period", f"--to {end} is not after --from {start}")
    if not tolerance_s >= 0:
        raise InputError("bad_tolerance", f"--tolerance-s {tolerance_s}: must be >= 0")
    return Options(period, cel, cdr, queue_log, acd, tolerance_s)


@dataclass
class Files:
    """Asterisk's files, read (and checked row by row) before anything else."""

    cel: list[CelEvent]
    cdr: list[CdrRow] | None
    queue_log: list[QueueLogEntry] | None


def read_files(options: Options) -> Files:
    return Files(
        read_cel(options.cel),
        read_cdr(options.cdr) if options.cdr else None,
        read_queue_log(options.queue_log) if options.queue_log else None,
    )


def acd_endpoints(path: Path | None) -> dict[str, str]:
    """Agent id by endpoint, from the ACD file."""
    if path is None:
        return {}
    try:
        acd = load_acd_config(path)
    except ConfigError as exc:
        raise InputError("bad_acd", f"--acd {path}: {'; '.join(exc.problems)}") from None
    return {a.id: a.endpoint for a in acd.agents}


@dataclass
class Result:
    found: list[Disagreement]
    calls_ours: int
    calls_asterisk: int
    lines: list[str]


async def reconcile(conn: Any, options: Options, files: Files, by_id: dict[str, str]) -> Result:
    """Compare; `by_id` is the ACD file's agents, to which the agents changed over the
    API (stored) are applied, as the CTI does at start."""
    changed, removed = await saved_agents(conn)
    by_id = {**by_id, **{p.id: p.endpoint for p in changed}}
    for agent in removed:
        by_id.pop(agent, None)
    agents = Agents((endpoint, agent) for agent, endpoint in by_id.items())
    period, tolerance = options.period, options.tolerance_s
    cel = calls_from_cel(files.cel, agents)
    arrived = [c.id for c in cel.values() if period.contains(c.arrived_at)]
    ours = await load_calls(conn, period, arrived)
    ids = sorted(set(arrived) | set(ours), key=lambda i: (ours.get(i) or cel[i]).arrived_at)
    found: list[Disagreement] = []
    cdr = calls_from_cdr(files.cdr, agents) if files.cdr is not None else {}
    queued = (
        calls_from_queue_log(files.queue_log, linkedids(files.cel), agents, options.queue_log)
        if files.queue_log is not None and options.queue_log is not None
        else {}
    )
    for i in ids:
        mine, theirs = ours.get(i), cel.get(i)
        found += compare_cel(mine, theirs, tolerance)
        if mine is None:
            continue  # missing: said once, by the CEL comparison
        if i in cdr:
            found += compare_cdr(mine, cdr[i])
        if i in queued:
            first = theirs is not None and theirs.queue is not None
            found += compare_queue_log(mine, queued[i], first, tolerance)
    asterisk = [cel[i] for i in ids if i in cel]
    lines = _report(options, found, list(ours.values()), asterisk)
    return Result(found, len(ours), len(asterisk), lines)


def _report(
    options: Options, found: list[Disagreement], ours: list[Call], asterisk: list[Call]
) -> list[str]:
    period = options.period
    sources = [f"CEL {options.cel}"]
    sources += [f"CDR {options.cdr}"] if options.cdr else []
    sources += [f"queue_log {options.queue_log}"] if options.queue_log else []
    queue_of = {c.id: c.queue for c in asterisk} | {c.id: c.queue for c in ours if c.queue}
    by_queue: dict[str, tuple[Totals, Totals]] = {}
    for side, calls in ((0, ours), (1, asterisk)):
        for call in calls:
            pair = by_queue.setdefault(queue_of.get(call.id) or "-", (Totals(), Totals()))
            pair[side].add(call)
    head = (
        f"Calls that arrived {period.start.isoformat()} .. {period.end.isoformat()}:"
        f" {len(ours)} in our records, {len(asterisk)} in Asterisk's ({', '.join(sources)});"
        f" tolerance {options.tolerance_s} s (queue_log: + 1 s)"
    )
    tz = period.start.tzinfo
    return [
        head,
        "",
        *report.disagreements(found, tz),
        "",
        *report.totals(totals(ours), totals(asterisk), by_queue),
        report.summary(len(ours), len(asterisk), len(found)),
    ]


def run(
    options: Options,
    database: Callable[[], AbstractContextManager[str]],
    acd: Path | None = None,
) -> int:
    """Read the files, compare with the database's records, print; the exit code."""
    try:
        files = read_files(options)
        by_id = acd_endpoints(options.acd or acd)
    except InputError as exc:
        print(f"cti reconcile: {exc.message}", file=sys.stderr)
        return 2

    async def go(url: str) -> Result:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            return await reconcile(conn, options, files, by_id)
        finally:
            await conn.close()

    try:
        with database() as url:
            result = asyncio.run(go(url))
    except InputError as exc:  # a queue_log figure that is no number
        print(f"cti reconcile: {exc.message}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"cti reconcile: database: {exc}", file=sys.stderr)
        return 2
    print("\n".join(result.lines))
    return 1 if result.found else 0
