"""Callers, classifier and cases against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.config import ConfigError
from cti.store import cases
from cti.store.callers import screen_pop, upsert_caller
from cti.store.classifier import load_classifier, sync_classifier
from cti.store.errors import StoreError
from cti.store.models import CASE_MOVES, CallerIn, CaseCreate, CaseUpdate
from cti.store.phone import normalise

CLASSIFIER = Path(__file__).parent.parent / "deploy" / "classifier.yaml"
DAY = dt.date(2026, 11, 24)


@pytest.fixture
def conn(classified_db: asyncpg.Connection) -> asyncpg.Connection:
    return classified_db


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("0888 123 456", "+359888123456"),
        ("+359 2 800 12 34", "+35928001234"),
        ("00359-888-123456", "+359888123456"),
        ("(02) 800.1234", "+35928001234"),
        ("359888123456", "+359888123456"),
    ],
)
def test_phone_numbers_are_stored_as_e164(raw: str, e164: str) -> None:
    assert normalise(raw) == e164


@given(st.text(max_size=30))
def test_normalise_returns_e164_or_a_bad_phone_error(text: str) -> None:
    code = "ok"
    try:
        out = normalise(text)
    except StoreError as exc:
        code, out = exc.code, "+0"
    assert code in ("ok", "bad_phone")
    assert out.startswith("+")
    assert out[1:].isdigit()


def test_the_example_classifier_inherits_organisation_and_regulation() -> None:
    topics = {t.code: t for t in load_classifier(CLASSIFIER).flat()}
    assert topics["social.benefits.child"].organisation == "asa"
    assert topics["social.benefits.child"].regulation_days == 14
    assert topics["social.benefits.heating"].regulation_days == 7
    assert topics["child_protection.violence"].regulation_days == 1
    assert topics["other"].regulation_days == 30


def test_a_classifier_with_an_unknown_organisation_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "organisations: {a: A}\ntopics:\n  - {code: x, name: X, children: "
        "[{code: y, name: Y, organisation: nope}]}\n"
    )
    with pytest.raises(ConfigError, match=r"topic x\.y: unknown organisation 'nope'"):
        load_classifier(bad)


async def test_a_case_gets_a_number_a_deadline_and_a_history(conn: asyncpg.Connection) -> None:
    await upsert_caller(conn, CallerIn(phone="0888 123 456", name="Maria Petrova"))
    first = await cases.create_case(
        conn,
        CaseCreate(topic="social.benefits.heating", phone="+359888123456", description="late"),
        "agent-7",
        DAY,
    )
    second = await cases.create_case(conn, CaseCreate(topic="other"), "agent-7", DAY)
    assert (first.number, second.number) == ("2026-000001", "2026-000002")
    assert first.deadline == DAY + dt.timedelta(days=7)
    assert first.organisation == "asa"
    assert first.caller_id is not None
    moved = await cases.move_case(
        conn, first.id, "forwarded", "supervisor-1", "to the regional office"
    )
    assert moved.status == "forwarded"
    history = await cases.case_history(conn, first.id)
    assert [(h.actor, h.action) for h in history] == [
        ("agent-7", "created"),
        ("supervisor-1", "status"),
    ]
    assert history[1].changes["status"] == {"old": "registered", "new": "forwarded"}


async def test_the_whole_lifecycle_and_every_illegal_move(conn: asyncpg.Connection) -> None:
    case = await cases.create_case(conn, CaseCreate(topic="labour.unpaid_wages"), "a", DAY)
    for status in ("in_progress", "resolved", "citizen_informed", "closed"):
        case = await cases.move_case(conn, case.id, status, "a")
    assert case.status == "closed"
    for status in CASE_MOVES:
        with pytest.raises(StoreError) as err:
            await cases.move_case(conn, case.id, status, "a")
        assert err.value.code == "illegal_status_move"
    with pytest.raises(StoreError) as err:
        await cases.update_case(conn, case.id, CaseUpdate(description="x"), "a")
    assert err.value.code == "case_closed"
    assert len(await cases.case_history(conn, case.id)) == 5


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"topic": "social.nope"}, "unknown_topic"),
        ({"topic": "other", "phone": "12ab"}, "bad_phone"),
        ({"topic": "other", "description": "x" * 10_001}, "text_too_long"),
        ({"topic": "other", "organisation": "nope"}, "unknown_organisation"),
    ],
)
async def test_bad_cases_are_refused_and_leave_nothing_behind(
    conn: asyncpg.Connection, data: dict[str, str], code: str
) -> None:
    with pytest.raises(StoreError) as err:
        await cases.create_case(conn, CaseCreate.model_validate(data), "a", DAY)
    assert err.value.code == code
    assert await conn.fetchval("SELECT count(*) FROM cases") == 0
    assert await conn.fetchval("SELECT count(*) FROM case_history") == 0
    # The number was not consumed either: the next case is still the first.
    ok = await cases.create_case(conn, CaseCreate(topic="other"), "a", DAY)
    assert ok.number == "2026-000001"


async def test_changing_the_topic_recomputes_the_deadline_and_keeps_old_values(
    conn: asyncpg.Connection,
) -> None:
    case = await cases.create_case(conn, CaseCreate(topic="other"), "a", DAY)
    changed = await cases.update_case(
        conn, case.id, CaseUpdate(topic="child_protection.violence"), "b"
    )
    created = case.created_at.date()
    assert changed.deadline == created + dt.timedelta(days=1)
    last = (await cases.case_history(conn, case.id))[-1]
    assert last.changes["topic"] == {"old": "other", "new": "child_protection.violence"}


async def test_screen_pop_shows_the_caller_recent_calls_and_open_cases(
    conn: asyncpg.Connection,
) -> None:
    await upsert_caller(conn, CallerIn(phone="+359888000111", name="Ivan", address="Sofia"))
    for i in range(12):
        await conn.execute(
            "INSERT INTO interactions (id, direction, caller_number, arrived_at, outcome)"
            " VALUES ($1, 'inbound', '+359888000111', $2, 'answered')",
            f"i-{i}",
            dt.datetime(2026, 11, 1 + i, tzinfo=dt.UTC),
        )
    open_case = await cases.create_case(
        conn, CaseCreate(topic="other", phone="0888000111"), "a", DAY
    )
    closed = await cases.create_case(conn, CaseCreate(topic="other", phone="0888000111"), "a", DAY)
    await cases.move_case(conn, closed.id, "closed", "a")
    pop = await screen_pop(conn, "0888 000 111")
    assert pop.caller is not None
    assert pop.caller.name == "Ivan"
    assert [i.id for i in pop.interactions] == [f"i-{i}" for i in range(11, 1, -1)]
    assert [c.number for c in pop.open_cases] == [open_case.number]
    unknown = await screen_pop(conn, "+359888999999")
    assert (unknown.caller, unknown.interactions, unknown.open_cases) == (None, [], [])


async def test_dropping_a_topic_from_the_file_deactivates_it(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    case = await cases.create_case(conn, CaseCreate(topic="employment.training"), "a", DAY)
    smaller = tmp_path / "c.yaml"
    smaller.write_text("organisations: {ministry: M}\ntopics:\n  - {code: other, name: Other}\n")
    result = await sync_classifier(conn, load_classifier(smaller))
    assert result["deactivated"] > 10
    with pytest.raises(StoreError) as err:
        await cases.create_case(conn, CaseCreate(topic="employment.training"), "a", DAY)
    assert err.value.code == "inactive_topic"
    assert (await cases.get_case(conn, case.id)).topic == "employment.training"
