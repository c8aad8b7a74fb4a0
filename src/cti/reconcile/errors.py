"""Reconcile errors: input that cannot be compared (exit 2), with a stable code and a
one-line message naming the problem (the file and line, the option)."""

from __future__ import annotations


class InputError(Exception):
    """A file missing or unreadable, a row that is not what the mapping writes, a naive
    datetime; `message` is the one line the command prints."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"InputError({self.code!r}, {self.message!r})"
