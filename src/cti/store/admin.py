"""`cti migrate`, `cti load-classifier FILE`, `cti purge`: one-shot database chores."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import asyncpg

from cti.api import auth
from cti.config import ConfigError, Settings
from cti.store.classifier import load_classifier, sync_classifier
from cti.store.errors import StoreError
from cti.store.migrate import migrate
from cti.store.retention import purge


async def _run(
    url: str, command: str, file: Path | None, settings: Settings, args: Any = None
) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        applied = await migrate(conn)
        if command == "migrate":
            print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
        elif command == "load-classifier":
            assert file is not None
            result = await sync_classifier(conn, load_classifier(file))
            print(f"{result['topics']} topics loaded, {result['deactivated']} deactivated")
        elif command == "user" and args.user_command == "add":
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
            orgs = tuple(args.organisation or ())
            await auth.create_user(
                conn, args.username, args.role, args.agent, password, orgs, args.email
            )
            scope = f", organisations {', '.join(sorted(set(orgs)))}" if orgs else ""
            print(f"user {args.username} ({args.role}{scope}) added")
        elif command == "user":
            if args.api_key:
                print(await auth.issue_token(conn, args.username, "api_key"))
            else:
                print(await auth.issue_token(conn, args.username, "session"))
        elif command == "purge":
            removed = await purge(conn, dict(settings.store.retention_days))
            for kind, count in removed.items():
                print(f"{kind}: {count} removed")
    finally:
        await conn.close()


def run_admin(settings: Settings, command: str, file: Path | None, args: Any = None) -> int:
    from cti.app import database

    try:
        with database(settings) as url:
            asyncio.run(_run(url, command, file, settings, args))
    except ConfigError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    except (StoreError, ValueError) as exc:
        code = getattr(exc, "code", "invalid")
        print(f"cti {command}: {code}: {exc}", file=sys.stderr)
        return 1
    except asyncpg.ForeignKeyViolationError:
        print(
            f"cti {command}: unknown_user: no user {getattr(args, 'username', '')!r}",
            file=sys.stderr,
        )
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"cti {command}: database: {exc}", file=sys.stderr)
        return 1
    return 0
