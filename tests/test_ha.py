"""Two `cti serve` with `ha.enabled` on one PostgreSQL and one simulated Asterisk, under
traffic (`cti bench failover`'s drill): the leader SIGKILLed, then frozen past its lease
and woken, then cut off from the database. The other takes over each time; callers keep
their place in line, agents their login; the old leader sends Asterisk nothing that
acts after the other leads, and exits; every call is stored once, with its end and its
agent."""

from __future__ import annotations

import io
from pathlib import Path

from cti.bench.failover import Options, drill


async def test_the_standby_takes_over_from_a_killed_a_frozen_and_a_cut_off_leader(
    db_url: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    # Round 1: SIGKILL; round 2: SIGSTOP past the lease; round 3: the database cut off.
    f = await drill(Options(rounds=3, drain_s=15.0), tmp_path, db_url, out)
    said = out.getvalue() + "\n".join(f.problems)
    assert len(f.takeovers_s) == 3, said
    assert all(t < 15.0 for t in f.takeovers_s), said  # the bench reports the real figure
    assert "cti-b leads" in said, said
    assert "cti-a leads" in said, said
    assert f.calls > 20, said  # there was traffic to lose
    assert f.records_lost == 0, said
    assert f.records_wrong == 0, said
    assert f.records_duplicated == 0, said
    assert f.relogins == 0, said
    assert f.places_lost == 0, said
    assert f.acted_while_deposed == 0, said
    assert f.deposed_not_exited == 0, said
    logs = "".join(p.read_text() for p in sorted(tmp_path.glob("cti-*/cti-*.log")))  # noqa: ASYNC240
    # The frozen one woke, knew and stopped; the cut-off one stopped once its lease ran
    # out (in its own words: the database unreachable, or the lease run out first).
    assert logs.count('"event": "ha.deposed"') == 2, logs[-3000:]
