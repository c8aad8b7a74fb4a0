"""The knowledge base: articles and call scripts per topic and language, valid for a
period, owned by an organisation, marked helpful or outdated by agents; found by
full-text search in PostgreSQL per language (cti.store.knowledge_text says how), as
the directory of services is (cti.store.directory).

Only articles valid now are searched and suggested unless a reader asks for all
(`valid="all"`: the people who keep the base up to date)."""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from cti.store.errors import StoreError
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

Kind = Literal["article", "script"]
Verdict = Literal["helpful", "outdated"]
TopicCode = Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=200)]
OrgCode = Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,64}$")]
SUGGESTED = 3  # articles on a screen-pop
MEMO_LIMIT = 1_000  # (topic, language) answers remembered between two reloads
_FOREVER = dt.datetime.max.replace(tzinfo=dt.UTC)
_ARTICLE_COLUMNS = (
    "a.id, a.kind, a.title, a.body, a.topics, a.language, a.valid_from, a.valid_to,"
    " a.organisation, a.review_on, a.created_by, a.created_at, a.updated_by, a.updated_at,"
    " (SELECT count(*) FROM kb_feedback f WHERE f.article_id = a.id AND f.verdict = 'helpful')"
    " AS helpful,"
    " (SELECT count(*) FROM kb_feedback f WHERE f.article_id = a.id AND f.verdict = 'outdated')"
    " AS outdated"
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ArticleIn(_In):
    kind: Kind = "article"
    title: Annotated[str, Field(min_length=1, max_length=300)]
    body: Annotated[str, Field(min_length=1, max_length=20_000)]
    topics: Annotated[list[TopicCode], Field(max_length=20)] = []
    language: Language
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    organisation: OrgCode | None = None
    review_on: dt.date | None = None

    @field_validator("valid_to")
    @classmethod
    def _after_start(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        start = info.data.get("valid_from")
        if value is not None and start is not None and value <= start:
            raise ValueError("valid_to must be after valid_from")
        return value


class ArticleUpdate(_In):
    """A change to an article: the fields given, the others as they are."""

    kind: Kind | None = None
    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    body: Annotated[str, Field(min_length=1, max_length=20_000)] | None = None
    topics: Annotated[list[TopicCode], Field(max_length=20)] | None = None
    language: Language | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    organisation: OrgCode | None = None
    review_on: dt.date | None = None


class Article(BaseModel):
    id: int
    kind: Kind
    title: str
    body: str
    topics: list[str]
    language: Language
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    organisation: str | None
    review_on: dt.date | None
    created_by: str
    created_at: dt.datetime
    updated_by: str
    updated_at: dt.datetime
    helpful: int  # agents who found it helpful (their latest word)
    outdated: int  # agents who reported it outdated


class FeedbackIn(_In):
    verdict: Verdict
    comment: Annotated[str, Field(max_length=1000)] = ""


# --- checks shared by articles and entries ----------------------------------------------


async def check_refs(conn: Any, topics: Sequence[str], organisation: str | None) -> None:
    if topics:
        known = {
            r["code"]
            for r in await conn.fetch("SELECT code FROM topics WHERE code = ANY($1)", list(topics))
        }
        missing = [t for t in topics if t not in known]
        if missing:
            raise StoreError("unknown_topic", f"topics: no topic {missing[0]!r} in the classifier")
    if organisation is not None and not await conn.fetchval(
        "SELECT true FROM organisations WHERE code = $1", organisation
    ):
        raise StoreError("unknown_organisation", f"organisation: no organisation {organisation!r}")


# --- articles ---------------------------------------------------------------------------


async def create_article(conn: Any, data: ArticleIn, actor: str) -> Article:
    await check_refs(conn, data.topics, data.organisation)
    article_id = await conn.fetchval(
        "INSERT INTO kb_articles (kind, title, body, topics, language, valid_from, valid_to,"
        " organisation, review_on, search, created_by, updated_by) VALUES ($1, $2, $3, $4, $5,"
        f" $6, $7, $8, $9, {search_sql('$10', '$11', '$12')}, $13, $13) RETURNING id",
        data.kind,
        data.title,
        data.body,
        data.topics,
        data.language,
        data.valid_from,
        data.valid_to,
        data.organisation,
        data.review_on,
        index_text(data.title, data.language),
        index_text(data.body, data.language),
        CONFIGS[data.language],
        actor,
    )
    return await get_article(conn, article_id)


async def get_article(conn: Any, article_id: int) -> Article:
    row = await conn.fetchrow(
        f"SELECT {_ARTICLE_COLUMNS} FROM kb_articles a WHERE id = $1", article_id
    )
    if row is None:
        raise StoreError("article_not_found", f"no article {article_id}")
    return Article.model_validate(dict(row))


async def update_article(conn: Any, article_id: int, data: ArticleUpdate, actor: str) -> Article:
    """The fields given, checked together with the others as one article would be."""
    async with conn.transaction():
        old = await get_article(conn, article_id)
        merged = ArticleIn.model_validate(
            {
                **old.model_dump(include=set(ArticleIn.model_fields)),
                **data.model_dump(exclude_unset=True),
            }
        )
        await check_refs(conn, merged.topics, merged.organisation)
        await conn.execute(
            "UPDATE kb_articles SET kind = $2, title = $3, body = $4, topics = $5, language = $6,"
            " valid_from = $7, valid_to = $8, organisation = $9, review_on = $10,"
            f" search = {search_sql('$11', '$12', '$13')}, updated_by = $14, updated_at = now()"
            " WHERE id = $1",
            article_id,
            merged.kind,
            merged.title,
            merged.body,
            merged.topics,
            merged.language,
            merged.valid_from,
            merged.valid_to,
            merged.organisation,
            merged.review_on,
            index_text(merged.title, merged.language),
            index_text(merged.body, merged.language),
            CONFIGS[merged.language],
            actor,
        )
    return await get_article(conn, article_id)


async def search_articles(
    conn: Any,
    now: dt.datetime,
    q: str | None = None,
    topic: str | None = None,
    language: Language | None = None,
    kind: Kind | None = None,
    organisation: str | None = None,
    valid: Literal["now", "all"] = "now",
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[Article], int]:
    """Articles matching the words `q` (best first) and the filters; the total too."""
    terms = query_params(q)
    args: list[Any] = []
    where = ["true"]
    if valid == "now":
        args.append(now)
        where.append(
            "(a.valid_from IS NULL OR a.valid_from <= $1)"
            " AND (a.valid_to IS NULL OR a.valid_to > $1)"
        )
    order = "a.updated_at DESC, a.id DESC"
    if terms is not None:
        first = len(args) + 1
        args += terms
        where.append(text_match("a", first))
        order = f"{rank_sql('a', first)} DESC, {order}"
    for column, value in (("language", language), ("kind", kind), ("organisation", organisation)):
        if value is not None:
            args.append(value)
            where.append(f"a.{column} = ${len(args)}")
    if topic is not None:
        args.append(topic)
        where.append(RELATED_TOPIC.format(alias="a", n=len(args)))
    condition = " AND ".join(where)
    total = await conn.fetchval(f"SELECT count(*) FROM kb_articles a WHERE {condition}", *args)
    rows = await conn.fetch(
        f"SELECT {_ARTICLE_COLUMNS} FROM kb_articles a WHERE {condition} ORDER BY {order}"
        f" LIMIT {int(limit)} OFFSET {int(offset)}",
        *args,
    )
    return [Article.model_validate(dict(r)) for r in rows], total


async def add_feedback(conn: Any, article_id: int, username: str, data: FeedbackIn) -> Article:
    """An agent's word on an article (her earlier one replaced); the article with counts."""
    await get_article(conn, article_id)
    await conn.execute(
        "INSERT INTO kb_feedback (article_id, username, verdict, comment) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (article_id, username) DO UPDATE SET verdict = EXCLUDED.verdict,"
        " comment = EXCLUDED.comment, at = now()",
        article_id,
        username,
        data.verdict,
        data.comment,
    )
    return await get_article(conn, article_id)


async def feedback_report(conn: Any, article_id: int) -> dict[str, Any]:
    """For the article's owner: the counts and every outdated report (who, when, why)."""
    article = await get_article(conn, article_id)
    rows = await conn.fetch(
        "SELECT username, comment, at FROM kb_feedback WHERE article_id = $1"
        " AND verdict = 'outdated' ORDER BY at DESC",
        article_id,
    )
    return {
        "article": article_id,
        "organisation": article.organisation,
        "helpful": article.helpful,
        "outdated": article.outdated,
        "outdated_reports": [
            {"username": r["username"], "comment": r["comment"], "at": r["at"].isoformat()}
            for r in rows
        ],
    }


# --- suggestions for a call ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What a screen-pop shows of an article: enough to pick it (a script: all of it)."""

    id: int
    kind: Kind
    title: str
    text: str  # a script's body; an article's first lines
    topics: tuple[str, ...]
    language: Language
    score: int  # helpful minus outdated
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    updated_at: dt.datetime


async def suggestion_pool(conn: Any, now: dt.datetime, ahead: dt.timedelta) -> list[Suggestion]:
    """Articles and scripts valid at some time in [now, now + ahead] (a cache that is
    reloaded every `ahead` checks the exact time itself: `suggest`)."""
    rows = await conn.fetch(
        f"SELECT {_ARTICLE_COLUMNS} FROM kb_articles a WHERE cardinality(a.topics) > 0"
        " AND (a.valid_from IS NULL OR a.valid_from <= $2)"
        " AND (a.valid_to IS NULL OR a.valid_to > $1)",
        now,
        now + ahead,
    )
    return [
        Suggestion(
            id=r["id"],
            kind=r["kind"],
            title=r["title"],
            text=r["body"] if r["kind"] == "script" else r["body"][:300],
            topics=tuple(r["topics"]),
            language=r["language"],
            score=r["helpful"] - r["outdated"],
            valid_from=r["valid_from"],
            valid_to=r["valid_to"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


class SuggestionIndex:
    """The pool by topic: a pop looks at the articles of its topic's family only."""

    def __init__(self, pool: Sequence[Suggestion] = ()) -> None:
        self.size = len(pool)
        self.memo: dict[tuple[str, str | None], tuple[dict[str, Any], dt.datetime]] = {}
        self.by_topic: dict[str, list[Suggestion]] = {}
        for s in pool:
            for t in set(s.topics):
                self.by_topic.setdefault(t, []).append(s)

    def related(self, topic: str) -> dict[int, tuple[int, Suggestion]]:
        """Per article id: 0 tagged with `topic`, 1 with a broader one, 2 a narrower one
        (the closest if it has several)."""
        found: dict[int, tuple[int, Suggestion]] = {}
        for tag, items in self.by_topic.items():
            if tag == topic:
                relation = 0
            elif topic.startswith(tag + "."):
                relation = 1
            elif tag.startswith(topic + "."):
                relation = 2
            else:
                continue
            for s in items:
                if s.id not in found or relation < found[s.id][0]:
                    found[s.id] = (relation, s)
        return found


def suggest(
    index: SuggestionIndex, topic: str | None, language: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Up to SUGGESTED articles and the call script for a call's topic and language:
    the call's language first, then the closest topic, the most helpful, the newest.
    Remembered per topic and language until an article of the topic's family starts or
    ends its validity (the answer is shared: not to be changed)."""
    if not topic:
        return {"articles": [], "script": None}
    kept = index.memo.get((topic, language))
    if kept is not None and now < kept[1]:
        return kept[0]
    articles, scripts = [], []
    until = _FOREVER
    for relation, s in index.related(topic).values():
        starts, ends = s.valid_from, s.valid_to
        until = min([until, *(t for t in (starts, ends) if t is not None and t > now)])
        if (starts is not None and starts > now) or (ends is not None and ends <= now):
            continue
        key = (s.language != language, relation, -s.score, -s.updated_at.timestamp(), s.id)
        if s.kind == "article":
            articles.append((key, s))
        elif relation != 2:  # a script of a narrower topic is not this call's
            scripts.append((key, s))
    best = heapq.nsmallest(SUGGESTED, articles, key=lambda pair: pair[0])
    script = min(scripts, key=lambda pair: pair[0], default=None)
    answer = {
        "articles": [_shown(s) for _, s in best],
        "script": _shown(script[1]) if script else None,
    }
    if len(index.memo) >= MEMO_LIMIT:  # topics come from the dialplan: any text
        index.memo.clear()
    index.memo[(topic, language)] = (answer, until)
    return answer


def _shown(s: Suggestion) -> dict[str, Any]:
    return {"id": s.id, "title": s.title, "text": s.text, "language": s.language}
