"""Versioned SQL migrations: `NNNN_name.sql` files in `cti/store/migrations/`, applied in
order, each in its own transaction, recorded in `schema_migrations` with a checksum.

Applying is idempotent (applied files are skipped), serialised across processes by an
advisory lock, and a failed file rolls back completely and is named in the error.
An applied file whose text changed since is refused: migrations are append-only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import structlog

from cti.store.errors import MigrationError

log = structlog.get_logger(__name__)
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK = 0x63_74_69_6D  # advisory lock key: "ctim"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def bundled() -> list[Migration]:
    """The migrations shipped in the package, in version order."""
    out = []
    for entry in resources.files("cti.store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            out.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise MigrationError("duplicate_migration", f"two migrations share a version: {versions}")
    return out


async def migrate(conn: Any, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is missing; return the names applied now."""
    todo = bundled() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        done = []
        for m in todo:
            row = applied.get(m.version)
            if row is not None:
                if row["checksum"] != m.checksum:
                    raise MigrationError(
                        "migration_changed",
                        f"{m.name}: changed after it was applied (as {row['name']}); "
                        "add a new migration instead",
                    )
                continue
            try:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES ($1, $2, $3)",
                        m.version,
                        m.name,
                        m.checksum,
                    )
            except MigrationError:
                raise
            except Exception as exc:
                raise MigrationError(
                    "migration_failed", f"{m.name} failed, nothing of it applied: {exc}"
                ) from exc
            log.info("store.migrated", migration=m.name)
            done.append(m.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
