"""ACD errors: a stable machine code plus a human message."""

from __future__ import annotations


class AcdError(Exception):
    """An ACD request was refused; clients match on `code`, never on the message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"AcdError({self.code!r}, {self.message!r})"
