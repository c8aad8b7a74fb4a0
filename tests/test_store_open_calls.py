"""Calls in progress are in the store (`open_interactions`) until their interaction is
written; a CTI that starts again turns those Asterisk no longer has into interactions
(`ended_while_disconnected`) with what was known, and leaves the live ones open."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from cti.store.outbox import Record
from cti.store.records import apply_record

T0 = 1_796_000_000.0


def opened(call: str, **facts: object) -> Record:
    data = {"direction": "inbound", "caller_number": "+359888000001", "arrived_at": T0, **facts}
    return Record("interaction_open", call, data)


async def apply(conn: asyncpg.Connection, *records: Record) -> None:
    for record in records:
        async with conn.transaction():
            await apply_record(conn, record)


async def test_calls_a_previous_cti_had_open_become_interactions_if_asterisk_lost_them(
    db_url: str,
) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await apply(
            conn,
            opened("answered", queue="benefits", queued_at=T0 + 5),
            opened("answered", agent="a1", offered_at=T0 + 8, answered_at=T0 + 10),
            opened("waiting", queue="benefits", queued_at=T0 + 3),
            opened("live", queue="benefits"),
            Record("interactions_vanished", "x", {"live": ["live"], "at": T0 + 60}),
        )
        rows = {
            r["id"]: dict(r)
            for r in await conn.fetch(
                "SELECT id, queue, agent, answered_at, ended_at, wait_s, outcome, end_reason"
                " FROM interactions"
            )
        }
        assert set(rows) == {"answered", "waiting"}
        a = rows["answered"]
        assert (a["queue"], a["agent"], a["outcome"], a["end_reason"]) == (
            "benefits",
            "a1",
            "answered",
            "ended_while_disconnected",
        )
        assert a["wait_s"] == 5.0
        assert a["ended_at"] == dt.datetime.fromtimestamp(T0 + 60, dt.UTC)
        w = rows["waiting"]
        assert (w["agent"], w["answered_at"], w["outcome"]) == (None, None, None)
        assert w["end_reason"] == "ended_while_disconnected"
        still = await conn.fetch("SELECT id FROM open_interactions")
        assert [r["id"] for r in still] == ["live"]
    finally:
        await conn.close()


async def test_the_interaction_replaces_the_open_call_and_is_never_reopened(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        done = {"direction": "inbound", "caller_number": "+359888000001", "arrived_at": T0}
        done |= {"ended_at": T0 + 30, "outcome": "abandoned", "end_reason": "abandoned"}
        await apply(conn, opened("c1"), Record("interaction", "c1", done), opened("c1"))
        assert await conn.fetchval("SELECT count(*) FROM open_interactions") == 0
        await apply(conn, Record("interactions_vanished", "x", {"live": [], "at": T0 + 60}))
        row = await conn.fetchrow("SELECT outcome, end_reason FROM interactions WHERE id = 'c1'")
        assert dict(row) == {"outcome": "abandoned", "end_reason": "abandoned"}
        await apply(conn, opened("spy"), Record("interaction_dropped", "spy", {}))
        assert await conn.fetchval("SELECT count(*) FROM open_interactions") == 0
    finally:
        await conn.close()


async def test_the_calls_own_record_replaces_what_a_restart_guessed(db_url: str) -> None:
    """A record that comes after all (e.g. replayed from rejected.jsonl) wins over the
    `ended_while_disconnected` row written from what was known."""
    conn = await asyncpg.connect(db_url)
    try:
        await apply(
            conn,
            opened("c2", queue="benefits"),
            Record("interactions_vanished", "x", {"live": [], "at": T0 + 60}),
        )
        own = {"direction": "inbound", "caller_number": "+359888000001", "arrived_at": T0}
        own |= {"ended_at": T0 + 20, "outcome": "abandoned", "end_reason": "abandoned"}
        await apply(conn, Record("interaction", "c2", own))
        row = await conn.fetchrow(
            "SELECT queue, ended_at, outcome, end_reason FROM interactions WHERE id = 'c2'"
        )
        assert (row["queue"], row["outcome"], row["end_reason"]) == (
            "benefits",
            "abandoned",
            "abandoned",
        )
        assert row["ended_at"] == dt.datetime.fromtimestamp(T0 + 20, dt.UTC)
    finally:
        await conn.close()


def _tail_of_a_call(call: str, at: float) -> list[object]:
    """What a CTI that logs in during a conversation may see of it before its resync:
    the bridge left and the hang-up (the order seen in `cti bench failover`)."""
    from cti.ami import events as ce

    trunk, phone = "PJSIP/trunk-00000099", "PJSIP/a1-000000b1"
    base = {"interaction_id": call, "at": at}
    return [
        ce.InteractionStarted(
            seq=1, uniqueid=call, channel=trunk, caller_num="", caller_name="", **base
        ),
        ce.ChannelJoined(seq=2, uniqueid=f"{call}-a", channel=phone, **base),
        ce.HangupRequested(seq=3, uniqueid=call, channel=trunk, soft=True, cause=16, **base),
        ce.ChannelEnded(
            seq=4, uniqueid=call, channel=trunk, cause=16, cause_txt="", reason="hangup", **base
        ),
        ce.ChannelEnded(
            seq=5,
            uniqueid=f"{call}-a",
            channel=phone,
            cause=16,
            cause_txt="",
            reason="hangup",
            **base,
        ),
        ce.InteractionEnded(seq=6, reason="hangup", duration_s=0.0, cause=16, cause_txt="", **base),
    ]


async def test_a_cti_that_joins_a_call_mid_way_starts_from_what_an_earlier_cti_knew(
    db_url: str,
) -> None:
    """The leader that took over (or the CTI that started again) sees only a call's end
    before its resync: its record keeps the queue, the answer and the agent the earlier
    CTI had stored, instead of calling it an IVR-only call without an agent."""
    from cti.store.cdr import CdrBuilder
    from cti.store.records import earlier_open

    conn = await asyncpg.connect(db_url)
    try:
        await apply(
            conn,
            opened("talking", queue="benefits", topic="benefits", queued_at=T0 + 5),
            opened("talking", agent="a1", offered_at=T0 + 8, answered_at=T0 + 10),
        )
        out: list[Record] = []
        agents = {"PJSIP/a1": "a1"}
        builder = CdrBuilder(out.append, lambda: T0 + 60, agent_of=agents.get)
        builder.earlier(await earlier_open(conn))
        for event in _tail_of_a_call("talking", T0 + 60):
            builder.on_call_event(event)  # type: ignore[arg-type]
        builder.resynced()
        for event in _tail_of_a_call("later", T0 + 70):  # not known before: nothing added
            builder.on_call_event(event)  # type: ignore[arg-type]
        await apply(conn, *out)
        rows = {
            r["id"]: dict(r)
            for r in await conn.fetch(
                "SELECT id, queue, topic, agent, arrived_at, answered_at, wait_s, talk_s,"
                " outcome, end_reason FROM interactions"
            )
        }
        talking = rows["talking"]
        assert (talking["queue"], talking["topic"], talking["agent"]) == (
            "benefits",
            "benefits",
            "a1",
        )
        assert talking["arrived_at"] == dt.datetime.fromtimestamp(T0, dt.UTC)
        assert talking["answered_at"] == dt.datetime.fromtimestamp(T0 + 10, dt.UTC)
        assert (talking["wait_s"], talking["talk_s"]) == (5.0, 50.0)
        assert (talking["outcome"], talking["end_reason"]) == ("answered", "completed")
        assert (rows["later"]["agent"], rows["later"]["outcome"]) == (None, "ivr_only")
        assert await conn.fetchval("SELECT count(*) FROM open_interactions") == 0
    finally:
        await conn.close()


def _one_leg(call: str, leg: str, channel: str, shown: str, at: float) -> list[object]:
    """One leg of a call seen only as it ends, and the interaction's end with it."""
    from cti.ami import events as ce

    base: dict[str, Any] = {"interaction_id": call, "at": at}
    ended = {"cause": 16, "cause_txt": "", **base}
    return [
        ce.InteractionStarted(
            seq=1, uniqueid=leg, channel=channel, caller_num=shown, caller_name="", **base
        ),
        ce.ChannelEnded(seq=2, uniqueid=leg, channel=channel, reason="hangup", **ended),
        ce.InteractionEnded(seq=3, reason="hangup", duration_s=0.0, **ended),
    ]


async def test_a_call_joined_in_pieces_is_one_record_and_an_own_call_stays_outbound(
    db_url: str,
) -> None:
    """Joined mid-way, one leg may end before another shows (the agent hangs up, the
    citizen goes on to the survey): the second piece continues the first's record
    instead of writing a poorer one over it. And an agent's own call joined mid-way
    stays hers: outbound, to the citizen's number, not a call from the hotline."""
    from cti.store.cdr import CdrBuilder
    from cti.store.records import earlier_open

    conn = await asyncpg.connect(db_url)
    try:
        await apply(
            conn,
            opened("pieces", queue="benefits", topic="benefits", queued_at=T0 + 5),
            opened("pieces", agent="a1", offered_at=T0 + 8, answered_at=T0 + 10),
            Record(
                "interaction_open",
                "own",
                {
                    "direction": "outbound",
                    "caller_number": "+359888555120",
                    "arrived_at": T0,
                    "agent": "a1",
                    "answered_at": T0 + 4,
                },
            ),
        )
        out: list[Record] = []
        builder = CdrBuilder(out.append, lambda: T0 + 60, agent_of={"PJSIP/a1": "a1"}.get)
        builder.earlier(await earlier_open(conn))
        phone, trunk = "PJSIP/a1-000000b1", "PJSIP/trunk-00000099"
        for call, first, second, shown in (
            ("pieces", phone, trunk, "+359888555101"),
            ("own", phone, trunk, "+35980012345"),  # the hotline's id on her leg
        ):
            for n, channel in enumerate((first, second)):
                for event in _one_leg(call, f"{call}-{n}", channel, shown, T0 + 60):
                    builder.on_call_event(event)  # type: ignore[arg-type]
        await apply(conn, *out)
        rows = {
            r["id"]: dict(r)
            for r in await conn.fetch(
                "SELECT id, direction, caller_number, topic, agent, arrived_at, outcome"
                " FROM interactions"
            )
        }
        assert sum(1 for r in out if r.kind == "interaction" and r.key == "pieces") == 2
        pieces = rows["pieces"]
        assert (pieces["topic"], pieces["agent"], pieces["outcome"]) == (
            "benefits",
            "a1",
            "answered",
        )
        assert pieces["arrived_at"] == dt.datetime.fromtimestamp(T0, dt.UTC)  # not the 2nd piece's
        own = rows["own"]
        assert (own["direction"], own["caller_number"], own["agent"]) == (
            "outbound",
            "+359888555120",
            "a1",
        )
    finally:
        await conn.close()
