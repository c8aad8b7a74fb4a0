"""Reading Asterisk's accounting files: CSV rows with their line numbers, numbers that
must be numbers; every problem an `InputError` naming the file and the line. Files are
read a line at a time (a day of CEL on a busy line is a million rows)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from cti.reconcile.errors import InputError


@contextmanager
def opened(path: Path, option: str) -> Iterator[TextIO]:
    try:
        f = path.open(encoding="utf-8", errors="replace", newline="")
    except FileNotFoundError:
        raise InputError("missing_file", f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise InputError("unreadable_file", f"{option} {path}: is a directory") from None
    except OSError as exc:
        raise InputError("unreadable_file", f"{option} {path}: {exc.strerror}") from None
    with f:
        yield f


def csv_rows(
    path: Path, option: str, fields: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by field name) for each non-empty line of a CSV file written
    with the mapping whose `fields` these are. A row with another number of fields (a
    file of another mapping, a line cut short) is an error."""
    with opened(path, option) as f:
        reader = csv.reader(f, strict=True)
        try:
            for row in reader:
                if not row or row == [""]:
                    continue
                if len(row) != len(fields):
                    raise InputError(
                        "bad_row",
                        f"{path} line {reader.line_num}: {len(row)} fields, expected"
                        f" {len(fields)} ({','.join(fields)})",
                    )
                yield reader.line_num, dict(zip(fields, row, strict=True))
        except csv.Error as exc:
            raise InputError("bad_row", f"{path} line {reader.line_num}: {exc}") from None


def lines(path: Path, option: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line."""
    with opened(path, option) as f:
        for n, text in enumerate(f, start=1):
            yield n, text.rstrip("\r\n")


def number(value: str, name: str, path: Path, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(
            "bad_row", f"{path} line {line}: {name} {value!r} is not a number"
        ) from None
