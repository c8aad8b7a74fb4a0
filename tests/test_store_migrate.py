"""Migrations against a real PostgreSQL: idempotent, all-or-nothing, append-only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cti.store.errors import MigrationError
from cti.store.migrate import Migration, bundled, migrate


async def test_applying_again_changes_nothing(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        before = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        assert await migrate(conn) == []
        after = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        assert before == after
        assert [r["version"] for r in after] == [m.version for m in bundled()]
    finally:
        await conn.close()


async def test_a_failed_migration_leaves_the_schema_as_it_was_and_is_named(db_url: str) -> None:
    bad = Migration(
        9001,
        "9001_half_good.sql",
        "CREATE TABLE would_be_created (n int); ALTER TABLE no_such_table ADD COLUMN x int;",
    )
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(MigrationError) as err:
            await migrate(conn, [*bundled(), bad])
        assert err.value.code == "migration_failed"
        assert "9001_half_good.sql" in err.value.message
        exists = await conn.fetchval("SELECT to_regclass('would_be_created') IS NOT NULL")
        assert exists is False
        versions = await conn.fetch("SELECT version FROM schema_migrations")
        assert 9001 not in {r["version"] for r in versions}
    finally:
        await conn.close()


async def test_an_applied_migration_that_was_edited_is_refused(db_url: str) -> None:
    first = bundled()[0]
    edited = Migration(first.version, first.name, first.sql + "\n-- edited\n")
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(MigrationError) as err:
            await migrate(conn, [edited])
        assert err.value.code == "migration_changed"
        assert first.name in err.value.message
    finally:
        await conn.close()


def test_cti_migrate_is_idempotent_and_load_classifier_names_bad_files(
    database_url: str, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    base, _, _ = database_url.rpartition("/")

    async def fresh() -> None:
        conn = await asyncpg.connect(database_url)
        await conn.execute("DROP DATABASE IF EXISTS cti_cli_test")
        await conn.execute("CREATE DATABASE cti_cli_test")
        await conn.close()

    asyncio.run(fresh())
    env = {**os.environ, "CTI_DATABASE_URL": f"{base}/cti_cli_test", "CTI_LOG__LEVEL": "error"}

    def cti(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cti", *args], capture_output=True, text=True, env=env
        )

    first, second = cti("migrate"), cti("migrate")
    assert (first.returncode, second.returncode) == (0, 0)
    assert "0001_schema.sql" in first.stdout
    assert "up to date" in second.stdout
    bad = tmp_path / "c.yaml"
    bad.write_text("organisations: {}\ntopics: [{code: Bad Code, name: x}]\n")
    result = cti("load-classifier", str(bad))
    assert result.returncode == 2
    assert "topics.0.code" in result.stderr
