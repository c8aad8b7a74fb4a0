import asyncio
import itertools
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).parent))

# The captures of real Asterisk traffic the tests replay are kept beside them; set here
# for child processes too. CTI_TRANSCRIPTS_DIR, if set, points elsewhere.
os.environ.setdefault("CTI_TRANSCRIPTS_DIR", str(Path(__file__).parent / "transcripts"))


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that runs `cli.main` in-process points logging at its captured stderr,
    which pytest closes after it; a later log line (a thread's too) would then raise.
    Every test leaves logging as it found it: structlog's defaults, no root handler."""
    yield
    structlog.reset_defaults()
    for handler in logging.root.handlers[:]:
        logging.root.removeHandler(handler)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A real PostgreSQL for the session: `CTI_TEST_DATABASE_URL`, else an embedded server
    in a directory made for it (removed afterwards)."""
    from cti.store.embedded import scratch_database

    with scratch_database("cti-test-pg-", env="CTI_TEST_DATABASE_URL") as url:
        yield url


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def template_url(database_url: str) -> str:
    """A database migrated once per session; each test gets a fresh copy of it."""
    import asyncpg

    from cti.store.migrate import migrate

    async def build() -> None:
        admin = await asyncpg.connect(database_url)
        try:
            await admin.execute("DROP DATABASE IF EXISTS cti_template")
            await admin.execute("CREATE DATABASE cti_template")
        finally:
            await admin.close()
        conn = await asyncpg.connect(_with_database(database_url, "cti_template"))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    return _with_database(database_url, "cti_template")


_db_counter = itertools.count()


@pytest.fixture
def db_url(database_url: str, template_url: str) -> Iterator[str]:
    """A migrated database of this test's own (cloned from the template), dropped after."""
    import asyncpg

    name = f"cti_test_{os.getpid()}_{next(_db_counter)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name} TEMPLATE cti_template"))
    try:
        yield _with_database(database_url, name)
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def classified_db(db_url: str) -> Any:
    """A connection to this test's database with the example classifier loaded."""
    import asyncpg

    from cti.store.classifier import load_classifier, sync_classifier

    conn = await asyncpg.connect(db_url)
    await sync_classifier(
        conn, load_classifier(Path(__file__).parent.parent / "deploy" / "classifier.yaml")
    )
    try:
        yield conn
    finally:
        await conn.close()
