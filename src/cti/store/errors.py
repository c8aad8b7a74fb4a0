"""Storage errors: a stable machine code and a human message (mapped to HTTP once, at
the edge)."""

from __future__ import annotations


class StoreError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"StoreError({self.code!r}, {self.message!r})"


class MigrationError(StoreError):
    """A migration failed (its file named) or an applied one was changed since."""


class Fenced(Exception):
    """This process's leader epoch is stale (cti.ha.lease): it must not write or act."""
