"""The database restarting cuts the connections the CTI's pool holds: the next use of
such a connection fails inside asyncpg (`InterfaceError`, not a PostgreSQL error). Such
a request is a 503 (or succeeds on a fresh connection), never a 500."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from api_helpers import world

CUT = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    " WHERE pid <> pg_backend_pid() AND datname = current_database()"
)


async def cut_every_connection(db_url: str) -> int:
    admin = await asyncpg.connect(db_url)
    try:
        return len(await admin.fetch(CUT))
    finally:
        await admin.close()


async def test_ready_and_routes_on_cut_connections_answer_503_not_500(
    db_url: str, tmp_path: Path
) -> None:
    async with world(db_url, tmp_path) as w:
        for path, role in (("/ready", None), ("/api/v1/agents", "supervisor")):
            for _ in range(3):  # fill the pool with connections, then cut them all
                assert (await w.call("GET", path, role))[0] == 200
            assert await cut_every_connection(db_url) > 0
            statuses = [(await w.call("GET", path, role))[0] for _ in range(5)]
            assert 500 not in statuses, (path, statuses)
            assert statuses[-1] == 200, (path, statuses)  # fresh connections by itself
