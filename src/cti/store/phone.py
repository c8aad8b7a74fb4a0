"""Phone numbers as stored and looked up: E.164 (`+35928001234`)."""

from __future__ import annotations

import re

from cti.store.errors import StoreError

_SEPARATORS = re.compile(r"[\s\-().\/]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalise(number: str, country_code: str = "359") -> str:
    """`0888 123 456` -> `+359888123456`; `00359...` and `+359...` kept as E.164.

    Raises StoreError(bad_phone) naming the input when it cannot be a phone number.
    """
    raw = number
    text = _SEPARATORS.sub("", number.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("0") and text[1:].isdigit():
        text = f"+{country_code}{text[1:]}"
    elif text.isdigit() and len(text) >= 10:
        text = "+" + text  # international without the plus, as some trunks send it
    if not _E164.match(text):
        raise StoreError("bad_phone", f"not a phone number: {raw!r}")
    return text


def try_normalise(number: str, country_code: str = "359") -> str | None:
    """The E.164 form, or None for what is not a phone number (anonymous, extensions)."""
    try:
        return normalise(number, country_code)
    except StoreError:
        return None
