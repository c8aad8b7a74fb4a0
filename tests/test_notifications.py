"""Telling a citizen the result of their request (issue 21), over REST against the
simulated PBX and a real PostgreSQL: a resolved case opens a task; inbound callers who
wait too long come first; an agent calls (her phone, then the citizen's); no answer is
tried again later, up to the attempts allowed; `informed` moves the case on; every
attempt is in the case's history."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import asyncpg

from api_helpers import World, next_of, world
from cti.sim.models import Citizen

PHONE = "+359888555130"
RESULT = "Your heating allowance is granted from January."


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _state(w: World, agent: str) -> str:
    acd = w.core.acd
    assert acd is not None
    view = acd.acd.agent_view(agent)
    assert view is not None
    return str(view.state)


async def _resolved_case(w: World, db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO topics (code, name) VALUES ('social', 'Social'),"
            " ('social.heating', 'Heating')"
        )
    finally:
        await conn.close()
    case = {"topic": "social.heating", "phone": "0888 555 130", "description": "heating"}
    status, created = await w.call("POST", "/api/v1/cases", "supervisor", json=case)
    assert status == 201, created
    for move in ({"status": "in_progress"}, {"status": "resolved", "note": RESULT}):
        status, moved = await w.call(
            "POST", f"/api/v1/cases/{created['id']}/status", "supervisor", json=move
        )
        assert status == 200, moved
    return int(created["id"])


async def test_a_resolved_case_is_told_to_the_citizen_after_a_retry(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        case_id = await _resolved_case(w, db_url)
        status, due = await w.call("GET", "/api/v1/notifications?due=true", "agent")
        assert status == 200
        (task,) = [t for t in due["items"] if t["case_id"] == case_id]
        assert (task["phone"], task["result"], task["status"]) == (PHONE, RESULT, "pending")
        call = f"/api/v1/notifications/{task['id']}/call"

        # Inbound first: a caller of her queue has waited past the limit (she is logged
        # in, not ready: nobody takes the caller).
        path = "/api/v1/agents/a1/state"
        assert (await w.call("POST", path, "agent", json={"state": "login"}))[0] == 200
        waiting = w.server.pbx.inbound_call(Citizen("+359888555131", "benefits", talk_s=60))
        await asyncio.sleep(1.5)  # 30 s of the ACD's time
        status, err = await w.call("POST", call, "agent", json={"agent": "a1"})
        assert (status, err["code"]) == (409, "inbound_waiting")
        assert (await w.call("DELETE", f"/api/v1/calls/{waiting.linkedid}", "supervisor"))[0] == 200
        await _until(lambda: w.core.acd is not None and w.core.acd.acd.calls() == [])
        _, still = await w.call("GET", "/api/v1/notifications?due=true", "agent")
        assert [t["attempts"] for t in still["items"]] == [0]  # the refusal cost no attempt

        # First attempt: the citizen does not answer; tried again later.
        assert (await w.call("POST", path, "agent", json={"state": "ready"}))[0] == 200
        w.server.pbx.callback_answers[PHONE] = False
        status, taken = await w.call("POST", call, "agent", json={"agent": "a1"})
        assert status == 201, taken
        assert (taken["status"], taken["attempts"], taken["agent"]) == ("calling", 1, "a1")
        assert taken["call_id"]
        status, err = await w.call("POST", call, "agent2", json={"agent": "a2"})
        assert (status, err["code"]) == (422, "notification_not_due")  # taken already
        await _until(lambda: _state(w, "a1") == "ready")  # the call failed: she is free
        outcome = f"/api/v1/notifications/{task['id']}/outcome"
        status, err = await w.call("POST", outcome, "agent2", json={"outcome": "no_answer"})
        assert (status, err["code"]) == (403, "forbidden")  # not her call
        status, later = await w.call("POST", outcome, "agent", json={"outcome": "no_answer"})
        assert (status, later["status"], later["last_outcome"]) == (200, "pending", "no_answer")
        status, err = await w.call("POST", call, "agent", json={"agent": "a1"})
        assert (status, err["code"]) == (422, "notification_not_due")  # its retry is later

        # An hour later (moved by hand here): the citizen answers and is told.
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute("UPDATE notifications SET next_at = now() WHERE id = $1", task["id"])
        finally:
            await conn.close()
        w.server.pbx.callback_answers[PHONE] = True
        w.server.pbx.dialplan.callback_talk_s = 60.0  # 3 s of wall time: seen on the call
        status, taken = await w.call("POST", call, "agent", json={"agent": "a1"})
        assert (status, taken["attempts"]) == (201, 2)
        await _until(lambda: _state(w, "a1") == "on_call")
        status, done = await w.call("POST", outcome, "agent", json={"outcome": "informed"})
        assert (status, done["status"]) == (200, "informed")
        status, err = await w.call("POST", outcome, "agent", json={"outcome": "informed"})
        assert (status, err["code"]) == (422, "notification_not_calling")  # recorded once

        status, case = await w.call("GET", f"/api/v1/cases/{case_id}", "agent")
        assert case["status"] == "citizen_informed"
        _, history = await w.call("GET", f"/api/v1/cases/{case_id}/history", "agent")
        told = [
            (e["changes"]["outcome"], e["changes"]["attempt"], e["actor"])
            for e in history["items"]
            if e["action"] == "notification"
        ]
        assert told == [("no_answer", 1, "ann"), ("informed", 2, "ann")]
        assert history["items"][-1]["changes"]["status"] == {
            "old": "resolved",
            "new": "citizen_informed",
        }


async def test_a_case_taken_back_from_resolved_cancels_its_task_and_bad_input_is_named(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        case_id = await _resolved_case(w, db_url)
        _, due = await w.call("GET", "/api/v1/notifications?due=true", "supervisor")
        (task,) = [t for t in due["items"] if t["case_id"] == case_id]
        back = {"status": "in_progress", "note": "the decision was appealed"}
        assert (await w.call("POST", f"/api/v1/cases/{case_id}/status", "admin", json=back))[
            0
        ] == 200
        _, cancelled = await w.call("GET", "/api/v1/notifications?status=cancelled", "admin")
        assert [t["id"] for t in cancelled["items"]] == [task["id"]]
        status, err = await w.call("GET", "/api/v1/notifications?status=nope", "admin")
        assert (status, err["code"]) == (422, "unknown_status")
        path = f"/api/v1/notifications/{task['id']}/outcome"
        status, err = await w.call("POST", path, "admin", json={"outcome": "maybe"})
        assert (status, err["code"]) == (422, "invalid_request")
        status, err = await w.call(
            "POST", "/api/v1/notifications/99999/call", "admin", json={"agent": "a1"}
        )
        assert (status, err["code"]) == (404, "notification_not_found")
        status, err = await w.call(
            "POST", f"/api/v1/notifications/{task['id']}/call", "agent", json={"agent": "a2"}
        )
        assert (status, err["code"]) == (403, "forbidden")
        assert (await w.call("GET", "/api/v1/notifications", "integrator"))[0] == 403


async def test_a_citizen_who_calls_in_is_told_the_result_in_that_call(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        case_id = await _resolved_case(w, db_url)
        await next_of(ws, "hello")
        await ws.send_json({"id": "in", "type": "login"})
        await ws.send_json({"id": "go", "type": "ready"})
        w.server.pbx.inbound_call(Citizen(PHONE, "benefits", talk_s=60))
        pop = await next_of(ws, "screen_pop")
        (result,) = pop["results_to_tell"]
        assert (result["topic"], result["result"]) == ("social.heating", RESULT)
        path = f"/api/v1/notifications/{result['id']}/outcome"
        status, err = await w.call("POST", path, "agent", json={"outcome": "informed"})
        assert (status, err["code"]) == (403, "forbidden")  # still ringing: not talking yet
        await _until(lambda: _state(w, "a1") == "on_call")
        status, err = await w.call("POST", path, "agent2", json={"outcome": "informed"})
        assert (status, err["code"]) == (403, "forbidden")  # a2 is not talking with them
        status, err = await w.call("POST", path, "agent", json={"outcome": "no_answer"})
        assert (status, err["code"]) == (422, "notification_not_calling")  # nobody called
        status, told = await w.call("POST", path, "agent", json={"outcome": "informed"})
        assert (status, told["status"], told["attempts"]) == (200, "informed", 0)
        _, case = await w.call("GET", f"/api/v1/cases/{case_id}", "agent")
        assert case["status"] == "citizen_informed"
        _, history = await w.call("GET", f"/api/v1/cases/{case_id}/history", "agent")
        (entry,) = [e for e in history["items"] if e["action"] == "notification"]
        assert entry["changes"]["in_the_citizens_call"] is True


async def test_a_due_task_is_offered_to_a_ready_agent_as_a_preview_and_a_skip_passes_it(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await _resolved_case(w, db_url)
        previews = w.api.previews
        await next_of(ws, "hello")
        await ws.send_json({"id": "in", "type": "login"})
        assert await previews.round() == 0  # not ready: no preview
        await ws.send_json({"id": "go", "type": "ready"})
        await _until(lambda: _state(w, "a1") == "ready")
        assert await previews.round() == 1
        while (frame := await next_of(ws, "event"))["event"] != "notification.preview":
            pass
        task = frame["data"]["task"]
        assert (task["phone"], task["result"], frame["data"]["dial_in_s"]) == (PHONE, RESULT, 15)
        assert await previews.round() == 0  # hers until she acts or it lapses
        # She skips: not offered to her again (and a2 has no desktop open).
        status, _ = await w.call("POST", f"/api/v1/notifications/{task['id']}/skip", "agent")
        assert status == 200
        assert previews.open == {}
        assert await previews.round() == 0
        # A call placed for it ends the preview too.
        previews.skip_s = 0.0
        previews.skip(task["id"], "a1")
        assert await previews.round() == 1
        call = f"/api/v1/notifications/{task['id']}/call"
        assert (await w.call("POST", call, "agent", json={"agent": "a1"}))[0] == 201
        assert previews.open == {}


async def test_a_scheduled_callback_goes_to_her_first_then_her_queue_and_merges_duplicates(
    db_url: str, tmp_path: Any
) -> None:
    """a1 promises +359888555150 a callback; a second request for that number merges
    into it (the earlier time, both notes). Due, it is hers alone while its grace runs
    (a2 is ready and gets nothing); after that a2 of the same queue gets it."""
    async with world(db_url, tmp_path) as w, w.ws() as ws1, w.ws("agent2") as ws2:
        previews = w.api.previews
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        later = soon + dt.timedelta(hours=2)
        ask = {"number": "0888 555 150", "at": later.isoformat(), "note": "about the heating"}
        status, first = await w.call("POST", "/api/v1/callbacks", "agent", json=ask)
        assert status == 201, first
        assert (first["kind"], first["prefer_agent"], first["queue"]) == (
            "callback",
            "a1",
            "benefits",
        )
        again = {"number": "+359888555150", "at": soon.isoformat(), "note": "also the bill"}
        status, merged = await w.call("POST", "/api/v1/callbacks", "agent", json=again)
        assert (status, merged["id"], merged["merged"]) == (200, first["id"], True)
        assert merged["result"] == "about the heating\nalso the bill"
        assert dt.datetime.fromisoformat(merged["next_at"]) == soon
        bad = {**ask, "at": (soon + dt.timedelta(days=90)).isoformat()}
        status, err = await w.call("POST", "/api/v1/callbacks", "agent", json=bad)
        assert (status, err["code"]) == (422, "bad_time")
        status, err = await w.call(
            "POST", "/api/v1/callbacks", "agent", json={**ask, "agent": "a2"}
        )
        assert (status, err["code"]) == (403, "forbidden")

        for ws in (ws1, ws2):
            await next_of(ws, "hello")
            await ws.send_json({"id": "in", "type": "login"})
        await ws2.send_json({"id": "go", "type": "ready"})
        await _until(lambda: _state(w, "a2") == "ready")
        await asyncio.sleep(1.2)  # due now
        assert await previews.round() == 0  # hers while the grace runs: a1 is not ready
        await ws1.send_json({"id": "go", "type": "ready"})
        await _until(lambda: _state(w, "a1") == "ready")
        assert await previews.round() == 1
        assert [a for a, _ in previews.open.values()] == ["a1"]
        previews.ended(first["id"])
        # The grace is over (moved by hand here): anyone of her queue.
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(
                "UPDATE notifications SET prefer_until = now() - interval '1 second' WHERE id = $1",
                first["id"],
            )
        finally:
            await conn.close()
        previews.skip(first["id"], "a1")  # she passes: a2 takes it
        assert await previews.round() == 1
        assert [a for a, _ in previews.open.values()] == ["a2"]
        while (frame := await next_of(ws2, "event"))["event"] != "notification.preview":
            pass
        assert (frame["data"]["task"]["kind"], frame["data"]["task"]["phone"]) == (
            "callback",
            "+359888555150",
        )
        # Called and reached: closed, with no case to move.
        call = f"/api/v1/notifications/{first['id']}/call"
        assert (await w.call("POST", call, "agent2", json={"agent": "a2"}))[0] == 201
        outcome = f"/api/v1/notifications/{first['id']}/outcome"
        status, done = await w.call("POST", outcome, "agent2", json={"outcome": "informed"})
        assert (status, done["status"]) == (200, "informed")


def test_calling_hours_keep_the_centres_time_zone_its_summer_time_and_holidays() -> None:
    """The IVR's calendar `calling` (weekdays 09:00-20:00 in Sofia) decides; across the
    switch to summer time (28 March 2027) the same wall-clock hours stay open; a holiday
    and a Saturday are closed; a definition without it falls back to its default."""
    from types import SimpleNamespace

    from cti.api.notifications import outside_calling_hours
    from cti.config import Settings
    from cti.ivr.models import Calendar, load_ivr

    deployed = load_ivr(Path(__file__).parent.parent / "deploy" / "ivr.yaml")
    calling = Calendar(
        weekly={"mon,tue,wed,thu,fri": "09:00-20:00"}, holidays=(dt.date(2027, 3, 3),)
    )
    definition = deployed.model_copy(
        update={"calendars": {**deployed.calendars, "calling": calling}}
    )
    ivr = SimpleNamespace(ivr=SimpleNamespace(definitions=SimpleNamespace(current=definition)))
    ctx: Any = SimpleNamespace(core=SimpleNamespace(ivr=ivr, settings=Settings()))

    def at(text: str) -> str | None:
        return outside_calling_hours(ctx, dt.datetime.fromisoformat(text))

    assert at("2027-03-26T06:30:00+00:00") is not None  # Fri 08:30 EET: not yet
    assert at("2027-03-26T07:00:00+00:00") is None  # Fri 09:00 EET
    assert at("2027-03-29T06:30:00+00:00") is None  # Mon 09:30 EEST (summer time)
    assert at("2027-03-29T16:59:00+00:00") is None  # Mon 19:59 EEST
    assert at("2027-03-29T17:00:00+00:00") is not None  # Mon 20:00 EEST: over
    assert at("2027-01-11T17:30:00+00:00") is None  # winter Mon 19:30 EET
    assert at("2027-01-11T18:00:00+00:00") is not None  # winter Mon 20:00 EET
    assert at("2027-03-03T10:00:00+00:00") is not None  # a holiday
    assert at("2027-03-27T10:00:00+00:00") is not None  # a Saturday
    closed = at("2027-03-27T10:00:00+00:00")
    assert closed is not None
    assert "calendar calling, Europe/Sofia" in closed
    # No calendar `calling`: the definition's default (daily 08:00-20:00).
    ivr.ivr.definitions.current = deployed
    assert at("2027-03-27T07:00:00+00:00") is None  # Sat 09:00 EET
    ctx.core.ivr = None
    assert at("2027-03-27T23:00:00+00:00") is None  # no IVR: no calendar to keep


async def test_a_case_moved_on_by_hand_is_not_called_about_and_a_new_promise_outlives_a_call(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        case_id = await _resolved_case(w, db_url)
        # Told some other way: moved to citizen_informed by hand; its task is cancelled.
        move = {"status": "citizen_informed", "note": "told at the counter"}
        assert (await w.call("POST", f"/api/v1/cases/{case_id}/status", "supervisor", json=move))[
            0
        ] == 200
        _, due = await w.call("GET", "/api/v1/notifications?due=true", "supervisor")
        assert [t for t in due["items"] if t["case_id"] == case_id] == []
        # A callback being called now does not take in a new promise: it stands alone.
        now = dt.datetime.now(dt.UTC).isoformat()
        first = {"number": "+359888555170", "at": now}
        status, cb = await w.call("POST", "/api/v1/callbacks", "agent", json=first)
        assert status == 201
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(
                "UPDATE notifications SET status = 'calling', agent = 'a1', attempts = 1"
                " WHERE id = $1",
                cb["id"],
            )
        finally:
            await conn.close()
        status, second = await w.call(
            "POST", "/api/v1/callbacks", "agent", json={**first, "note": "tomorrow please"}
        )
        assert (status, second["merged"]) == (201, False)
        # The first call's citizen did not answer: with a newer promise pending, the old
        # one is not tried again (the new one will be).
        outcome = f"/api/v1/notifications/{cb['id']}/outcome"
        status, done = await w.call("POST", outcome, "agent", json={"outcome": "no_answer"})
        assert (status, done["status"]) == (200, "cancelled")


async def test_an_attempt_nobody_recorded_is_released_once_its_call_is_over(
    db_url: str, tmp_path: Any
) -> None:
    """A desktop closed mid-call leaves a task `calling`: after STALE_S with its call
    over it is pending again (`unrecorded`), or failed when its attempts are spent; one
    whose call is still up is left alone."""
    from cti.api.previews import STALE_S

    async with world(db_url, tmp_path) as w:
        case_id = await _resolved_case(w, db_url)
        conn = await asyncpg.connect(db_url)
        try:
            nid = await conn.fetchval("SELECT id FROM notifications WHERE case_id = $1", case_id)
            stale = f"now() - interval '{int(STALE_S) + 60} seconds'"
            await conn.execute(
                "UPDATE notifications SET status = 'calling', attempts = 1, agent = 'a1',"
                f" call_id = 'out-gone', updated_at = {stale} WHERE id = $1",
                nid,
            )
            await w.api.previews.round()
            row = await conn.fetchrow("SELECT * FROM notifications WHERE id = $1", nid)
            assert (row["status"], row["last_outcome"]) == ("pending", "unrecorded")
            await conn.execute(
                "UPDATE notifications SET status = 'calling', attempts = 3,"
                f" updated_at = {stale} WHERE id = $1",
                nid,
            )
            w.api.previews._next_sweep = 0.0  # the next sweep at once
            await w.api.previews.round()
            assert await conn.fetchval("SELECT status FROM notifications WHERE id = $1", nid) == (
                "failed"
            )
            # Its call still up (a1 talking with the citizen): left alone, however old.
            acd = w.core.acd
            assert acd is not None
            w.server.pbx.dialplan.callback_talk_s = 600.0
            acd.apply(acd.acd.login("a1", acd.now(), ready=True))
            live = acd.call_out("a1", PHONE)
            await _until(lambda: _state(w, "a1") == "on_call")
            await conn.execute(
                "UPDATE notifications SET status = 'calling', attempts = 1, call_id = $2,"
                f" updated_at = {stale} WHERE id = $1",
                nid,
                live,
            )
            w.api.previews._next_sweep = 0.0
            await w.api.previews.round()
            assert await conn.fetchval("SELECT status FROM notifications WHERE id = $1", nid) == (
                "calling"
            )
        finally:
            await conn.close()
