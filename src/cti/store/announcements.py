"""Live notices per topic ("planned water outage in district X until 18:00"), played by
the IVR only while valid. A notice for a topic also applies to its sub-topics."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cti.store.errors import StoreError


class AnnouncementIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    topic: str | None = None  # None: every caller hears it
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    prompt: Annotated[str, Field(max_length=300)] | None = None
    valid_from: dt.datetime
    valid_to: dt.datetime


class Announcement(AnnouncementIn):
    id: int


async def add_announcement(conn: Any, data: AnnouncementIn) -> Announcement:
    if data.valid_to <= data.valid_from:
        raise StoreError("bad_period", "valid_to must be after valid_from")
    if data.topic is not None and not await conn.fetchval(
        "SELECT true FROM topics WHERE code = $1", data.topic
    ):
        raise StoreError("unknown_topic", f"no topic {data.topic!r} in the classifier")
    row = await conn.fetchrow(
        "INSERT INTO announcements (topic, text, prompt, valid_from, valid_to)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id, topic, text, prompt, valid_from, valid_to",
        data.topic,
        data.text,
        data.prompt,
        data.valid_from,
        data.valid_to,
    )
    return Announcement.model_validate(dict(row))


async def current_announcements(
    conn: Any, topic: str | None, now: dt.datetime
) -> list[Announcement]:
    """Valid now, for this topic, one of its ancestors, or everyone; oldest first."""
    ancestors: list[str] = []
    if topic:
        parts = topic.split(".")
        ancestors = [".".join(parts[: i + 1]) for i in range(len(parts))]
    rows = await conn.fetch(
        "SELECT id, topic, text, prompt, valid_from, valid_to FROM announcements"
        " WHERE valid_from <= $1 AND valid_to > $1"
        " AND (topic IS NULL OR topic = ANY($2::text[])) ORDER BY valid_from, id",
        now,
        ancestors,
    )
    return [Announcement.model_validate(dict(r)) for r in rows]
