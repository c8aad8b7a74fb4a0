"""`cti bench import`: an old system's call history as `cti import calls` takes it. A
generated CSV of `lines` past calls (cp1251, `;`, as a Bulgarian Windows export; one in
a hundred with a bad phone number) into a scratch PostgreSQL with the deployment's
classifier; then the same file again (nothing may go in twice). Prints the time of each
run, the lines refused, the peak memory of this process; last line JSON
(`import_lines`, `import_s`, `reimport_s`, `refused`, `imported_twice`, `peak_rss_mb`)."""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from cti.store.classifier import load_classifier, sync_classifier
from cti.store.embedded import scratch_database, scratch_folder
from cti.store.importer import Counts, Options, Report, import_files
from cti.store.migrate import migrate

CLASSIFIER = Path(__file__).parent.parent.parent.parent / "deploy" / "classifier.yaml"
HEADER = "id;arrived_at;direction;caller;called;queue;topic;agent;outcome;wait_s;talk_s"


def write_calls(path: Path, lines: int, topics: list[str], seed: int = 1) -> int:
    """`lines` calls over 2024 in cp1251 with `;`; returns how many have a bad number."""
    rng = random.Random(seed)
    bad = 0
    with open(path, "w", encoding="cp1251", newline="") as f:
        f.write(HEADER + "\r\n")
        for n in range(1, lines + 1):
            day = 1 + n % 360
            when = (
                f"2024-{1 + day // 31 % 12:02d}-{1 + day % 28:02d} {8 + n % 9:02d}:{n % 60:02d}:00"
            )
            phone = f"0888 {rng.randrange(100, 999)} {rng.randrange(100, 999)}"
            if n % 100 == 0:
                phone, bad = "08x8-ОБАДИ", bad + 1  # an operator's note in the number field
            answered = rng.random() < 0.85
            talk = str(rng.randrange(30, 600)) if answered else ""
            outcome = "answered" if answered else "abandoned"
            agent = f"operator{rng.randrange(1, 30)}" if answered else ""
            topic = rng.choice(topics)
            row = [f"OLD-{n}", when, "inbound", phone, "1818", "social", topic, agent, outcome]
            f.write(";".join([*row, str(rng.randrange(0, 120)), talk]) + "\r\n")
    return bad


async def _prepare(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await sync_classifier(conn, load_classifier(CLASSIFIER))
        return [r["code"] for r in await conn.fetch("SELECT code FROM topics ORDER BY code")]
    finally:
        await conn.close()


async def _imported(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM interactions WHERE source = 'legacy'"))
    finally:
        await conn.close()


def run(lines: int) -> int:
    folder = scratch_folder("cti-bench-import-")
    options = Options(encoding="cp1251", zone=ZoneInfo("Europe/Sofia"))
    with scratch_database("cti-bench-import-pg-", env="CTI_BENCH_DATABASE_URL") as url:
        topics = asyncio.run(_prepare(url))
        path = folder / "calls.csv"
        bad = write_calls(path, lines, topics)
        print(f"import: {lines} past calls, cp1251 with ';', {bad} with a bad phone number")
        figures: list[tuple[str, float, Counts]] = []
        for label in ("first run", "same file again"):
            started = time.monotonic()
            report = Report(folder / f"report-{len(figures)}.csv")
            try:
                counts = asyncio.run(import_files(url, [(path, "calls")], options, report))[0]
            finally:
                report.close()
            figures.append((label, time.monotonic() - started, counts))
        stored = asyncio.run(_imported(url))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{'run':<18}{'seconds':>9}{'imported':>10}{'present':>9}{'refused':>9}")
    for label, seconds, c in figures:
        line = f"{label:<18}{seconds:>9.1f}{c.imported:>10}{c.already_present:>9}"
        print(f"{line}{c.refused:>9}")
    print(f"calls stored: {stored}; peak memory of this process: {peak_mb:.0f} MB")
    first, again = figures[0][2], figures[1][2]
    summary = {
        "import_lines": lines,
        "import_s": round(figures[0][1], 1),
        "reimport_s": round(figures[1][1], 1),
        "refused": first.refused,
        "imported_twice": again.imported + max(0, stored - first.imported),
        "peak_rss_mb": round(peak_mb, 1),
    }
    print(json.dumps(summary))
    return 0 if summary["imported_twice"] == 0 and first.refused == bad else 1
