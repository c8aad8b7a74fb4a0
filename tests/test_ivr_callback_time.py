"""A time picked at the callback offer (issue 21, scheduled callbacks): the slot resolved
against the centre's calendar in its time zone, the definition's checks, and the whole way
through the simulated PBX, our FastAGI IVR running deploy/ivr.yaml, the ACD and real
PostgreSQL: a scheduled-callback task for the queue, merged per number; key 1 still calls
back as soon as an agent is free."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from pydantic import SecretStr

from acd_helpers import agent, check_invariants, config
from cti.app import Core
from cti.config import AmiSettings, ConfigError, IvrSettings, Settings
from cti.demo import always_open
from cti.ivr.models import load_ivr
from cti.ivr.service import IvrService
from cti.prompts import prompt_names
from cti.queues import Acd
from cti.queues.events import CallbackAccepted, CancelOffer, ConnectToAgent, Event
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Channel, Citizen, Endpoint
from cti.store.embedded import free_port
from cti.store.outbox import Record
from cti.store.records import apply_record
from cti.store.service import StoreService

IVR_FILE = Path(__file__).parent.parent / "deploy" / "ivr.yaml"
SOFIA = ZoneInfo("Europe/Sofia")
FRIDAY_EVENING = dt.datetime(2026, 12, 4, 19, 0, tzinfo=SOFIA)  # open till 20:00
MONDAY_MORNING = dt.datetime(2026, 12, 7, 9, 0, tzinfo=SOFIA)
MONDAY_AFTERNOON = dt.datetime(2026, 12, 7, 14, 0, tzinfo=SOFIA)


def sofia(when: dt.datetime | None) -> dt.datetime:
    assert when is not None
    return when.astimezone(SOFIA)


# --- the slots against the calendar --------------------------------------------------------


def test_tomorrow_morning_on_a_friday_evening_is_mondays_window_start_in_sofia() -> None:
    d = load_ivr(IVR_FILE)
    at = d.callback_time("tomorrow_morning", FRIDAY_EVENING)
    assert at == MONDAY_MORNING
    assert at.utcoffset() == dt.timedelta(0)  # 07:00 UTC
    assert d.callback_time("tomorrow_afternoon", FRIDAY_EVENING) == MONDAY_AFTERNOON
    # Late on Friday in UTC is already Saturday in Sofia: still Monday.
    late = dt.datetime(2026, 12, 4, 22, 30, tzinfo=dt.UTC)
    assert sofia(d.callback_time("tomorrow_morning", late)) == MONDAY_MORNING
    # A Tuesday: Wednesday.
    tuesday = dt.datetime(2026, 12, 1, 11, 0, tzinfo=SOFIA)
    assert sofia(d.callback_time("tomorrow_morning", tuesday)) == dt.datetime(
        2026, 12, 2, 9, 0, tzinfo=SOFIA
    )


def test_holidays_and_the_weekend_are_skipped_and_summer_time_is_respected() -> None:
    d = load_ivr(IVR_FILE)
    # Wednesday 23 December: 24-26 are holidays, then the weekend: Monday 28th.
    before_christmas = dt.datetime(2026, 12, 23, 18, 0, tzinfo=SOFIA)
    assert sofia(d.callback_time("tomorrow_morning", before_christmas)) == dt.datetime(
        2026, 12, 28, 9, 0, tzinfo=SOFIA
    )
    # Wednesday 30 December: 31 and 1 January are holidays, then the weekend: 4 January.
    new_year = dt.datetime(2026, 12, 30, 12, 0, tzinfo=SOFIA)
    assert sofia(d.callback_time("tomorrow_afternoon", new_year)) == dt.datetime(
        2027, 1, 4, 14, 0, tzinfo=SOFIA
    )
    # The clocks go forward on Sunday 28 March 2027: Monday 09:00 is 06:00 UTC.
    spring = dt.datetime(2027, 3, 26, 19, 0, tzinfo=SOFIA)
    at = d.callback_time("tomorrow_morning", spring)
    assert at == dt.datetime(2027, 3, 29, 6, 0, tzinfo=dt.UTC)


def test_the_window_is_clipped_to_the_days_hours_and_a_calendar_never_open_gives_none(
    tmp_path: Path,
) -> None:
    text = IVR_FILE.read_text().replace(
        '{"mon,tue,wed,thu,fri": "08:00-18:00"}',
        '{"mon,tue,wed,thu": "10:30-18:00", fri: "15:00-18:00", sat: closed, sun: closed}',
    )
    path = tmp_path / "ivr.yaml"
    path.write_text(text)
    d = load_ivr(path)
    thursday = dt.datetime(2026, 12, 3, 12, 0, tzinfo=SOFIA)
    # Friday opens after the morning window: not that day; Monday at its opening.
    assert sofia(d.callback_time("tomorrow_morning", thursday)) == dt.datetime(
        2026, 12, 7, 10, 30, tzinfo=SOFIA
    )
    assert sofia(d.callback_time("tomorrow_afternoon", thursday)) == dt.datetime(
        2026, 12, 4, 15, 0, tzinfo=SOFIA
    )
    never = text.replace('fri: "15:00-18:00"', "fri: closed").replace(
        '"mon,tue,wed,thu": "10:30-18:00"', '"mon,tue,wed,thu": "12:00-13:00"'
    )
    path.write_text(never)
    assert load_ivr(path).callback_time("tomorrow_afternoon", thursday) is None


def test_the_slots_prompts_are_listed() -> None:
    names = prompt_names(load_ivr(IVR_FILE))
    assert {"cti/callback-tomorrow-morning", "cti/callback-tomorrow-afternoon"} <= set(names)


# --- bad definitions -------------------------------------------------------------------------

GOOD_TIMES = 'times: {"3": tomorrow_morning, "4": tomorrow_afternoon}'


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            GOOD_TIMES,
            'times: {"3": tomorow_morning}',
            "nodes.offer.times.3: no slot 'tomorow_morning' in callback_slots",
        ),
        (GOOD_TIMES, 'times: {"1": tomorrow_morning}', "nodes.offer.times.1: key 1 is used twice"),
        (GOOD_TIMES, 'times: {"2": tomorrow_morning}', "nodes.offer.times.2: key 2 is used twice"),
        (
            GOOD_TIMES,
            'times: {"3": tomorrow_morning, "3": tomorrow_afternoon}',
            "nodes.offer.times.3: key 3 is used twice",
        ),
        (GOOD_TIMES, 'times: {"33": tomorrow_morning}', "nodes.offer.callback_offer.times.33"),
        (
            "    calendar: callbacks\n    confirm_prompt: cti/callback-tomorrow-morning",
            "    calendar: office\n    confirm_prompt: cti/callback-tomorrow-morning",
            "callback_slots.tomorrow_morning.calendar: no calendar 'office'",
        ),
        (
            'window: "09:00-12:00"',
            'window: "12:00-09:00"',
            "callback_slots.tomorrow_morning.window",
        ),
        (
            'window: "14:00-17:00"',
            'window: "afternoon"',
            "callback_slots.tomorrow_afternoon.window",
        ),
    ],
)
def test_a_bad_time_choice_is_refused_naming_the_field(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    text = IVR_FILE.read_text()
    assert old in text
    path = tmp_path / "ivr.yaml"
    path.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as refused:
        load_ivr(path)
    assert problem in "\n".join(refused.value.problems)


# --- the ACD: a picked time takes the call out of the line ---------------------------------


def test_a_picked_time_leaves_the_line_and_frees_an_agent_ringing_for_the_call() -> None:
    queue = {"skills": {"social_assistance": 5}, "max_wait_s": 30, "wrap_up_s": 1}
    cfg = config(
        {"social_assistance": {**queue, "overflow": {"action": "callback"}}},
        [agent("a1", {"social_assistance": 8}, ["social_assistance"])],
    )
    acd = Acd(cfg, 0.0)
    acd.login("a1", 0)
    acd.call_arrived("k1", "social_assistance", 0)
    acd.call_arrived("k2", "social_assistance", 1)
    acd.tick(30)
    d = acd.callback_accepted("k1", "+359888000601", 31, MONDAY_MORNING.timestamp())
    assert [(e.call, e.scheduled_at) for e in d.events if isinstance(e, CallbackAccepted)] == [
        ("k1", MONDAY_MORNING.timestamp())
    ]
    assert [c.id for c in acd.calls()] == ["k2"]  # k1 is the store's task now
    acd.caller_hung_up("k2", 32)  # (k2 leaves: not a callback)
    check_invariants(acd)
    # Ringing an agent when the time is picked: the offer is cancelled, she is free.
    acd.call_arrived("k3", "social_assistance", 40)
    d = acd.set_ready("a1", 41)
    assert [c.call for c in d.commands if isinstance(c, ConnectToAgent)] == ["k3"]
    d = acd.callback_accepted("k3", "+359888000603", 42, MONDAY_MORNING.timestamp())
    assert CancelOffer("k3", "a1") in d.commands
    assert acd.calls() == []
    assert acd.queue_stats("social_assistance").abandoned == 1  # k2 only
    assert [a.state.value for a in acd.agents()] == ["ready"]
    check_invariants(acd)


# --- the whole way: PBX, IVR, ACD, store -----------------------------------------------------

SCALE = 0.02
QUEUES = {
    "social_assistance": {
        "skills": {"social_assistance": 5},
        "wrap_up_s": 1,
        "max_wait_s": 2,
        "overflow": {"action": "callback"},
    }
}
SOCIAL = ["1", "1"]  # Bulgarian, then social assistance


async def until(what: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def db_until(
    db_url: str, sql: str, *args: object, seconds: float = 20.0
) -> list[dict[str, Any]]:
    """The rows once `sql` returns any (the outbox writes behind the call)."""
    deadline = time.monotonic() + seconds
    while True:
        conn = await asyncpg.connect(db_url)
        try:
            rows = [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()
        if rows:
            return rows
        assert time.monotonic() < deadline, f"timed out waiting for {sql}"
        await asyncio.sleep(0.05)


async def test_a_citizen_picks_a_time_and_a_scheduled_callback_is_stored_then_merged(
    db_url: str, tmp_path: Path
) -> None:
    server = SimAmiServer({"a1": Endpoint("a1", 0.5)}, time_scale=SCALE)
    port = await server.start()
    store = StoreService(db_url, tmp_path / "outbox")
    ivr = IvrService(
        IvrSettings(file=IVR_FILE, port=free_port()),
        load_ivr(IVR_FILE),
        store,
        now=lambda: FRIDAY_EVENING,  # the IVR's clock: a Friday evening, still open
    )
    events: list[Event] = []
    core = Core(
        Settings(ami=AmiSettings(port=port, secret=SecretStr("ctisecret"), auth="plain")),
        config(QUEUES, [agent("a1", {"social_assistance": 8}, ["social_assistance"])]),
        publish_call=lambda e: None,
        publish_acd=events.append,
        acd_time_scale=SCALE,
        store=store,
        ivr=ivr,
    )
    number, other = "+359888000601", "+359888000602"

    def accepted() -> list[CallbackAccepted]:
        return [e for e in events if isinstance(e, CallbackAccepted)]

    def call(caller: str, key: str | None, accept: bool = False) -> Channel:
        citizen = Citizen(caller, "unused", keys=list(SOCIAL), callback_key=key, talk_s=1.0)
        citizen.accept_callback = accept
        return server.pbx.inbound_call(citizen)

    await core.start()
    try:
        await core.ami.wait_connected(5)
        server.pbx.use_fastagi("127.0.0.1", ivr.agi.port)
        acd = core.acd
        assert acd is not None
        acd.apply(acd.acd.login("a1", acd.now()))  # logged in, not ready: the line is long

        # Friday evening, key 3: tomorrow morning -> Monday 09:00 in Sofia.
        first = call(number, "3")
        await until(lambda: len(accepted()) == 1 and first.hung_up)
        assert first.variables["CTI_CALLBACK"] == number
        assert first.variables["CTI_CALLBACK_AT"] == str(int(MONDAY_MORNING.timestamp()))
        assert first.variables["CTI_CALLBACK_OFFER_PATH"] == "offer:accepted:tomorrow_morning"
        assert accepted()[0].scheduled_at == MONDAY_MORNING.timestamp()
        assert acd.acd.calls() == []  # not kept in the line: the task calls back
        tasks = await db_until(
            db_url, "SELECT * FROM notifications WHERE kind = 'callback' AND phone = $1", number
        )
        assert len(tasks) == 1
        task = tasks[0]
        assert (task["status"], task["queue"], task["prefer_agent"], task["created_by"]) == (
            "pending",
            "social_assistance",
            None,
            "ivr",
        )
        assert task["next_at"] == MONDAY_MORNING
        assert first.linkedid in task["result"]
        outcome = await db_until(
            db_url,
            "SELECT outcome FROM interactions WHERE id = $1 AND ended_at IS NOT NULL",
            first.linkedid,
        )
        assert outcome == [{"outcome": "callback"}]

        # The same number again, key 4 (tomorrow afternoon): merged into the one task.
        second = call(number, "4")
        await until(lambda: len(accepted()) == 2 and second.hung_up)
        assert second.variables["CTI_CALLBACK_AT"] == str(int(MONDAY_AFTERNOON.timestamp()))
        merged = await db_until(
            db_url,
            "SELECT * FROM notifications WHERE phone = $1 AND strpos(result, $2) > 0",
            number,
            second.linkedid,
        )
        assert [t["id"] for t in merged] == [task["id"]]
        assert merged[0]["next_at"] == MONDAY_MORNING  # the earlier of the two
        assert first.linkedid in merged[0]["result"]

        # Key 1: as soon as an agent is free, as before: the ACD keeps the place.
        third = call(other, None, accept=True)
        await until(lambda: len(accepted()) == 3 and third.hung_up)
        assert third.variables["CTI_CALLBACK_AT"] == ""
        assert accepted()[2].scheduled_at is None
        views = acd.acd.calls()
        assert [(c.id, c.state, c.callback_number) for c in views] == [
            (third.linkedid, "waiting", other)
        ]
        rows = await db_until(
            db_url, "SELECT status FROM callbacks WHERE interaction_id = $1", third.linkedid
        )
        assert rows == [{"status": "scheduled"}]
        acd.apply(acd.acd.set_ready("a1", acd.now()))
        await until(lambda: acd.acd.calls() == [] and not server.pbx.channels)
        originates = [a for a in server.received if a.get("Action") == "Originate"]
        assert len(originates) == 1  # only the immediate one; the task waits for Monday
        assert f"CTI_CALLBACK_NUMBER={other}" in originates[0]["Variable"].split("\n")
        conn = await asyncpg.connect(db_url)
        try:
            count = await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE kind = 'callback'"
            )
            # A replayed record does not add or merge the same call twice.
            data = {"interaction_id": first.linkedid, "number": number, "queue": None}
            replay = Record("ivr_callback", first.linkedid, {**data, "at": 0.0})
            async with conn.transaction():
                await apply_record(conn, replay)
            after = await conn.fetchrow("SELECT * FROM notifications WHERE id = $1", task["id"])
        finally:
            await conn.close()
        assert count == 1
        assert after["next_at"] == MONDAY_MORNING
        assert after["result"] == merged[0]["result"]
    finally:
        await core.close()
        await server.close()


def test_the_demos_always_open_hours_still_resolve_a_slot() -> None:
    """The demo replaces the calendars (24 h): a slot falls back to the default one."""
    d = always_open(load_ivr(IVR_FILE))
    at = d.callback_time("tomorrow_morning", FRIDAY_EVENING)
    assert sofia(at) == dt.datetime(2026, 12, 5, 9, 0, tzinfo=SOFIA)
