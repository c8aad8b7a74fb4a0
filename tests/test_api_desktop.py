"""What the agent desktop asks the server for, over its websocket and REST against the
simulated PBX and a real PostgreSQL: a break chosen during a call that waits for the
wrap-up, a wrap-up extended in wall seconds, a new case refused without a description,
the current call for a desktop opened late, the ready colleagues to transfer to, a
caller's name and address that leave the rest of what is known about them alone (and
have limits); the centre's time zone and the agents' names the desktop shows; a page
that does not exist, as a browser and as an API client see it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from api_helpers import SCALE, World, next_of, world
from cti.sim.models import Citizen
from cti.store.callers import upsert_caller
from cti.store.models import CallerIn

NUMBER = "+359888555301"


async def _ask(ws: Any, msg: dict[str, Any]) -> dict[str, Any]:
    """Send and wait for the answer to this message (ack or error), whatever comes first."""
    await ws.send_json(msg)
    while True:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        if frame["type"] in ("ack", "error") and frame["id"] == msg["id"]:
            return frame  # type: ignore[no-any-return]


async def _profile(w: World) -> dict[str, Any]:
    status, body = await w.call("GET", "/api/v1/agents/a1", "agent")
    assert status == 200
    return body  # type: ignore[no-any-return]


async def _until(w: World, state: str) -> dict[str, Any]:
    for _ in range(100):
        profile = await _profile(w)
        if profile["state"] == state:
            return profile
        await asyncio.sleep(0.05)
    raise AssertionError(f"a1 never {state}: {profile['state']}")


async def test_a_break_waits_for_the_wrap_up_and_a_case_needs_a_description(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        conn = await asyncpg.connect(db_url)
        await conn.execute("INSERT INTO topics (code, name) VALUES ('other', 'Other')")
        await next_of(ws, "hello")
        assert (await _ask(ws, {"id": "0", "type": "current_call"}))["pop"] is None
        await _ask(ws, {"id": "1", "type": "login"})
        await _ask(ws, {"id": "2", "type": "ready"})
        ch = w.server.pbx.inbound_call(Citizen(NUMBER, "benefits", talk_s=2000))
        await _until(w, "on_call")

        assert (await _ask(ws, {"id": "3", "type": "not_ready", "reason": "break"}))[
            "type"
        ] == "ack"
        profile = await _profile(w)
        assert (profile["state"], profile["pending"]) == (
            "on_call",
            {"state": "not_ready", "reason": "break"},
        )
        assert profile["recording"] is False
        await _ask(ws, {"id": "4", "type": "hangup"})
        await _until(w, "wrap_up")
        # 60 wall seconds more, whatever the speed of the ACD's clock (x20 here).
        extended = await _ask(ws, {"id": "5", "type": "extend_wrap_up", "seconds": 60})
        assert extended["type"] == "ack"
        left = (await _profile(w))["wrap_up_left_s"]
        assert 55 < left <= 60 + 5 * SCALE

        # A desktop opened now gets the call being wrapped up.
        pop = (await _ask(ws, {"id": "6", "type": "current_call"}))["pop"]
        assert (pop["call"], pop["number"]) == (ch.linkedid, NUMBER)

        blank = {"topic": "other", "description": "   "}
        refused = await _ask(ws, {"id": "7", "type": "wrap_up", "disposition": "x", "case": blank})
        assert (refused["type"], refused["code"]) == ("error", "description_required")
        assert (await _profile(w))["state"] == "wrap_up"
        case = {"topic": "other", "description": "Asks about the benefit"}
        ack = await _ask(ws, {"id": "8", "type": "wrap_up", "disposition": "info", "case": case})
        assert ack["case_number"]
        profile = await _profile(w)
        assert (profile["state"], profile["reason"], profile["pending"]) == (
            "not_ready",
            "break",
            None,
        )
        stored = await conn.fetchval(
            "SELECT count(*) FROM cases WHERE description = 'Asks about the benefit'"
        )
        await conn.close()
        assert stored == 1


async def test_the_break_can_be_called_off_and_ready_colleagues_are_listed(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await next_of(ws, "hello")
        await _ask(ws, {"id": "1", "type": "login"})
        await _ask(ws, {"id": "2", "type": "ready"})
        status, targets = await w.call("GET", "/api/v1/transfer-targets", "agent")
        assert (status, targets) == (200, {"agents": [], "queues": ["benefits"]})
        for state in ("login", "ready"):
            body = {"state": state}
            assert (await w.call("POST", "/api/v1/agents/a2/state", "admin", json=body))[0] == 200
        _, targets = await w.call("GET", "/api/v1/transfer-targets", "agent")
        assert targets["agents"] == [
            {"id": "a2", "name": None, "skills": {"benefits": 6}, "queues": ["benefits"]}
        ]
        assert (await w.call("GET", "/api/v1/transfer-targets", "integrator"))[0] == 403

        # a2 goes on a break; a1 takes a call, asks for a break, then calls it off.
        await w.call("POST", "/api/v1/agents/a2/state", "admin", json={"state": "logout"})
        w.server.pbx.inbound_call(Citizen(NUMBER, "benefits", talk_s=2000))
        await _until(w, "on_call")
        await _ask(ws, {"id": "3", "type": "not_ready", "reason": "break"})
        assert (await _ask(ws, {"id": "4", "type": "cancel_pending"}))["type"] == "ack"
        assert (await _profile(w))["pending"] is None
        await _ask(ws, {"id": "5", "type": "hangup"})
        await _until(w, "wrap_up")
        await _ask(ws, {"id": "6", "type": "wrap_up", "disposition": "info"})
        assert (await _profile(w))["state"] == "ready"


async def test_the_callers_name_and_address_leave_notes_and_consents_alone(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        known = CallerIn(phone=NUMBER, notes="hard of hearing", consent_contact=True)
        await upsert_caller(conn, known)
        body = {"name": "  Петър Петров ", "address": "София"}
        status, caller = await w.call(
            "PUT", "/api/v1/callers/0888555301/contact", "agent", json=body
        )
        assert (status, caller["name"], caller["address"]) == (200, "Петър Петров", "София")
        row = await conn.fetchrow(
            "SELECT name, notes, consent_contact FROM callers WHERE phone = $1", NUMBER
        )
        assert dict(row) == {
            "name": "Петър Петров",
            "notes": "hard of hearing",
            "consent_contact": True,
        }
        status, _ = await w.call("PUT", "/api/v1/callers/0888555301/contact", "agent", json={})
        assert status == 200  # nothing known: both cleared
        assert await conn.fetchval("SELECT name FROM callers WHERE phone = $1", NUMBER) is None
        # A name up to 200 characters, an address up to 500: longer is refused, naming
        # the field (and nothing is changed).
        for field, most in (("name", 200), ("address", 500)):
            status, error = await w.call(
                "PUT", "/api/v1/callers/0888555301/contact", "agent", json={field: "x" * (most + 1)}
            )
            assert (status, error["code"]) == (422, "invalid_request"), field
            assert [f["path"] for f in error["fields"]] == [field]
            assert str(most) in error["fields"][0]["message"]
            status, caller = await w.call(
                "PUT", "/api/v1/callers/0888555301/contact", "agent", json={field: "y" * most}
            )
            assert (status, caller[field]) == (200, "y" * most)
        assert (await w.call("PUT", "/api/v1/callers/nonsense/contact", "agent", json=body))[
            0
        ] == 422
        assert (await w.call("PUT", "/api/v1/callers/0888555301/contact", "integrator", json=body))[
            0
        ] == 403
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'caller_update' AND target = $1", NUMBER
        )
        await conn.close()
        assert audited == 4


async def test_the_desktop_learns_the_centres_time_zone_and_the_agents_names(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        status, me = await w.call("GET", "/api/v1/me", "agent")
        assert (status, me["timezone"]) == (200, "UTC")  # no settings, no IVR: UTC
        w.core.settings = w.core.settings.model_copy(update={"timezone": "Europe/Sofia"})
        assert (await w.call("GET", "/api/v1/me", "agent"))[1]["timezone"] == "Europe/Sofia"
        # An agent's name (its profile's) is what every page calls it: one name in
        # every language, filed under English.
        profile = {"endpoint": "PJSIP/a2", "skills": {"benefits": 6}, "queues": ["benefits"]}
        status, _ = await w.call(
            "PUT", "/api/v1/agents/a2", "admin", json={**profile, "name": "Мария Иванова"}
        )
        assert status == 200
        status, names = await w.call("GET", "/api/v1/names", "agent")
        assert (status, names["agent"]) == (200, {"a2": {"en": "Мария Иванова"}})


async def test_a_missing_page_is_a_page_for_a_browser_and_json_for_a_client(
    db_url: str, tmp_path: Any
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    async with world(db_url, tmp_path) as w:
        for path in ("/nope", "/desktop/x", "/api/v1/nope"):
            async with w.http.get(w.base + path, headers=browser) as r:
                text = await r.text()
                assert (r.status, r.content_type) == (404, "text/html"), path
                assert '<a id="home" href="/"' in text
                assert 'data-i18n="not_found_title"' in text  # in the user's language
            for accept in ("*/*", "application/json", "application/json, text/html"):
                async with w.http.get(w.base + path, headers={"Accept": accept}) as r:
                    assert (r.status, r.content_type) == (404, "application/json"), path
                    assert (await r.json())["code"] == "not_found"
        # What exists is answered as before; an API refusal stays JSON for a browser too.
        async with w.http.get(w.base + "/api/v1/cases/1", headers=browser) as r:
            assert (r.status, (await r.json())["code"]) == (401, "unauthenticated")
        async with w.http.get(w.base + "/desktop", headers=browser) as r:
            assert (r.status, r.content_type) == (200, "text/html")
