"""`cti import`: an old system's callers, cases (with their history) and past calls from
its CSV exports (docs/import.md).

The file is streamed: each line is validated alone (`import_models`), and good lines go
in by batches, each batch one transaction; a batch the database refuses is written again
line by line, each in a savepoint, so a bad line never takes the others with it. Every
imported line leaves a key (`import_keys`: the old system's id and the line as it was
imported): a second run imports nothing twice, and a line whose id is known but whose
content changed is reported, never written over what is stored. A dry run does all of it
inside one transaction that is rolled back at the end."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import csv
import hashlib
import json
import sys
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from cti.config import Settings, check_timezone
from cti.store import import_sql
from cti.store.errors import StoreError
from cti.store.import_models import LINES, Context, Line, Topic, problems
from cti.store.migrate import migrate

BATCH = 1000
DELIMITERS = (";", ",", "\t", "|")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (missing, not CSV, a required column
    missing): nothing of it was read."""


@dataclass
class Counts:
    file: str
    kind: str
    read: int = 0
    imported: int = 0
    merged: int = 0  # callers imported into one of ours with the same phone number
    already_present: int = 0
    changed: int = 0  # known id, different content: reported, not overwritten
    refused: int = 0


@dataclass(frozen=True, slots=True)
class Options:
    source: str = "legacy"
    dry_run: bool = False
    encoding: str = "utf-8-sig"
    delimiter: str | None = None  # None: sniffed from the header
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    batch: int = BATCH


class Report:
    """Refused and changed lines as CSV (file, line, column, outcome, reason), written
    as they are found; UTF-8 with a BOM, so a spreadsheet opens Cyrillic right."""

    COLUMNS = ("file", "line", "column", "outcome", "reason")
    SHOWN = 20  # refused lines also told on stderr, the first ones of a big file

    def __init__(self, path: Path | None) -> None:
        self._out: TextIO | None = None
        self.refused = 0
        if path is not None:
            self._out = path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._out)
            self._writer.writerow(self.COLUMNS)

    def add(self, counts: Counts, line: int, column: str, outcome: str, reason: str) -> None:
        if outcome == "refused":
            self.refused += 1
            if self.refused <= self.SHOWN:
                print(f"{counts.file}:{line}: {column or '-'}: {reason}", file=sys.stderr)
            elif self.refused == self.SHOWN + 1:
                print("... (every refused line is in the --report file)", file=sys.stderr)
        if self._out is not None:
            self._writer.writerow((counts.file, line, column, outcome, reason))

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


# --- reading ---------------------------------------------------------------------------


def sniff_delimiter(path: Path, encoding: str) -> str:
    """The delimiter the header line uses most of: `;` (a Bulgarian Excel's), `,`, tab."""
    with path.open(encoding=encoding, errors="replace", newline="") as f:
        header = f.readline()
    return max(DELIMITERS, key=header.count) if any(d in header for d in DELIMITERS) else ","


def read_rows(
    path: Path, kind: type[Line], encoding: str, delimiter: str | None
) -> Generator[tuple[int, dict[str, str] | str], None, None]:
    """(line number, values by column) for each record, streamed; (line, why) for one
    that cannot be read. Raises ImportFileError for a file that cannot be imported."""
    try:
        codecs.lookup(encoding)
        delimiter = delimiter or sniff_delimiter(path, encoding)
        f = path.open(encoding=encoding, errors="surrogateescape", newline="")
    except (OSError, LookupError) as exc:
        raise ImportFileError(f"{path}: {exc}") from None
    with f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = [h.strip().lstrip("\ufeff").casefold() for h in next(reader, [])]
        except csv.Error as exc:
            raise ImportFileError(f"{path}: not CSV: {exc}") from None
        missing = [c for c in kind.required if c not in header]
        if missing:
            raise ImportFileError(
                f"{path}: missing required column {', '.join(missing)}"
                f" (the header has: {', '.join(header) or 'nothing'};"
                f" delimiter {delimiter!r}, --delimiter to choose another)"
            )
        last = reader.line_num
        while True:
            start = last + 1
            try:
                fields = next(reader, None)
            except csv.Error as exc:
                last = reader.line_num
                yield start, f"not CSV: {exc}"
                continue
            last = reader.line_num
            if fields is None:
                return
            if not any(x.strip() for x in fields):
                continue  # blank line
            if len(fields) != len(header):
                yield start, f"{len(fields)} fields, the header has {len(header)}"
                continue
            yield start, dict(zip(header, fields, strict=True))


def validate(
    kind: type[Line], values: dict[str, str], context: Context, encoding: str
) -> Line | list[tuple[str, str]]:
    """The line as a model, or (column, why) for each problem in it. Pure."""
    given: dict[str, str] = {}
    for column, value in values.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # bytes the encoding could not read (surrogateescape)
            return [(column, f"not {encoding} text (a Windows export? --encoding cp1251)")]
        if value.strip():
            given[column] = value
    if kind.kind == "case_event" and "id" not in given:
        # A history line without an id of its own is keyed by its content.
        digest = hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()
        given["id"] = f"sha256:{digest[:40]}"
    try:
        return kind.model_validate(given, context=context)
    except ValidationError as exc:
        return problems(exc)


# --- writing ---------------------------------------------------------------------------


@dataclass
class _Pending:
    line: int
    item: Line
    data: dict[str, Any]
    case_id: int | None = None


class Importer:
    """Imports files of one source over one connection; counts and reports per file."""

    def __init__(self, conn: Any, options: Options, context: Context, report: Report) -> None:
        self.conn = conn
        self.options = options
        self.context = context
        self.report = report

    async def run(self, path: Path, what: str) -> Counts:
        kind = LINES[what]
        counts = Counts(str(path), what)
        batch: list[_Pending] = []
        for line, row in read_rows(path, kind, self.options.encoding, self.options.delimiter):
            counts.read += 1
            if isinstance(row, str):
                self._refuse(counts, line, "", row)
                continue
            item = validate(kind, row, self.context, self.options.encoding)
            if isinstance(item, list):
                counts.refused += 1
                for column, why in item:
                    self.report.add(counts, line, column, "refused", why)
                continue
            batch.append(_Pending(line, item, item.model_dump(mode="json")))
            if len(batch) >= self.options.batch:
                await self._batch(counts, batch)
                batch = []
        if batch:
            await self._batch(counts, batch)
        return counts

    def _refuse(self, counts: Counts, line: int, column: str, why: str) -> None:
        counts.refused += 1
        self.report.add(counts, line, column, "refused", why)

    async def _batch(self, counts: Counts, batch: list[_Pending]) -> None:
        """Known ids are compared, not written; cases named by a line are looked up;
        the rest goes in."""
        kind = batch[0].item.kind
        known = await import_sql.known(self.conn, kind, self.options.source, batch)
        cases = await import_sql.case_ids(self.conn, self.options.source, batch)
        todo: list[_Pending] = []
        for p in batch:
            before = known.get(p.item.id)
            if before is not None:
                self._compare(counts, p, before)
                continue
            known[p.item.id] = p.data  # the same id again further down the file
            case = getattr(p.item, "case", None)
            if case is not None:
                p.case_id = cases.get(case)
                if p.case_id is None:
                    source = self.options.source
                    why = f"no case {case!r} imported from {source} (import the cases first)"
                    self._refuse(counts, p.line, "case", why)
                    del known[p.item.id]
                    continue
            todo.append(p)
        if todo:
            await self._write(counts, todo)

    def _compare(self, counts: Counts, p: _Pending, before: dict[str, Any]) -> None:
        if before == p.data:
            counts.already_present += 1
            return
        counts.changed += 1
        columns = sorted(k for k in p.data.keys() | before.keys() if p.data.get(k) != before.get(k))
        why = (
            f"id {p.item.id!r} was imported with other values ({', '.join(columns)}):"
            " changed, not overwritten"
        )
        self.report.add(counts, p.line, columns[0] if len(columns) == 1 else "", "changed", why)

    async def _write(self, counts: Counts, todo: list[_Pending]) -> None:
        import asyncpg

        statement, args = import_sql.statement(todo[0].item.kind), [self._args(p) for p in todo]
        try:
            async with self.conn.transaction():
                rows = await self.conn.fetchmany(statement, args)
        except (asyncpg.PostgresError, asyncpg.DataError) as exc:
            if isinstance(exc, asyncpg.PostgresConnectionError):
                raise
            rows = []
            for p, one in zip(todo, args, strict=True):
                try:
                    async with self.conn.transaction():
                        rows.append(await self.conn.fetchrow(statement, *one))
                except (asyncpg.PostgresError, asyncpg.DataError) as line_exc:
                    if isinstance(line_exc, asyncpg.PostgresConnectionError):
                        raise
                    rows.append(None)
                    self._refuse(counts, p.line, *import_sql.why(line_exc))
        for row in rows:
            if row is not None:
                counts.imported += 1
                counts.merged += 0 if row["inserted"] else 1

    def _args(self, p: _Pending) -> list[Any]:
        return import_sql.arguments(p.item, p.data, self.options.source, p.case_id, self.context)


# --- the command -----------------------------------------------------------------------


async def load_context(conn: Any, zone: ZoneInfo) -> Context:
    """The classifier as stored (inactive topics too: old cases keep their topic)."""
    topics = {
        r["code"]: Topic(r["organisation"], r["regulation_days"])
        for r in await conn.fetch("SELECT code, organisation, regulation_days FROM topics")
    }
    organisations = frozenset(r["code"] for r in await conn.fetch("SELECT code FROM organisations"))
    return Context(zone, topics, organisations)


async def import_files(
    url: str, files: list[tuple[Path, str]], options: Options, report: Report
) -> list[Counts]:
    """Import each (file, kind) in order over one connection; a dry run rolls all back."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        outer = conn.transaction()
        if options.dry_run:
            await outer.start()
        try:
            await migrate(conn)
            context = await load_context(conn, options.zone)
            importer = Importer(conn, options, context, report)
            return [await importer.run(path, kind) for path, kind in files]
        finally:
            if options.dry_run:
                await outer.rollback()
    finally:
        await conn.close()


def add_parser(sub: Any) -> None:
    """`cti import callers|cases|calls FILE` with their options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("file", type=Path, help="the CSV file the old system exported")
    common.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    common.add_argument("--report", type=Path, help="CSV of refused and changed lines")
    common.add_argument("--encoding", default="utf-8-sig", help="e.g. cp1251 (default UTF-8)")
    common.add_argument("--delimiter", default=None, help="; , or tab (default: sniffed)")
    common.add_argument("--source", default="legacy", help="the old system's name (keys)")
    common.add_argument(
        "--timezone", default=None, help="of times without an offset (default: setting)"
    )
    imp = sub.add_parser("import", help="an old system's callers, cases, calls from CSV")
    what = imp.add_subparsers(dest="import_kind", required=True)
    what.add_parser("callers", parents=[common], help="callers: id, phone, name, ...")
    cases = what.add_parser("cases", parents=[common], help="cases (and their history)")
    cases.add_argument("--history", type=Path, help="the cases' history lines (CSV)")
    what.add_parser("calls", parents=[common], help="past calls: id, arrived_at, outcome, ...")


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Run `cti import`; exit 0 when every line is in, 1 when some were refused or
    changed, 2 when a file could not be imported at all."""
    import asyncpg

    from cti.app import database

    try:
        zone = ZoneInfo(check_timezone(args.timezone or settings.timezone or "UTC"))
        if not import_sql.SOURCE.match(args.source):
            raise ValueError(f"--source: letters, digits, . _ - (at most 32), got {args.source!r}")
    except ValueError as exc:
        print(f"cti import: {exc}", file=sys.stderr)
        return 2
    delimiter = "\t" if args.delimiter in ("tab", "\\t") else args.delimiter
    if delimiter is not None and len(delimiter) != 1:
        print(f"cti import: --delimiter: one character, got {delimiter!r}", file=sys.stderr)
        return 2
    options = Options(args.source, args.dry_run, args.encoding, delimiter, zone)
    files = [(args.file, args.import_kind)]
    if getattr(args, "history", None) is not None:
        files.append((args.history, "case_history"))
    try:  # every file's header before any line of any file goes in
        for path, kind in files:
            rows = read_rows(path, LINES[kind], args.encoding, delimiter)
            next(rows, None)
            rows.close()
        report = Report(args.report)
    except (ImportFileError, OSError) as exc:
        print(f"cti import: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        with database(settings) as url:
            results = asyncio.run(import_files(url, files, options, report))
    except ImportFileError as exc:
        print(f"cti import: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError, StoreError) as exc:
        print(f"cti import: database: {exc}", file=sys.stderr)  # run again: nothing twice
        return 1
    finally:
        report.close()
    return summary(results, options, args.report, time.monotonic() - started)


def summary(results: list[Counts], options: Options, report: Path | None, seconds: float) -> int:
    verb = "would be imported" if options.dry_run else "imported"
    for c in results:
        merged = f" ({c.merged} into callers already known)" if c.merged else ""
        print(
            f"{c.file} ({c.kind}): {c.read} read, {c.imported} {verb}{merged},"
            f" {c.already_present} already present, {c.changed} changed (not overwritten),"
            f" {c.refused} refused"
        )
    print(
        json.dumps(
            {
                "dry_run": options.dry_run,
                "source": options.source,
                "timezone": str(options.zone),
                "files": [asdict(c) for c in results],
                "report": None if report is None else str(report),
                "seconds": round(seconds, 2),
            },
            ensure_ascii=False,
        )
    )
    return 1 if any(c.refused or c.changed for c in results) else 0
