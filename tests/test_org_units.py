"""Organisations' units on a real PostgreSQL: a unit's code extends its organisation's
with a dot (asa.plovdiv is a unit of asa). A user of the organisation sees its units'
cases and gets their deadline alerts; a unit's user sees only the unit's, not the
organisation's own nor a sister unit's; the same rule in SQL and in Python."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from cti.api import auth
from cti.store import cases, deadlines
from cti.store.cases import belongs
from cti.store.errors import StoreError
from cti.store.models import CaseCreate

UNITS = {"asa.plovdiv": "ASA Plovdiv", "asa.sofia": "ASA Sofia", "asap": "Another agency"}


async def _world(conn: Any) -> dict[str, int]:
    for code, name in UNITS.items():
        await conn.execute("INSERT INTO organisations (code, name) VALUES ($1, $2)", code, name)
    await auth.create_user(conn, "asa-head", "organisation", organisations=("asa",))
    await auth.create_user(conn, "plovdiv", "organisation", organisations=("asa.plovdiv",))
    ids = {}
    for org in ("asa", "asa.plovdiv", "asa.sofia", "asap"):
        case = await cases.create_case(conn, CaseCreate(topic="social"), "ann")
        await conn.execute(
            "UPDATE cases SET organisation = $2, deadline = $3 WHERE id = $1",
            case.id,
            org,
            dt.date(2026, 12, 1),  # overdue on the day the check runs below
        )
        ids[org] = case.id
    return ids


async def test_a_unit_is_seen_by_its_organisation_and_keeps_to_itself(classified_db: Any) -> None:
    conn = classified_db
    ids = await _world(conn)
    found, _ = await cases.search_cases(conn, within=("asa",))
    assert {c.organisation for c in found} == {"asa", "asa.plovdiv", "asa.sofia"}  # not asap
    found, _ = await cases.search_cases(conn, within=("asa.plovdiv",))
    assert {c.organisation for c in found} == {"asa.plovdiv"}
    assert (await cases.get_case(conn, ids["asa.plovdiv"], ("asa",))).organisation == "asa.plovdiv"
    for other in ("asa", "asa.sofia", "asap"):
        with pytest.raises(StoreError) as refused:
            await cases.get_case(conn, ids[other], ("asa.plovdiv",))
        assert refused.value.code == "case_not_found"

    await deadlines.raise_alerts(conn, dt.date(2026, 12, 2), 2, email=False)
    head, _ = await deadlines.inbox(conn, "asa-head", ("asa",))
    unit, _ = await deadlines.inbox(conn, "plovdiv", ("asa.plovdiv",))
    assert sorted(e["organisation"] for e in head) == ["asa", "asa.plovdiv", "asa.sofia"]
    assert [e["organisation"] for e in unit] == ["asa.plovdiv"]


async def test_the_rule_is_the_same_in_python_and_in_sql(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        for org in ("asa", "asa.plovdiv", "asa.plovdiv.north", "asap", "as", "asa_x", None):
            for within in (["asa"], ["asa.plovdiv"], ["asap", "asa.sofia"], []):
                in_sql = await conn.fetchval("SELECT cti_within($1, $2::text[])", org, within)
                assert bool(in_sql) == belongs(org, within), (org, within)
    finally:
        await conn.close()
