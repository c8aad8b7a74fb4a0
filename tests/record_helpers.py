"""Outbox records the store tests write."""

from __future__ import annotations

from cti.store.outbox import Record


def abandoned_call(key: str) -> Record:
    """A minimal `interaction` record: a caller who gave up after a minute."""
    return Record(
        "interaction",
        key,
        {
            "arrived_at": 1795000000,
            "ended_at": 1795000060,
            "caller_number": "+359888000001",
            "outcome": "abandoned",
            "legs": [
                {
                    "id": f"{key}.leg",
                    "channel": "PJSIP/trunk-1",
                    "role": "caller",
                    "started_at": 1795000000,
                }
            ],
        },
    )
