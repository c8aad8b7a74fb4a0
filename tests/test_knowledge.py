"""The knowledge base and the directory of services (issue 22) on a real PostgreSQL:
inflected forms find the article in Bulgarian (our suffix stripping), Russian,
Hungarian and English (PostgreSQL's stemmers); articles out of their validity are
neither searched nor suggested; the screen-pop's suggestions and call script; agents'
feedback counted for the owner; the REST edge's roles and refusals."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_helpers import next_of, world
from cti.api import auth
from cti.sim.knowledge_seed import seed_knowledge
from cti.sim.models import Citizen
from cti.store import directory, knowledge
from cti.store.classifier import load_classifier, sync_classifier
from cti.store.directory import EntryIn
from cti.store.errors import StoreError
from cti.store.knowledge import ArticleIn, ArticleUpdate, FeedbackIn
from cti.store.knowledge_text import LANGUAGES, bulgarian_stems, query_text

CLASSIFIER = Path(__file__).parent.parent / "deploy" / "classifier.yaml"
NUMBER = "+359888555422"
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

ARTICLES: list[dict[str, Any]] = [
    {
        "title": "Месечна социална помощ",
        "body": "Помощта се отпуска от дирекция „Социално подпомагане“ по настоящ адрес.",
        "topics": ["social.benefits"],
        "language": "bg",
    },
    {
        "title": "Парично обезщетение за безработица",
        "body": "Обезщетението се изплаща от НОИ; заявлението се подава в бюрото по труда.",
        "topics": ["employment.unemployment_benefit"],
        "language": "bg",
    },
    {
        "title": "Пособие по безработице",
        "body": "Пособие назначается центром занятости после регистрации.",
        "topics": ["employment.unemployment_benefit"],
        "language": "ru",
    },
    {
        "title": "Álláskeresési járadék",
        "body": "A segély igénylése a foglalkoztatási osztályon történik.",
        "topics": ["employment.unemployment_benefit"],
        "language": "hu",
    },
    {
        "title": "Heating allowance",
        "body": "The benefit is paid monthly from November to March.",
        "topics": ["social.benefits.heating"],
        "language": "en",
    },
]


async def _titles(conn: Any, q: str, **kw: Any) -> list[str]:
    found, total = await knowledge.search_articles(conn, NOW, q=q, **kw)
    assert total == len(found)
    return [a.title for a in found]


@pytest.mark.parametrize(
    ("one", "other"),
    [("помощ", "помощи"), ("обезщетение", "обезщетения"), ("помощта", "помощите")],
)
def test_bulgarian_forms_share_a_stem(one: str, other: str) -> None:
    assert bulgarian_stems(one) & bulgarian_stems(other)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_makes_a_query_of_words_and_operators_only(text: str) -> None:
    for language in LANGUAGES:
        query = query_text(text, language)
        if query is not None:
            assert {c for c in query if not c.isalnum()} <= set("():*|& "), query


async def test_hostile_queries_are_searched_not_refused(classified_db: Any) -> None:
    conn = classified_db
    await knowledge.create_article(conn, ArticleIn.model_validate(ARTICLES[0]), "sue")
    for q in ("'", "a & | b", "!!", "помощ:*:*", "(", "<->", "a\\b", "ß ẞ İ", "x" * 200, "%_"):
        await knowledge.search_articles(conn, NOW, q=q)  # no syntax error from PostgreSQL
        await directory.search_entries(conn, q=q)
    assert await _titles(conn, "(помощ) & !") == ["Месечна социална помощ"]


def test_a_query_is_only_letters_and_operators() -> None:
    assert query_text("помощ за отопление!", "bg") == "(помощ:*) & (отоплн:*)"
    assert query_text("') | evil:*", "en") == "evil:*"
    assert query_text("за и на", "bg") is None


async def test_inflected_forms_find_the_article_in_four_languages(classified_db: Any) -> None:
    conn = classified_db
    for a in ARTICLES:
        await knowledge.create_article(conn, ArticleIn.model_validate(a), "sue")
    # Bulgarian: the word as the agent types it is not the form in the article.
    assert await _titles(conn, "помощи") == ["Месечна социална помощ"]
    assert await _titles(conn, "социални помощи") == ["Месечна социална помощ"]
    assert await _titles(conn, "обезщетения") == ["Парично обезщетение за безработица"]
    assert await _titles(conn, "ЗАЯВЛЕНИЯТА") == ["Парично обезщетение за безработица"]
    assert await _titles(conn, "безработицата") == ["Парично обезщетение за безработица"]
    # Russian, Hungarian, English: PostgreSQL's stemmers.
    assert await _titles(conn, "пособия") == ["Пособие по безработице"]
    assert await _titles(conn, "Пособий") == ["Пособие по безработице"]
    assert await _titles(conn, "segélyt") == ["Álláskeresési járadék"]
    assert await _titles(conn, "benefits") == ["Heating allowance"]
    assert await _titles(conn, "heat") == ["Heating allowance"]  # a word half typed
    # Filters: the language, the topic (its narrower ones too).
    assert await _titles(conn, "безработица", language="bg") == [
        "Парично обезщетение за безработица"
    ]
    social = await _titles(conn, "", topic="social")
    assert sorted(social) == ["Heating allowance", "Месечна социална помощ"]
    assert await _titles(conn, "nothing like it") == []


async def test_out_of_date_articles_are_not_searched_or_suggested(classified_db: Any) -> None:
    conn = classified_db
    base = {"body": "Помощ за отопление през зимата.", "topics": ["social.benefits.heating"]}
    old = await knowledge.create_article(
        conn,
        ArticleIn(
            title="Помощ за отопление 2025",
            language="bg",
            valid_from=NOW - 400 * DAY,
            valid_to=NOW - 30 * DAY,
            **base,
        ),
        "sue",
    )
    future = await knowledge.create_article(
        conn,
        ArticleIn(
            title="Помощ за отопление 2027", language="bg", valid_from=NOW + 30 * DAY, **base
        ),
        "sue",
    )
    current = await knowledge.create_article(
        conn,
        ArticleIn(title="Помощ за отопление 2026", language="bg", valid_to=NOW + 100 * DAY, **base),
        "sue",
    )
    script = await knowledge.create_article(
        conn,
        ArticleIn(
            kind="script",
            title="Отопление: какво да попитате",
            body="1. Има ли подадено заявление? 2. Кога?",
            topics=["social.benefits.heating"],
            language="bg",
        ),
        "sue",
    )
    assert await _titles(conn, "отоплението", kind="article") == ["Помощ за отопление 2026"]
    assert await _titles(conn, "отоплението", kind="script") == ["Отопление: какво да попитате"]
    every, _ = await knowledge.search_articles(
        conn, NOW, q="отоплението", valid="all", kind="article"
    )
    assert {a.id for a in every} == {old.id, future.id, current.id}

    pool = knowledge.SuggestionIndex(
        await knowledge.suggestion_pool(conn, NOW, dt.timedelta(minutes=1))
    )
    shown = knowledge.suggest(pool, "social.benefits.heating", "bg", NOW)
    assert [a["id"] for a in shown["articles"]] == [current.id]
    assert shown["script"]["id"] == script.id
    # A broader topic of the call gets the narrower topic's article; no script (too narrow).
    broad = knowledge.suggest(pool, "social", "en", NOW)
    assert ([a["id"] for a in broad["articles"]], broad["script"]) == ([current.id], None)
    # A pool read for a longer window (an answer is remembered until validity changes):
    # the next season's article once it starts, not before.
    wide = knowledge.SuggestionIndex(await knowledge.suggestion_pool(conn, NOW, 60 * DAY))
    assert [a["id"] for a in knowledge.suggest(wide, "social", "bg", NOW)["articles"]] == [
        current.id
    ]
    season = knowledge.suggest(wide, "social", "bg", NOW + 31 * DAY)
    assert [a["id"] for a in season["articles"]] == [current.id, future.id]  # newest first
    # The day the current one expires, nothing is suggested from the one-minute pool.
    later = knowledge.suggest(pool, "social.benefits.heating", "bg", NOW + 101 * DAY)
    assert later["articles"] == []
    assert knowledge.suggest(pool, None, "bg", NOW) == {"articles": [], "script": None}


async def test_feedback_is_counted_once_per_agent_and_reported(classified_db: Any) -> None:
    conn = classified_db
    article = await knowledge.create_article(conn, ArticleIn.model_validate(ARTICLES[0]), "sue")
    await knowledge.add_feedback(conn, article.id, "ann", FeedbackIn(verdict="helpful"))
    await knowledge.add_feedback(conn, article.id, "bob", FeedbackIn(verdict="helpful"))
    counted = await knowledge.add_feedback(
        conn, article.id, "ann", FeedbackIn(verdict="outdated", comment="new amounts since 1 Jan")
    )
    assert (counted.helpful, counted.outdated) == (1, 1)
    report = await knowledge.feedback_report(conn, article.id)
    assert report["outdated_reports"][0]["username"] == "ann"
    assert report["outdated_reports"][0]["comment"] == "new amounts since 1 Jan"


async def test_updates_are_checked_and_reindexed(classified_db: Any) -> None:
    conn = classified_db
    article = await knowledge.create_article(conn, ArticleIn.model_validate(ARTICLES[4]), "sue")
    await knowledge.update_article(
        conn, article.id, ArticleUpdate(title="Winter fuel payments"), "adm"
    )
    assert await _titles(conn, "payment") == ["Winter fuel payments"]
    assert await _titles(conn, "allowance") == []
    with pytest.raises(StoreError, match="topics") as refused:
        await knowledge.update_article(conn, article.id, ArticleUpdate(topics=["no.such"]), "adm")
    assert refused.value.code == "unknown_topic"


async def test_the_directory_is_searched_the_same_way(classified_db: Any) -> None:
    conn = classified_db
    office = await directory.create_entry(
        conn,
        EntryIn(
            name="Дирекция „Бюро по труда“ – Пловдив",
            organisation="employment",
            handles="Регистрация на безработни, обезщетения, обучения",
            topics=["employment"],
            phones=["+35932123456"],
            email="dbt.plovdiv@example.bg",
            address="Пловдив, ул. Христо Ботев 1",
            hours="пн–пт 8:30–17:00",
        ),
        "sue",
    )
    await directory.create_entry(
        conn,
        EntryIn(name="Regional Health Inspectorate", handles="food safety", language="en"),
        "sue",
    )
    found, total = await directory.search_entries(conn, q="обезщетение")
    assert ([e.id for e in found], total) == ([office.id], 1)
    assert (await directory.search_entries(conn, q="Пловдив"))[1] == 1
    assert (await directory.search_entries(conn, topic="employment.registration"))[1] == 1
    closed = await directory.update_entry(conn, office.id, {"active": False}, "adm")
    assert closed.active is False
    assert (await directory.search_entries(conn, q="обезщетение"))[1] == 0


# --- the REST edge and the screen-pop ---------------------------------------------------

HEATING = {
    "title": "Помощ за отопление",
    "body": "Целева помощ за отопление се иска от 1 юли до 31 октомври в дирекция „Социално"
    " подпомагане“.",
    "topics": ["social.benefits.heating"],
    "language": "bg",
    "organisation": "asa",
}


async def _classified(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await sync_classifier(conn, load_classifier(CLASSIFIER))
        with contextlib.suppress(StoreError):
            await auth.create_user(conn, "clerk", "organisation", organisations=("asa",))
            await auth.create_user(conn, "other", "organisation", organisations=("labour",))
    finally:
        await conn.close()


async def _token(db_url: str, username: str) -> str:
    conn = await asyncpg.connect(db_url)
    try:
        return await auth.issue_token(conn, username)
    finally:
        await conn.close()


async def test_rest_roles_refusals_and_feedback(db_url: str, tmp_path: Any) -> None:
    await _classified(db_url)
    async with world(db_url, tmp_path) as w:
        w.tokens["clerk"] = await _token(db_url, "clerk")
        w.tokens["other"] = await _token(db_url, "other")
        # Only supervisors and admins write.
        assert (await w.call("POST", "/api/v1/knowledge", "agent", json=HEATING))[0] == 403
        assert (await w.call("POST", "/api/v1/knowledge", "clerk", json=HEATING))[0] == 403
        status, article = await w.call("POST", "/api/v1/knowledge", "supervisor", json=HEATING)
        assert status == 201
        path = f"/api/v1/knowledge/{article['id']}"
        # Refusals name the field.
        for bad, field in (
            ({**HEATING, "language": "de"}, "language"),
            ({**HEATING, "title": ""}, "title"),
            ({**HEATING, "topics": ["Not A Code"]}, "topics.0"),
            (
                {
                    **HEATING,
                    "valid_from": "2026-02-01T00:00:00Z",
                    "valid_to": "2026-01-01T00:00:00Z",
                },
                "valid_to",
            ),
            ({**HEATING, "colour": "red"}, "colour"),
        ):
            status, err = await w.call("POST", "/api/v1/knowledge", "admin", json=bad)
            assert (status, err["code"]) == (422, "invalid_request"), bad
            assert [f["path"] for f in err["fields"]] == [field]
        status, err = await w.call(
            "POST", "/api/v1/knowledge", "admin", json={**HEATING, "topics": ["social.nothing"]}
        )
        assert (status, err["code"]) == (422, "unknown_topic")
        status, err = await w.call("POST", "/api/v1/knowledge", "admin", data=b"{not json")
        assert (status, err["code"]) == (400, "bad_json")
        status, err = await w.call("GET", "/api/v1/knowledge?language=xx", "agent")
        assert (status, err["fields"][0]["path"]) == (422, "language")
        assert (await w.call("GET", "/api/v1/knowledge?valid=all", "agent"))[0] == 403
        assert (await w.call("GET", "/api/v1/knowledge/99999", "agent"))[1]["code"] == (
            "article_not_found"
        )
        # Everyone signed in searches; inflected forms find it.
        status, found = await w.call("GET", "/api/v1/knowledge?q=отоплението", "agent")
        assert (status, [a["id"] for a in found["items"]]) == (200, [article["id"]])
        assert (await w.call("GET", "/api/v1/knowledge?q=помощи", None))[0] == 401
        # Agents' feedback, counted once per agent; the owner sees the outdated reports.
        assert (await w.call("POST", f"{path}/feedback", "admin", json={"verdict": "helpful"}))[
            0
        ] == 403
        await w.call("POST", f"{path}/feedback", "agent", json={"verdict": "helpful"})
        await w.call("POST", f"{path}/feedback", "agent", json={"verdict": "helpful"})
        status, counts = await w.call(
            "POST",
            f"{path}/feedback",
            "agent2",
            json={"verdict": "outdated", "comment": "the deadline moved to 15 November"},
        )
        assert (status, counts["helpful"], counts["outdated"]) == (200, 1, 1)
        status, err = await w.call("POST", f"{path}/feedback", "agent", json={"verdict": "meh"})
        assert (status, err["fields"][0]["path"]) == (422, "verdict")
        status, report = await w.call("GET", f"{path}/feedback", "clerk")
        assert (status, report["outdated_reports"][0]["username"]) == (200, "bob")
        assert (await w.call("GET", f"{path}/feedback", "other"))[0] == 403
        assert (await w.call("GET", f"{path}/feedback", "agent"))[0] == 403
        # An update is re-indexed and re-checked.
        status, changed = await w.call(
            "PATCH", path, "admin", json={"title": "Целева помощ за отопление 2026"}
        )
        assert (status, changed["title"], changed["updated_by"]) == (
            200,
            "Целева помощ за отопление 2026",
            "adm",
        )
        assert (await w.call("PATCH", path, "agent", json={"title": "x"}))[0] == 403
        # The directory: the same search, the same roles.
        office = {
            "name": "Дирекция „Социално подпомагане“ – Пловдив",
            "organisation": "asa",
            "handles": "Месечни помощи, целеви помощи за отопление",
            "phones": ["+35932600100"],
            "web": "https://asp.government.bg",
            "hours": "пн–пт 9:00–17:30",
        }
        assert (await w.call("POST", "/api/v1/directory", "agent", json=office))[0] == 403
        status, err = await w.call(
            "POST", "/api/v1/directory", "supervisor", json={**office, "email": "not-mail"}
        )
        assert (status, err["fields"][0]["path"]) == (422, "email")
        status, entry = await w.call("POST", "/api/v1/directory", "supervisor", json=office)
        assert status == 201
        status, found = await w.call("GET", "/api/v1/directory?q=помощта за отоплението", "agent")
        assert (status, [e["id"] for e in found["items"]]) == (200, [entry["id"]])
        status, moved = await w.call(
            "PATCH", f"/api/v1/directory/{entry['id']}", "admin", json={"hours": "24/7"}
        )
        assert (status, moved["hours"]) == (200, "24/7")


async def test_the_screen_pop_suggests_articles_and_the_call_script(
    db_url: str, tmp_path: Any
) -> None:
    await _classified(db_url)
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        ids = []
        for n, extra in enumerate(
            (
                {},
                {"title": "Помощ за отопление: документи", "body": "Заявление-декларация."},
                {"title": "Heating allowance", "language": "en"},
                {"title": "Помощ за отопление 2024", "valid_to": "2025-01-01T00:00:00Z"},
                {"title": "Социални помощи", "topics": ["social"]},
                {"title": "Трудов договор", "topics": ["labour.contract"]},
            )
        ):
            status, a = await w.call(
                "POST", "/api/v1/knowledge", "supervisor", json={**HEATING, **extra}
            )
            assert status == 201, (n, a)
            ids.append(a["id"])
        script = {**HEATING, "kind": "script", "title": "Отопление", "body": "Попитайте за адреса."}
        status, s = await w.call("POST", "/api/v1/knowledge", "supervisor", json=script)
        assert status == 201
        await next_of(ws, "hello")
        await ws.send_json({"id": "1", "type": "login"})
        ch = w.server.pbx.inbound_call(Citizen(NUMBER, "benefits", talk_s=2000))
        w.server.pbx.switch.setvar(ch, "CTI_TOPIC", "social.benefits.heating")
        w.server.pbx.switch.setvar(ch, "CTI_LANG", "bg")
        for _ in range(100):
            seen = w.core.tracker.interactions.get(ch.linkedid)
            if seen is not None and seen.cti_vars.get("CTI_LANG") == "bg":
                break
            await asyncio.sleep(0.05)
        await ws.send_json({"id": "2", "type": "ready"})
        pop = await next_of(ws, "screen_pop")
        suggested = pop["knowledge"]
        # Bulgarian first, the call's own topic before the broader one; never the expired
        # one, nor another topic's; three at most.
        assert [a["id"] for a in suggested["articles"]] == [ids[1], ids[0], ids[4]]
        assert suggested["script"] == {
            "id": s["id"],
            "title": "Отопление",
            "text": "Попитайте за адреса.",
            "language": "bg",
        }


async def test_the_demo_seed_is_written_once_and_searchable(classified_db: Any) -> None:
    conn = classified_db
    written = await seed_knowledge(conn)
    assert written >= 15
    assert await seed_knowledge(conn) == 0  # a demo's database outlives it: not doubled
    assert "Целева помощ за отопление" in await _titles(conn, "помощи за отоплението")
    assert "Heating allowance" in await _titles(conn, "heating allowances")
    pool = knowledge.SuggestionIndex(
        await knowledge.suggestion_pool(conn, NOW, dt.timedelta(minutes=1))
    )
    shown = knowledge.suggest(pool, "social.benefits.heating", "bg", NOW)
    assert "2024/2025" not in " ".join(a["title"] for a in shown["articles"])  # expired
    assert shown["script"]["title"] == "Социално подпомагане – разговор"
    found, _ = await directory.search_entries(conn, q="обезщетения за безработица")
    assert found[0].name == "Национален осигурителен институт (НОИ)"
