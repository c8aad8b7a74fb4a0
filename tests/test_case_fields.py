"""What the seeds name on a case (issue 22): the address the request is about,
searchable by any part of it in any letter case (Cyrillic too), an emergency, a paid
fee and the channel, kept through updates and in the history, refused with a clear
error when wrong."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from cti.store import cases
from cti.store.errors import StoreError
from cti.store.models import CaseCreate, CaseUpdate


async def test_address_emergency_paid_and_channel_are_kept_searched_and_checked(
    classified_db: Any,
) -> None:
    conn = classified_db
    first = await cases.create_case(
        conn,
        CaseCreate(
            topic="social",
            phone="0888 555 160",
            address="Пловдив, ул. Гладстон 5",
            emergency=True,
            channel="phone",
        ),
        "ann",
    )
    assert (first.address, first.emergency, first.paid, first.channel) == (
        "Пловдив, ул. Гладстон 5",
        True,
        False,
        "phone",
    )
    await cases.create_case(
        conn,
        CaseCreate(topic="social", address="София, бул. Витоша 1", paid=True, channel="email"),
        "bob",
    )
    await cases.create_case(conn, CaseCreate(topic="social", address="50% off_street"), "bob")
    found, total = await cases.search_cases(conn, address="гладстон")
    assert ([c.id for c in found], total) == ([first.id], 1)
    assert (await cases.search_cases(conn, address="ВИТОША"))[1] == 1
    assert (await cases.search_cases(conn, address="%"))[1] == 1  # a literal percent sign
    assert (await cases.search_cases(conn, address="f_s"))[1] == 1  # "f_s": literal underscore
    assert (await cases.search_cases(conn, emergency=True))[1] == 1
    assert (await cases.search_cases(conn, paid=True, channel="email"))[1] == 1
    updated = await cases.update_case(
        conn, first.id, CaseUpdate(address="Пловдив, ул. Гладстон 7", emergency=False), "ann"
    )
    assert (updated.address, updated.emergency) == ("Пловдив, ул. Гладстон 7", False)
    history = await cases.case_history(conn, first.id)
    assert history[-1].changes["emergency"] == {"old": True, "new": False}
    with pytest.raises(ValidationError, match="channel"):
        CaseCreate(topic="social", channel="fax")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="address"):
        CaseCreate(topic="social", address="x" * 501)
    with pytest.raises(StoreError, match="no case 999999"):
        await cases.update_case(conn, 999_999, CaseUpdate(paid=True), "ann")


async def test_overdue_and_due_soon_lists_watch_the_cases_still_being_worked(
    classified_db: Any,
) -> None:
    conn = classified_db
    registered = dt.date(2026, 11, 20)  # "social": 14 days to answer, due 4 December
    due = await cases.create_case(conn, CaseCreate(topic="social"), "ann", today=registered)
    late = await cases.create_case(
        conn, CaseCreate(topic="social"), "ann", today=registered - dt.timedelta(days=10)
    )
    done = await cases.create_case(
        conn, CaseCreate(topic="social"), "ann", today=registered - dt.timedelta(days=10)
    )
    await cases.move_case(conn, done.id, "in_progress", "ann")
    await cases.move_case(conn, done.id, "resolved", "ann", "granted")
    today = dt.date(2026, 12, 2)

    async def ids(**filters: Any) -> list[int]:
        found, _ = await cases.search_cases(conn, today=today, **filters)
        return sorted(c.id for c in found)

    assert await ids(overdue=True) == [late.id]  # the resolved one is no longer watched
    assert await ids(overdue=False) == [due.id, done.id]
    assert await ids(due_within_days=2) == [due.id]
    assert await ids(due_within_days=1) == []
