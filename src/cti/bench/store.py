"""`cti bench store`: the screen-pop query against a realistically filled database, and
the sustained CDR write rate through the outbox.

The database is generated inside PostgreSQL (generate_series): N interactions over a
pool of caller numbers (300,000 by default, so a caller has a few calls on average and
some have many), M cases with topics from the example classifier, known callers for a
third of the numbers. Then: `screen_pop()` for random numbers (known, unknown, busy)
-> p50 / p99; and K interaction records (two legs each) put into the outbox at once ->
records written per second, first to last.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from cti.logs import configure_logging
from cti.store.callers import screen_pop
from cti.store.classifier import load_classifier, sync_classifier
from cti.store.embedded import scratch_database
from cti.store.migrate import migrate
from cti.store.outbox import Outbox, Record
from cti.store.records import apply_record

CLASSIFIER = Path(__file__).resolve().parents[3] / "deploy" / "classifier.yaml"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _fill(conn: Any, interactions: int, cases: int, numbers: int) -> float:
    started = time.perf_counter()
    await conn.execute(
        """
        INSERT INTO callers (phone, name, address)
        SELECT '+35988' || lpad(n::text, 7, '0'), 'Caller ' || n, 'Street ' || n
        FROM generate_series(0, $1 - 1, 3) AS n
        """,
        numbers,
    )
    await conn.execute(
        """
        INSERT INTO interactions (id, direction, caller_number, queue, topic, agent,
            arrived_at, answered_at, ended_at, wait_s, talk_s, outcome, hangup_side)
        SELECT 'bench-' || i, 'inbound',
            '+35988' || lpad((((i::bigint * 7919) % $2))::text, 7, '0'),
            'q' || (i % 5), NULL, 'agent-' || (i % 30),
            timestamptz '2024-01-01' + (i * interval '60 seconds'),
            timestamptz '2024-01-01' + (i * interval '60 seconds') + interval '15 seconds',
            timestamptz '2024-01-01' + (i * interval '60 seconds') + interval '255 seconds',
            15, 240, CASE WHEN i % 10 = 0 THEN 'abandoned' ELSE 'answered' END, 'caller'
        FROM generate_series(1, $1) AS i
        """,
        interactions,
        numbers,
    )
    topics = [
        r["code"] for r in await conn.fetch("SELECT code FROM topics WHERE parent IS NOT NULL")
    ]
    await conn.execute(
        """
        INSERT INTO cases (number, phone, caller_id, topic, organisation, description, status,
            deadline, created_by, created_at)
        SELECT '2025-' || lpad(i::text, 6, '0'),
            '+35988' || lpad((((i::bigint * 104729) % $2))::text, 7, '0'), NULL,
            ($3::text[])[1 + i % array_length($3::text[], 1)], NULL, 'generated case ' || i,
            (ARRAY['registered','forwarded','in_progress','resolved','citizen_informed',
                   'closed','closed','closed'])[1 + i % 8],
            date '2025-01-01' + (i % 365), 'bench',
            timestamptz '2025-01-01' + (i * interval '150 seconds')
        FROM generate_series(1, $1) AS i
        """,
        cases,
        numbers,
        topics,
    )
    await conn.execute("ANALYZE")
    return time.perf_counter() - started


async def _screen_pops(conn: Any, numbers: int, lookups: int) -> list[float]:
    rng = random.Random(7)
    times = []
    for n in range(lookups):
        if n % 10 == 0:
            phone = f"+35989{rng.randrange(10**7):07d}"  # nobody calls from these
        else:
            phone = f"+35988{rng.randrange(numbers):07d}"
        t0 = time.perf_counter()
        await screen_pop(conn, phone)
        times.append(time.perf_counter() - t0)
    return times


async def _outbox_rate(url: str, records: int, spill: Path) -> tuple[float, float]:
    box = Outbox(url, spill, apply_record, memory_limit=records + 1)
    base = 1_800_000_000
    for i in range(records):
        box.put(
            Record(
                "interaction",
                f"ob-{i}",
                {
                    "caller_number": f"+35987{i % 100000:07d}",
                    "queue": "q1",
                    "agent": f"agent-{i % 30}",
                    "arrived_at": base + i,
                    "answered_at": base + i + 10,
                    "ended_at": base + i + 200,
                    "wait_s": 10.0,
                    "talk_s": 190.0,
                    "outcome": "answered",
                    "hangup_side": "caller",
                    "legs": [
                        {
                            "id": f"ob-{i}.1",
                            "channel": "PJSIP/trunk-1",
                            "role": "caller",
                            "started_at": base + i,
                            "ended_at": base + i + 200,
                        },
                        {
                            "id": f"ob-{i}.2",
                            "channel": "PJSIP/a-2",
                            "role": "agent",
                            "agent": f"agent-{i % 30}",
                            "started_at": base + i + 5,
                            "ended_at": base + i + 200,
                        },
                    ],
                },
            )
        )
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    await box.start()
    ok = await box.flush(600)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    await box.close()
    if not ok or box.written != records:
        raise RuntimeError(f"outbox wrote {box.written} of {records}")
    return records / elapsed, cpu / records


async def _bench(
    url: str,
    interactions: int,
    cases: int,
    numbers: int,
    lookups: int,
    outbox_records: int,
    spill: Path,
) -> dict[str, Any]:
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("DROP DATABASE IF EXISTS cti_bench")
        await admin.execute("CREATE DATABASE cti_bench")
    finally:
        await admin.close()
    bench_url = url.rpartition("/")[0] + "/cti_bench"
    conn = await asyncpg.connect(bench_url)
    try:
        await migrate(conn)
        await sync_classifier(conn, load_classifier(CLASSIFIER))
        fill_s = await _fill(conn, interactions, cases, numbers)
        print(
            f"generated {interactions:,} interactions, {cases:,} cases, "
            f"{numbers // 3:,} known callers in {fill_s:.1f} s",
            flush=True,
        )
        await _screen_pops(conn, numbers, 200)  # warm the cache
        times = await _screen_pops(conn, numbers, lookups)
    finally:
        await conn.close()
    rate, cpu_per = await _outbox_rate(bench_url, outbox_records, spill)
    return {
        "screen_pop_p50_ms": round(1000 * _quantile(times, 0.5), 3),
        "screen_pop_p99_ms": round(1000 * _quantile(times, 0.99), 3),
        "outbox_writes_per_s": round(rate),
        "outbox_cpu_ms_per_record": round(1000 * cpu_per, 3),
    }


def run(
    interactions: int = 1_000_000,
    cases: int = 200_000,
    lookups: int = 2000,
    outbox_records: int = 20_000,
) -> int:
    configure_logging("error", "console")
    numbers = 300_000
    work = Path(tempfile.mkdtemp(prefix="cti-bench-store-work-"))
    try:
        with scratch_database("cti-bench-store-") as url:
            figures = asyncio.run(
                _bench(url, interactions, cases, numbers, lookups, outbox_records, work / "outbox")
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"screen-pop (caller + last 10 interactions + open cases), {lookups} lookups:")
    print(
        f"  p50 {figures['screen_pop_p50_ms']:.3f} ms   p99 {figures['screen_pop_p99_ms']:.3f} ms"
    )
    print(f"outbox, {outbox_records:,} interaction records with 2 legs each:")
    print(
        f"  {figures['outbox_writes_per_s']:,} records/s, "
        f"{figures['outbox_cpu_ms_per_record']:.3f} ms CPU per record in the CTI"
    )
    print(json.dumps(figures))
    return 0
