"""What `cti demo` shows in the knowledge base and the directory of services: the
articles, call scripts and offices of `sim/data/knowledge-demo.yaml`, written once into
an empty knowledge base (a demo's database outlives it; its articles are not doubled)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from cti.config import load_yaml_model
from cti.store import directory, knowledge
from cti.store.classifier import load_classifier, sync_classifier
from cti.store.directory import EntryIn
from cti.store.errors import StoreError
from cti.store.knowledge import ArticleIn
from cti.store.migrate import migrate

DEMO_KNOWLEDGE = Path(__file__).parent / "data" / "knowledge-demo.yaml"


class KnowledgeSeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    articles: list[ArticleIn]
    directory: list[EntryIn]


async def seed_knowledge(conn: Any, path: Path = DEMO_KNOWLEDGE, actor: str = "demo") -> int:
    """Write the file's articles and offices if there are no articles yet; how many were
    written (one whose topic the classifier in use lacks is left out)."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM kb_articles)"):
        return 0
    seed = load_yaml_model(path, KnowledgeSeed)
    written = 0
    async with conn.transaction():
        for article in seed.articles:
            try:
                await knowledge.create_article(conn, article, actor)  # checks before writing
            except StoreError:
                continue
            written += 1
        for entry in seed.directory:
            try:
                await directory.create_entry(conn, entry, actor)
            except StoreError:
                continue
            written += 1
    return written


async def seed_demo_knowledge(url: str, classifier: Path | None) -> int:
    """For `cti demo`: the classifier first (the articles' topics; the store loads it
    too, on its own first connection, which may come later), then the seed."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        if classifier is not None:
            await sync_classifier(conn, load_classifier(classifier))
        return await seed_knowledge(conn)
    finally:
        await conn.close()
