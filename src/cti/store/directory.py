"""The directory of services: the organisations and offices citizens are sent to (what
they handle, phones, e-mail, web, address, opening hours), searched by agents with the
knowledge base's full-text search (cti.store.knowledge_text)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cti.store.errors import StoreError
from cti.store.knowledge import OrgCode, TopicCode, check_refs
from cti.store.knowledge_text import (
    CONFIGS,
    RELATED_TOPIC,
    Language,
    index_text,
    query_params,
    rank_sql,
    search_sql,
    text_match,
)

_ENTRY_COLUMNS = (
    "id, name, organisation, handles, topics, phones, email, web, address, hours, language,"
    " active, updated_by, updated_at"
)
Phone = Annotated[str, Field(min_length=3, max_length=40)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EntryIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=300)]
    organisation: OrgCode | None = None
    handles: Annotated[str, Field(max_length=4000)] = ""  # what they handle, in words
    topics: Annotated[list[TopicCode], Field(max_length=20)] = []
    phones: Annotated[list[Phone], Field(max_length=10)] = []
    email: Annotated[str, Field(max_length=300, pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")] = ""
    web: Annotated[str, Field(max_length=500, pattern=r"^$|^https?://\S+$")] = ""
    address: Annotated[str, Field(max_length=500)] = ""
    hours: Annotated[str, Field(max_length=500)] = ""
    language: Language = "bg"
    active: bool = True


class Entry(BaseModel):
    id: int
    name: str
    organisation: str | None
    handles: str
    topics: list[str]
    phones: list[str]
    email: str
    web: str
    address: str
    hours: str
    language: Language
    active: bool
    updated_by: str
    updated_at: dt.datetime


def _entry_text(data: EntryIn) -> tuple[str, str]:
    body = " ".join((data.handles, data.address, data.hours, data.email, data.web))
    return index_text(data.name, data.language), index_text(body, data.language)


async def create_entry(conn: Any, data: EntryIn, actor: str) -> Entry:
    await check_refs(conn, data.topics, data.organisation)
    title, body = _entry_text(data)
    row = await conn.fetchrow(
        "INSERT INTO directory_entries (name, organisation, handles, topics, phones, email, web,"
        " address, hours, language, active, search, updated_by) VALUES ($1, $2, $3, $4, $5, $6,"
        f" $7, $8, $9, $10, $11, {search_sql('$12', '$13', '$14')}, $15)"
        f" RETURNING {_ENTRY_COLUMNS}",
        *_entry_values(data),
        title,
        body,
        CONFIGS[data.language],
        actor,
    )
    return Entry.model_validate(dict(row))


def _entry_values(data: EntryIn) -> tuple[Any, ...]:
    return (
        data.name,
        data.organisation,
        data.handles,
        data.topics,
        data.phones,
        data.email,
        data.web,
        data.address,
        data.hours,
        data.language,
        data.active,
    )


async def get_entry(conn: Any, entry_id: int) -> Entry:
    row = await conn.fetchrow(
        f"SELECT {_ENTRY_COLUMNS} FROM directory_entries WHERE id = $1", entry_id
    )
    if row is None:
        raise StoreError("entry_not_found", f"no directory entry {entry_id}")
    return Entry.model_validate(dict(row))


async def update_entry(conn: Any, entry_id: int, patch: dict[str, Any], actor: str) -> Entry:
    """The fields in `patch` (already validated by the edge), checked as a whole entry."""
    async with conn.transaction():
        old = await get_entry(conn, entry_id)
        merged = EntryIn.model_validate(
            {**old.model_dump(include=set(EntryIn.model_fields)), **patch}
        )
        await check_refs(conn, merged.topics, merged.organisation)
        title, body = _entry_text(merged)
        row = await conn.fetchrow(
            "UPDATE directory_entries SET name = $2, organisation = $3, handles = $4, topics = $5,"
            " phones = $6, email = $7, web = $8, address = $9, hours = $10, language = $11,"
            f" active = $12, search = {search_sql('$13', '$14', '$15')}, updated_by = $16,"
            f" updated_at = now() WHERE id = $1 RETURNING {_ENTRY_COLUMNS}",
            entry_id,
            *_entry_values(merged),
            title,
            body,
            CONFIGS[merged.language],
            actor,
        )
    return Entry.model_validate(dict(row))


async def search_entries(
    conn: Any,
    q: str | None = None,
    topic: str | None = None,
    include_inactive: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Entry], int]:
    """Directory entries matching the words `q` (best first) and the topic; the total."""
    terms = query_params(q)
    args: list[Any] = []
    where = ["true" if include_inactive else "e.active"]
    order = "e.name, e.id"
    if terms is not None:
        args += terms
        where.append(text_match("e", 1))
        order = f"{rank_sql('e', 1)} DESC, {order}"
    if topic is not None:
        args.append(topic)
        where.append(RELATED_TOPIC.format(alias="e", n=len(args)))
    condition = " AND ".join(where)
    total = await conn.fetchval(
        f"SELECT count(*) FROM directory_entries e WHERE {condition}", *args
    )
    rows = await conn.fetch(
        f"SELECT {', '.join('e.' + c for c in _ENTRY_COLUMNS.split(', '))}"
        f" FROM directory_entries e WHERE {condition} ORDER BY {order}"
        f" LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    return [Entry.model_validate(dict(r)) for r in rows], total
