"""The API over real sockets: the simulated PBX, the CTI core with the ACD, real
PostgreSQL, and aiohttp clients as agents, supervisors and integrators."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_helpers import next_of, world
from cti.api import auth
from cti.sim.models import Citizen
from cti.store import cases
from cti.store.callers import upsert_caller
from cti.store.embedded import free_port
from cti.store.models import CallerIn, CaseCreate


async def test_health_ready_metrics_and_openapi(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        assert await w.call("GET", "/health", None) == (200, {"status": "ok"})
        status, ready = await w.call("GET", "/ready", None)
        assert (status, ready["checks"]) == (200, {"ami": True, "database": True})
        status, leading = await w.call("GET", "/leader", None)  # one CTI: it leads
        assert (status, leading) == (200, {"leading": True})
        status, text = await w.call("GET", "/metrics", None)
        assert status == 200
        assert 'cti_agents{state="logged_out"} 2.0' in text
        assert "cti_ami_connected 1.0" in text
        assert 'cti_queue_calls_waiting{queue="benefits"} 0.0' in text
        assert "cti_http_request_duration_seconds_bucket" in text
        assert "cti_bus_slow_consumers_total 0.0" in text
        assert "cti_acd_commands_dropped_total 0.0" in text
        status, doc = await w.call("GET", "/openapi.json", None)
        assert doc["openapi"] == "3.1.0"
        assert "ScreenPop" in doc["components"]["schemas"]
        assert "/api/v1/callers/{number}" in doc["paths"]


# (method, path, body) -> roles allowed
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/api/v1/me", None, {"agent", "supervisor", "admin", "integrator"}),
    ("GET", "/api/v1/queues", None, {"supervisor", "admin", "integrator"}),
    ("GET", "/api/v1/agents", None, {"supervisor", "admin"}),
    ("POST", "/api/v1/agents/a1/state", {"state": "login"}, {"agent", "supervisor", "admin"}),
    ("POST", "/api/v1/agents/a2/state", {"state": "login"}, {"supervisor", "admin"}),
    ("GET", "/api/v1/callers/0888123456", None, {"agent", "supervisor", "admin", "integrator"}),
]


async def test_every_route_with_every_role_no_token_and_a_bad_token(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        w.tokens["bad"] = "not-a-token"
        for method, path, body, allowed in ROUTES:
            status, reply = await w.call(method, path, None, json=body)
            assert (status, reply["code"]) == (401, "unauthenticated"), path
            status, reply = await w.call(method, path, "bad", json=body)
            assert (status, reply["code"]) == (401, "bad_token"), path
            for role in ("agent", "supervisor", "admin", "integrator"):
                if body and body.get("state") == "login":  # log out again between roles
                    await w.call(method, path, "admin", json={"state": "logout"})
                status, reply = await w.call(method, path, role, json=body)
                if role in allowed:
                    assert status == 200, (path, role, reply)
                else:
                    assert (status, reply["code"]) == (403, "forbidden"), (path, role)
        # A websocket is for agents only.
        for role in ("supervisor", "admin", "integrator"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                async with w.ws(role):
                    pass
            assert err.value.status == 403


async def test_login_with_a_password_and_the_rate_limit(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        ok, body = await w.call(
            "POST",
            "/api/v1/login",
            None,
            json={"username": "sue", "password": "correct horse battery"},
        )
        assert ok == 200
        assert body["role"] == "supervisor"
        w.tokens["fresh"] = body["token"]
        assert (await w.call("GET", "/api/v1/me", "fresh"))[1]["username"] == "sue"
        statuses = []
        for _ in range(6):
            status, _ = await w.call(
                "POST", "/api/v1/login", None, json={"username": "sue", "password": "wrong"}
            )
            statuses.append(status)
        assert statuses == [401] * 5 + [429]
        status, body = await w.call("POST", "/api/v1/login", None, json={"username": "sue"})
        assert (status, body["code"]) == (422, "invalid_request")
        assert body["fields"][0]["path"] == "password"


async def test_bad_input_gets_a_clear_error_and_changes_nothing(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        status, body = await w.call(
            "POST", "/api/v1/agents/a1/state", "agent", json={"state": "asleep"}
        )
        assert (status, body["code"], body["fields"][0]["path"]) == (
            422,
            "invalid_request",
            "state",
        )
        status, body = await w.call("POST", "/api/v1/agents/a1/state", "agent", data=b"{nope")
        assert (status, body["code"]) == (400, "bad_json")
        status, body = await w.call(
            "POST", "/api/v1/agents/a1/state", "agent", json={"state": "not_ready", "reason": "nap"}
        )
        assert (status, body["code"]) == (409, "agent_logged_out")
        status, body = await w.call(
            "POST", "/api/v1/agents/zz/state", "admin", json={"state": "login"}
        )
        assert (status, body["code"]) == (404, "unknown_agent")
        status, body = await w.call("GET", "/api/v1/callers/12ab", "agent")
        assert (status, body["code"]) == (422, "bad_phone")
        assert {a.id: str(a.state) for a in w.core.acd.acd.agents()} == {  # type: ignore[union-attr]
            "a1": "logged_out",
            "a2": "logged_out",
        }


async def test_the_callers_history_is_read_while_the_citizen_is_in_the_ivr(
    db_url: str, tmp_path: Any
) -> None:
    """The pop's history is read when the call begins, so at the offer it is there."""
    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        await upsert_caller(conn, CallerIn(phone="+359888555002", name="Ivan", address="Ruse"))
        await conn.close()
        async with w.ws() as ws:
            await next_of(ws, "hello")
            for n, kind in enumerate(("login", "ready")):
                await ws.send_json({"id": f"r{n}", "type": kind})
                await next_of(ws, "ack")
            ahead = w.api.agent_desks.history
            w.server.pbx.inbound_call(Citizen("0888555002", "benefits", talk_s=30, ivr_s=20))
            pop = await next_of(ws, "screen_pop")
            assert (pop["number"], pop["caller"]["name"]) == ("+359888555002", "Ivan")
            assert ahead.ready_at_offer == 1


async def test_the_agent_desktop_gets_a_screen_pop_and_drives_its_state(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        await upsert_caller(conn, CallerIn(phone="+359888555001", name="Maria", address="Plovdiv"))
        await conn.execute("INSERT INTO topics (code, name) VALUES ('other', 'Other')")
        case = await cases.create_case(conn, CaseCreate(topic="other", phone="+359888555001"), "x")
        async with w.ws() as ws:
            hello = await next_of(ws, "hello")
            assert hello["agent"] == "a1"
            await ws.send_json({"id": "r1", "type": "login"})
            assert (await next_of(ws, "ack"))["id"] == "r1"
            await ws.send_json({"id": "r2", "type": "ready"})
            await next_of(ws, "ack")
            w.server.pbx.inbound_call(Citizen("+359888555001", "benefits", talk_s=30))
            pop = await next_of(ws, "screen_pop")
            assert pop["number"] == "+359888555001"
            assert pop["queue"] == "benefits"
            assert pop["caller"]["name"] == "Maria"
            assert [c["number"] for c in pop["open_cases"]] == [case.number]
            assert pop["seq"] > hello["seq"]
            await ws.send_json({"id": "r3", "type": "not_ready", "reason": "break"})
            await next_of(ws, "ack")  # declines the ringing call: it goes back in line
            await ws.send_json({"id": "r4", "type": "not_ready", "reason": "nap"})
            error = await next_of(ws, "error")
            assert (error["id"], error["code"]) == ("r4", "unknown_reason")
            await ws.send_json({"id": "r5", "type": "fly"})
            error = await next_of(ws, "error")
            assert (error["id"], error["code"]) == ("r5", "bad_message")
            last = pop["seq"]
        # Reconnect and resume: nothing missed in between.
        events = w.core.bus.since(last, lambda e: e.data.get("agent") == "a1")
        assert events
        async with w.ws() as ws:
            hello = await next_of(ws, "hello")
            assert hello["stream"] == w.core.bus.stream
            await ws.send_json(
                {"id": "r6", "type": "resume", "since": last, "stream": hello["stream"]}
            )
            replayed = []
            while len(replayed) < len(events):
                frame = await asyncio.wait_for(ws.receive_json(), 5)
                if frame["type"] in ("event", "screen_pop"):
                    replayed.append(frame["seq"])
            assert replayed == [e.seq for e in events]
            # Numbers of another process (before a restart, or another CTI's before a
            # takeover) cannot be resumed from: the desktop is told to reload.
            await ws.send_json({"id": "r7", "type": "resume", "since": 1, "stream": "0123abcd"})
            error = await next_of(ws, "error")
            assert (error["id"], error["code"]) == ("r7", "resume_gap")
            await ws.send_json({"id": "r8", "type": "resume", "since": w.core.bus.seq + 50})
            error = await next_of(ws, "error")
            assert (error["id"], error["code"]) == ("r8", "resume_gap")
        # The pop showed a citizen's data to ann: audited, once, off the call path.
        deadline = asyncio.get_running_loop().time() + 5
        while not (audit := await conn.fetch("SELECT actor, action, target FROM audit_log")):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        await conn.close()
        assert [tuple(a) for a in audit] == [("ann", "screen_pop", "+359888555001")]


async def test_a_second_desktop_replaces_the_first(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        first = await w.ws().__aenter__()
        await next_of(first, "hello")
        async with w.ws() as second:
            await next_of(second, "hello")
            msg = await asyncio.wait_for(first.receive(), 5)
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert (msg.data, msg.extra) == (4001, "replaced by a new connection")
        await first.close()


async def test_a_caller_lookup_is_written_to_the_audit_log(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        status, body = await w.call("GET", "/api/v1/callers/0888%20123%20456", "integrator")
        assert (status, body["phone"], body["caller"]) == (200, "+359888123456", None)
        conn = await asyncpg.connect(db_url)
        rows = await conn.fetch("SELECT actor, action, target FROM audit_log")
        await conn.close()
        assert [tuple(r) for r in rows] == [("int", "caller_lookup", "+359888123456")]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=6,
)
WS_MESSAGES = st.one_of(
    JSONISH,
    st.fixed_dictionaries(
        {
            "id": st.text(max_size=70),
            "type": st.sampled_from(
                [
                    "login",
                    "ready",
                    "not_ready",
                    "logout",
                    "extend_wrap_up",
                    "pause_recording",
                    "resume_recording",
                    "resume",
                    "ping",
                    "hold",
                    "unhold",
                    "transfer",
                    "fly",
                ]
            ),
        },
        optional={
            "reason": JSONISH,
            "seconds": JSONISH,
            "since": JSONISH,
            # Cheap to draw: recursive JSON in every key made examples slow to build.
            "queue": st.sampled_from(["benefits", "nope", "", 5]),
            "agent": st.sampled_from(["a1", "a2", "zz", None]),
            "number": st.sampled_from(["+359888555001", "x", 7]),
        },
    ),
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(st.lists(JSONISH, min_size=40, max_size=40), st.lists(WS_MESSAGES, min_size=80, max_size=80))
async def test_random_requests_and_messages_never_get_a_500(
    db_url: str, tmp_path: Any, random_bodies: list[Any], messages: list[Any]
) -> None:
    """Fuzz (hypothesis) the REST bodies and the websocket messages against the live
    server: every answer is a clear JSON error or a success, never a 500 or a hang."""
    async with world(db_url, tmp_path) as w:
        bodies = random_bodies + [
            {"state": s, "reason": r} for s in ("ready", "x", 5) for r in (None, "", "break", 7)
        ]
        for body in bodies:
            for path in ("/api/v1/agents/a1/state", "/api/v1/login"):
                status, reply = await w.call("POST", path, "admin", json=body)
                assert status < 500, (path, body, reply)
                if status >= 400:
                    assert reply["code"]
        async with w.ws() as ws:
            await next_of(ws, "hello")
            for msg in messages:
                await ws.send_str(json.dumps(msg))
                frame = await asyncio.wait_for(ws.receive_json(), 5)
                while frame["type"] not in ("ack", "error"):  # events about the agent
                    frame = await asyncio.wait_for(ws.receive_json(), 5)
                assert frame["type"] in ("ack", "error")
                if frame["type"] == "error":
                    assert frame["code"]
            assert not ws.closed


async def test_cases_over_rest_with_the_rules_for_each_role(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        await conn.execute(
            "INSERT INTO topics (code, name, regulation_days) VALUES"
            " ('social', 'Social', 14), ('social.heating', 'Heating', 7),"
            " ('other', 'Other', 30)"
        )
        await conn.close()
        body = {"topic": "social.heating", "phone": "0888 123 456", "description": "late"}
        status, mine = await w.call("POST", "/api/v1/cases", "agent", json=body)
        assert status == 201
        assert mine["number"].endswith("-000001")
        status, theirs = await w.call(
            "POST", "/api/v1/cases", "supervisor", json={"topic": "other"}
        )
        assert status == 201
        assert (await w.call("POST", "/api/v1/cases", "integrator", json=body))[0] == 403
        # An agent changes its own case, not another's; reading is open to every role.
        path = f"/api/v1/cases/{mine['id']}"
        assert (await w.call("PATCH", path, "agent", json={"description": "later"}))[0] == 200
        other = f"/api/v1/cases/{theirs['id']}"
        status, err = await w.call("PATCH", other, "agent", json={"description": "x"})
        assert (status, err["code"]) == (403, "forbidden")
        for role in ("agent", "supervisor", "admin", "integrator"):
            assert (await w.call("GET", other, role))[0] == 200
        status, moved = await w.call(
            "POST",
            path + "/status",
            "integrator",
            json={"status": "forwarded", "note": "to the region"},
        )
        assert (status, moved["status"]) == (200, "forwarded")
        status, err = await w.call(
            "POST", path + "/status", "supervisor", json={"status": "citizen_informed"}
        )
        assert (status, err["code"]) == (422, "illegal_status_move")
        status, hist = await w.call("GET", path + "/history", "agent")
        assert [h["action"] for h in hist["items"]] == ["created", "updated", "status"]
        # One search, with the same paging everywhere.
        status, page = await w.call("GET", "/api/v1/cases?topic=social&limit=1", "integrator")
        assert (status, page["total"], len(page["items"])) == (200, 1, 1)
        assert page["items"][0]["id"] == mine["id"]
        status, page = await w.call("GET", "/api/v1/cases?sort=number&limit=5&offset=1", "admin")
        assert [c["id"] for c in page["items"]] == [theirs["id"]]
        status, page = await w.call("GET", "/api/v1/cases?phone=%2B359888123456", "agent")
        assert [c["id"] for c in page["items"]] == [mine["id"]]
        status, err = await w.call("GET", "/api/v1/cases?sort=password", "admin")
        assert (status, err["code"]) == (422, "bad_sort")
        status, err = await w.call("GET", "/api/v1/cases?limit=0", "admin")
        assert (status, err["code"]) == (422, "invalid_request")
        assert (await w.call("GET", "/api/v1/cases/999999", "admin"))[1]["code"] == "case_not_found"
        assert (await w.call("GET", "/api/v1/cases/abc", "admin"))[0] == 404
        assert (await w.call("GET", "/api/v1/cases", None))[0] == 401


async def test_wrap_up_files_a_case_and_the_supervisor_sees_forces_and_broadcasts(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        await conn.execute("INSERT INTO topics (code, name) VALUES ('other', 'Other')")
        async with (
            w.ws() as agent_ws,
            w.http.ws_connect(f"{w.base}/ws/supervisor?token={w.tokens['supervisor']}") as sup,
        ):
            snapshot = await next_of(sup, "snapshot")
            assert {a["id"]: a["state"] for a in snapshot["agents"]} == {
                "a1": "logged_out",
                "a2": "logged_out",
            }
            assert snapshot["queues"][0]["name"] == "benefits"
            await next_of(agent_ws, "hello")
            await sup.send_json(
                {"id": "s1", "type": "force_state", "agent": "a1", "state": "ready"}
            )
            error = await next_of(sup, "error")  # a logged-out agent cannot be made ready
            assert (error["id"], error["code"]) == ("s1", "agent_logged_out")
            await agent_ws.send_json({"id": "1", "type": "login"})
            await agent_ws.send_json({"id": "2", "type": "ready"})
            ch = w.server.pbx.inbound_call(Citizen("+359888555002", "benefits", talk_s=3))
            pop = await next_of(agent_ws, "screen_pop")
            seen = await next_of(sup, "event")
            assert seen["event"].startswith("acd.")
            # On the call: the agent hangs up from the desktop.
            while True:
                frame = await next_of(agent_ws, "event")
                if frame["event"] == "acd.CallAnswered":
                    break
            await agent_ws.send_json({"id": "3", "type": "hangup"})
            # The ack and the move to wrap-up, in either order: the state event leaves
            # as soon as the ACD publishes it, which may be before the ack.
            acked = wrapping_up = False
            while not (acked and wrapping_up):
                frame = await asyncio.wait_for(agent_ws.receive_json(), 5)
                acked |= frame["type"] == "ack" and frame["id"] == "3"
                assert frame["type"] != "error", frame
                wrapping_up |= frame["type"] == "event" and frame["data"].get("new") == "wrap_up"
            await agent_ws.send_json(
                {
                    "id": "4",
                    "type": "wrap_up",
                    "disposition": "informed",
                    "case": {"topic": "other", "description": "asked"},
                }
            )
            ack = await next_of(agent_ws, "ack")
            assert ack["case_number"].endswith("-000001")
            await sup.send_json({"id": "s2", "type": "broadcast", "text": "Storm: expect calls"})
            assert (await next_of(sup, "ack"))["id"] == "s2"
            broadcast = await next_of(agent_ws, "broadcast")
            assert (broadcast["text"], broadcast["by"]) == ("Storm: expect calls", "sue")
            await sup.send_json(
                {
                    "id": "s3",
                    "type": "force_state",
                    "agent": "a1",
                    "state": "not_ready",
                    "reason": "break",
                }
            )
            assert (await next_of(sup, "ack"))["id"] == "s3"
            assert str(w.core.acd.acd.agents()[0].state) == "not_ready"  # type: ignore[union-attr]
        assert await w.core.store.outbox.flush(5)  # type: ignore[union-attr]
        row = await conn.fetchrow(
            "SELECT disposition, outcome FROM interactions WHERE id = $1", ch.linkedid
        )
        links = await conn.fetch("SELECT interaction_id FROM case_interactions")
        await conn.close()
        assert pop["call"] == ch.linkedid
        assert dict(row) == {"disposition": "informed", "outcome": "answered"}
        assert [r["interaction_id"] for r in links] == [ch.linkedid]
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            async with w.http.ws_connect(f"{w.base}/ws/supervisor?token={w.tokens['agent']}"):
                pass
        assert err.value.status == 403


async def test_interactions_search_csv_and_audited_recording_download(
    db_url: str, tmp_path: Any
) -> None:
    from cti.sim.wav import write_wav
    from cti.store.recordings import save_recording

    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        for i, (agent_id, outcome) in enumerate(
            [("a1", "answered"), ("a2", "answered"), (None, "abandoned")]
        ):
            await conn.execute(
                "INSERT INTO interactions (id, direction, caller_number, queue, agent,"
                " arrived_at, outcome) VALUES ($1, 'inbound', '+359888000001', 'benefits', $2,"
                " timestamptz '2026-11-24 09:00Z' + $3 * interval '1 minute', $4)",
                f"i{i}",
                agent_id,
                i,
                outcome,
            )
        wav = tmp_path / "i0.wav"
        write_wav(wav, 2.0)
        import datetime as dt

        rec = await save_recording(conn, "i0", "a1", wav, dt.datetime(2026, 11, 24, tzinfo=dt.UTC))
        status, page = await w.call("GET", "/api/v1/interactions?sort=arrived_at", "supervisor")
        assert (status, page["total"]) == (200, 3)
        assert [r["id"] for r in page["items"]] == ["i0", "i1", "i2"]
        status, page = await w.call("GET", "/api/v1/interactions", "agent")  # its own only
        assert [r["id"] for r in page["items"]] == ["i0"]
        status, page = await w.call(
            "GET", "/api/v1/interactions?outcome=abandoned&limit=5", "integrator"
        )
        assert [r["id"] for r in page["items"]] == ["i2"]
        async with w.http.get(
            f"{w.base}/api/v1/interactions?format=csv&sort=arrived_at",
            headers={"Authorization": f"Bearer {w.tokens['admin']}"},
        ) as r:
            assert r.status == 200
            assert r.content_type == "text/csv"
            lines = (await r.text()).splitlines()
        assert lines[0].startswith("id,direction,caller_number")
        assert [line.split(",")[0] for line in lines[1:]] == ["i0", "i1", "i2"]
        status, err = await w.call("GET", "/api/v1/interactions?sort=password", "admin")
        assert (status, err["code"]) == (422, "bad_sort")
        status, listing = await w.call("GET", "/api/v1/recordings?interaction=i0", "supervisor")
        assert [r["id"] for r in listing["items"]] == [rec.id]
        assert (await w.call("GET", f"/api/v1/recordings/{rec.id}/audio", "agent"))[0] == 403
        async with w.http.get(
            f"{w.base}/api/v1/recordings/{rec.id}/audio",
            headers={"Authorization": f"Bearer {w.tokens['supervisor']}"},
        ) as r:
            assert r.status == 200
            assert await r.read() == wav.read_bytes()
        access = await conn.fetch("SELECT actor, action FROM recording_access")
        audit_rows = await conn.fetch("SELECT actor, action, target FROM audit_log")
        await conn.close()
        assert [tuple(a) for a in access] == [("sue", "download")]
        assert [tuple(a) for a in audit_rows] == [("sue", "recording_download", rec.id)]


def _at(hhmm: str) -> Any:
    import datetime as dt

    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime(2026, 11, 24, hour, minute, tzinfo=dt.UTC)


async def test_kpi_reports_and_occupancy(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        # 09:00 two answered (waits 10 s and 30 s), 10:00 one abandoned, 10:05 one answered.
        calls = [
            ("c1", "09:00", 10, "answered"),
            ("c2", "09:10", 30, "answered"),
            ("c3", "10:00", None, "abandoned"),
            ("c4", "10:05", 5, "answered"),
        ]
        for cid, hhmm, wait, outcome in calls:
            answered = outcome == "answered"
            await conn.execute(
                "INSERT INTO interactions (id, direction, queue, agent, arrived_at, answered_at,"
                " wait_s, talk_s, wrap_up_s, outcome) VALUES ($1, 'inbound', 'benefits', $2,"
                " $3::timestamptz, CASE WHEN $4::bool THEN $3::timestamptz END, $5, $6, $7, $8)",
                cid,
                "a1" if answered else None,
                _at(hhmm),
                answered,
                wait,
                100.0 if answered else None,
                20.0 if answered else None,
                outcome,
            )
        for at, state, previous in [
            ("09:00", "ready", 0),
            ("09:01", "on_call", 60),
            ("09:04", "wrap_up", 180),
            ("09:05", "ready", 60),
            ("09:07", "not_ready", 120),
        ]:
            await conn.execute(
                "INSERT INTO agent_state_log (key, agent, state, at, previous_s)"
                " VALUES ($1, 'a1', $2, $3, $4)",
                f"k{at}",
                state,
                _at(at),
                previous,
            )
        await conn.close()
        period = "start=2026-11-24T00:00:00Z&end=2026-11-25T00:00:00Z"
        status, hourly = await w.call(
            "GET", f"/api/v1/reports/kpis?group=hour&{period}", "supervisor"
        )
        assert status == 200
        assert [
            (r["key"], r["offered"], r["answered"], r["abandoned"], r["service_level"])
            for r in hourly["items"]
        ] == [("2026-11-24T09:00", 2, 2, 0, 0.5), ("2026-11-24T10:00", 2, 1, 1, 0.5)]
        assert hourly["items"][0]["asa_s"] == 20.0
        assert hourly["items"][0]["aht_s"] == 120.0
        status, sofia = await w.call(
            "GET", f"/api/v1/reports/kpis?group=hour&timezone=Europe/Sofia&{period}", "admin"
        )
        assert sofia["items"][0]["key"] == "2026-11-24T11:00"
        status, occ = await w.call("GET", f"/api/v1/reports/occupancy?{period}", "supervisor")
        # ready 60 s + 120 s, on a call 180 s, wrap-up 60 s: (180 + 60) / (240 + 180)
        assert occ["items"] == [
            {
                "agent": "a1",
                "seconds": {"on_call": 180.0, "ready": 180.0, "wrap_up": 60.0},
                "occupancy": 0.5714,
            }
        ]
        status, err = await w.call(
            "GET",
            "/api/v1/reports/kpis?start=2026-11-25T00:00:00Z&end=2026-11-24T00:00:00Z",
            "admin",
        )
        assert (status, err["code"]) == (422, "bad_period")
        status, err = await w.call(
            "GET", "/api/v1/reports/kpis?first_day=2026-11-25&last_day=2026-11-24", "admin"
        )
        assert (status, err["code"]) == (422, "bad_period")
        status, err = await w.call(
            "GET", f"/api/v1/reports/kpis?timezone=Mars/Base&{period}", "admin"
        )
        assert (status, err["fields"][0]["path"]) == (422, "timezone")
        assert (await w.call("GET", f"/api/v1/reports/kpis?{period}", "agent"))[0] == 403


async def test_webhooks_are_signed_retried_and_never_block(db_url: str, tmp_path: Any) -> None:
    from aiohttp import web as aioweb

    from cti.api.webhooks import sign
    from cti.config import WebhookSettings

    received: list[tuple[str, bytes, str]] = []
    attempts = {"n": 0}

    async def hook(request: aioweb.Request) -> aioweb.Response:
        attempts["n"] += 1
        if attempts["n"] <= 2:  # the integrator is down for a moment
            return aioweb.Response(status=503)
        body = await request.read()
        received.append((request.headers["X-CTI-Event"], body, request.headers["X-CTI-Signature"]))
        return aioweb.Response(status=204)

    app = aioweb.Application()
    app.add_routes([aioweb.post("/hook", hook)])
    runner = aioweb.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with world(db_url, tmp_path) as w:
            settings = WebhookSettings(
                url=f"http://127.0.0.1:{port}/hook", secret="s3cret", retry_initial_s=0.05
            )  # type: ignore[arg-type]
            from cti.api.webhooks import Webhooks

            w.api.webhooks = Webhooks([settings], w.core.bus)
            await w.api.webhooks.start()
            conn = await asyncpg.connect(db_url)
            await conn.execute("INSERT INTO topics (code, name) VALUES ('other', 'Other')")
            await conn.close()
            status, case = await w.call("POST", "/api/v1/cases", "agent", json={"topic": "other"})
            assert status == 201
            assert not received  # the request did not wait for the (failing) integrator
            deadline = asyncio.get_running_loop().time() + 5
            while not received:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            await w.api.webhooks.close()
    finally:
        await runner.cleanup()
    ((event, body, signature),) = received
    assert event == "case.created"
    assert json.loads(body)["data"]["number"] == case["number"]
    assert signature == sign("s3cret", body)
    assert attempts["n"] == 3  # two refusals, then delivered once


async def test_a_supervisor_listens_whispers_and_barges_from_their_phone(
    db_url: str, tmp_path: Any
) -> None:
    async with (
        world(db_url, tmp_path) as w,
        w.ws() as agent_ws,
        w.http.ws_connect(f"{w.base}/ws/supervisor?token={w.tokens['supervisor']}") as sup,
    ):
        await next_of(sup, "snapshot")
        await next_of(agent_ws, "hello")
        spy = {"type": "listen", "agent": "a1", "endpoint": "PJSIP/sup1"}
        await sup.send_json({"id": "s0", **spy})
        assert (await next_of(sup, "error"))["code"] == "no_call"
        await agent_ws.send_json({"id": "1", "type": "login"})
        await agent_ws.send_json({"id": "2", "type": "ready"})
        w.server.pbx.inbound_call(Citizen("+359888555003", "benefits", talk_s=60))
        while (await next_of(agent_ws, "event"))["event"] != "acd.CallAnswered":
            pass
        for n, mode in enumerate(("listen", "whisper", "barge")):
            await sup.send_json({"id": f"s{n + 1}", **spy, "type": mode})
            assert (await next_of(sup, "ack"))["id"] == f"s{n + 1}"
        await sup.send_json({"id": "s9", **spy, "endpoint": "SIP/x"})
        assert (await next_of(sup, "error"))["code"] == "bad_message"
    spies = [a for a in w.server.received if a.get("Application") == "ChanSpy"]
    assert [(a["Channel"], a["Data"]) for a in spies] == [
        ("PJSIP/sup1", "PJSIP/a1-,qE"),
        ("PJSIP/sup1", "PJSIP/a1-,qEw"),
        ("PJSIP/sup1", "PJSIP/a1-,qEB"),
    ]


async def test_live_calls_click_to_call_announcements_and_surveys(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        ch = w.server.pbx.inbound_call(Citizen("+359888555004", "benefits", talk_s=60))
        await asyncio.sleep(0.2)
        status, live = await w.call("GET", "/api/v1/calls", "supervisor")
        assert status == 200
        assert [(c["id"], c["caller"], c["state"]) for c in live["items"]] == [
            (ch.linkedid, "+359888555004", "waiting")
        ]
        assert (await w.call("GET", "/api/v1/calls", "agent"))[0] == 403
        status, gone = await w.call("DELETE", f"/api/v1/calls/{ch.linkedid}", "supervisor")
        assert (status, gone["channels"]) == (200, 1)
        await asyncio.sleep(0.1)
        assert ch.hung_up
        assert (await w.call("DELETE", "/api/v1/calls/nope", "admin"))[1]["code"] == (
            "call_not_found"
        )
        # Click-to-call: the agent's phone first, then the number; a logged-out agent
        # cannot, an agent on a break can (and is on the break again after the call).
        click = {"agent": "a1", "number": "0888 555 005"}
        status, err = await w.call("POST", "/api/v1/calls", "agent", json=click)
        assert (status, err["code"]) == (409, "agent_logged_out")
        login = {"state": "login"}
        assert (await w.call("POST", "/api/v1/agents/a1/state", "agent", json=login))[0] == 200
        status, placed = await w.call("POST", "/api/v1/calls", "agent", json=click)
        assert (status, placed["number"]) == (201, "+359888555005")
        await asyncio.sleep(0.1)
        originate = [a for a in w.server.received if a.get("Action") == "Originate"][-1]
        assert (originate["Channel"], originate["Context"]) == ("PJSIP/a1", "cti-callback")
        variables = originate["Variable"].split("\n")
        assert "CTI_CALLBACK_NUMBER=+359888555005" in variables
        assert f"CTI_CALL_ID={placed['call']}" in variables
        status, busy = await w.call("POST", "/api/v1/calls", "agent", json=click)
        assert (status, busy["code"]) == (409, "agent_busy")
        status, err = await w.call(
            "POST", "/api/v1/calls", "agent", json={"agent": "a2", "number": "0888555005"}
        )
        assert (status, err["code"]) == (403, "forbidden")
        # Announcements the IVR plays.
        notice = {
            "text": "Water outage in Lozenets until 18:00",
            "prompt": "cti/notice-1",
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2099-01-01T00:00:00Z",
        }
        status, created = await w.call("POST", "/api/v1/announcements", "supervisor", json=notice)
        assert status == 201
        status, listed = await w.call("GET", "/api/v1/announcements?current=true", "integrator")
        assert [a["id"] for a in listed["items"]] == [created["id"]]
        bad = {**notice, "valid_to": "2025-01-01T00:00:00Z"}
        status, err = await w.call("POST", "/api/v1/announcements", "admin", json=bad)
        assert (status, err["code"]) == (422, "bad_period")
        assert (await w.call("DELETE", f"/api/v1/announcements/{created['id']}", "admin"))[0] == 200
        assert (await w.call("DELETE", f"/api/v1/announcements/{created['id']}", "admin"))[0] == 404
        # Survey results.
        conn = await asyncpg.connect(db_url)
        for i, score in enumerate((5, 4, 2)):
            await conn.execute(
                "INSERT INTO survey_answers (key, interaction_id, question, score, at)"
                " VALUES ($1, $1, 'satisfaction', $2, '2026-11-24T10:00:00Z')",
                f"s{i}",
                score,
            )
        await conn.close()
        status, results = await w.call("GET", "/api/v1/surveys", "supervisor")
        assert results["items"] == [
            {
                "question": "satisfaction",
                "day": "2026-11-24",
                "answers": 3,
                "average": 3.67,
                "satisfied": 2,
            }
        ]


async def test_every_registered_route_needs_a_token_and_never_fails_with_500(
    db_url: str, tmp_path: Any
) -> None:
    """Walks the router itself, so a route added later cannot slip through unprotected."""
    from cti.api.server import PUBLIC

    async with world(db_url, tmp_path) as w:
        routes = set()
        for route in w.api.app.router.routes():
            info = route.resource.get_info() if route.resource else {}
            path = info.get("path") or info.get("formatter")
            if path and route.method != "HEAD":
                routes.add((route.method, path))
        assert len(routes) >= 25
        # Every REST route is in the OpenAPI document integrators generate clients from.
        _, doc = await w.call("GET", "/openapi.json", None)
        documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        rest = {(m, p) for m, p in routes if p.startswith("/api/")}
        assert rest - documented == set()
        for method, template in sorted(routes):
            path = template.replace("{agent_id}", "a1").replace("{case_id}", "1")
            path = path.replace("{number}", "0888123456").replace("{call_id}", "nope")
            path = path.replace("{recording_id}", "nope").replace("{announcement_id}", "1")
            path = re.sub(r"\{\w+\}", "x1", path)  # any other: a path that exists
            if path.startswith("/ws/"):
                continue  # covered by the websocket tests
            status, _ = await w.call(method, path, None, json={})
            if template in PUBLIC:
                assert status != 401, path
            else:
                assert status == 401, (method, path)
            for role in ("agent", "supervisor", "admin", "integrator"):
                status, body = await w.call(method, path, role, json={})
                assert status < 500 or status == 503, (method, path, role, body)
                if status >= 400:
                    assert body["code"], (method, path, role)


async def test_agent_profiles_and_queue_configuration(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        status, a1 = await w.call("GET", "/api/v1/agents/a1", "agent")
        assert (status, a1["skills"], a1["state"]) == (200, {"benefits": 8}, "logged_out")
        assert (await w.call("GET", "/api/v1/agents/a2", "agent"))[1]["code"] == "forbidden"
        body = {"endpoint": "PJSIP/a1", "skills": {"benefits": 3}, "queues": ["benefits"]}
        assert (await w.call("PUT", "/api/v1/agents/a1", "supervisor", json=body))[0] == 403
        status, changed = await w.call("PUT", "/api/v1/agents/a1", "admin", json=body)
        assert (status, changed["skills"]) == (200, {"benefits": 3})
        # Level 3 no longer meets the queue's level 5: a call waits for a2 instead.
        await w.call("POST", "/api/v1/agents/a1/state", "admin", json={"state": "login"})
        await w.call("POST", "/api/v1/agents/a1/state", "admin", json={"state": "ready"})
        ch = w.server.pbx.inbound_call(Citizen("+359888555006", "benefits", talk_s=5))
        await asyncio.sleep(0.2)
        assert [(c.id, c.state) for c in w.core.acd.acd.calls()] == [(ch.linkedid, "waiting")]  # type: ignore[union-attr]
        bad = {**body, "queues": ["nope"]}
        status, err = await w.call("PUT", "/api/v1/agents/a1", "admin", json=bad)
        assert (status, err["code"]) == (422, "unknown_queue")
        status, err = await w.call(
            "PUT", "/api/v1/agents/a1", "admin", json={**body, "skills": {"benefits": 11}}
        )
        assert (status, err["fields"][0]["path"]) == (422, "skills.benefits")
        status, q = await w.call("GET", "/api/v1/queues/benefits", "integrator")
        assert (status, q["config"]["skills"], q["live"]["waiting"]) == (200, {"benefits": 5}, 1)
        assert (await w.call("GET", "/api/v1/queues/nope", "admin"))[1]["code"] == "unknown_queue"


async def test_the_desktop_answers_a_ringing_phone(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        w.server.pbx.endpoints["a1"].answer_after_s = None  # the agent answers from the desktop
        await next_of(ws, "hello")
        await ws.send_json({"id": "0", "type": "answer"})
        assert (await next_of(ws, "error"))["code"] == "not_ringing"
        await ws.send_json({"id": "1", "type": "login"})
        await ws.send_json({"id": "2", "type": "ready"})
        w.server.pbx.inbound_call(Citizen("+359888555007", "benefits", talk_s=30))
        await next_of(ws, "screen_pop")
        await asyncio.sleep(0.05)  # the phone starts ringing
        await ws.send_json({"id": "3", "type": "answer"})
        while True:
            frame = await asyncio.wait_for(ws.receive_json(), 5)
            if frame["type"] == "error":
                raise AssertionError(frame)
            if frame["type"] == "event" and frame["event"] == "acd.CallAnswered":
                break
    notify = [a for a in w.server.received if a.get("Action") == "PJSIPNotify"]
    assert [(a["Channel"].split("-")[0], a["Variable"]) for a in notify] == [
        ("PJSIP/a1", "Event=talk")
    ]


async def test_the_agent_transfers_a_call_to_a_queue(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w, w.ws() as ws:
        await next_of(ws, "hello")
        await ws.send_json({"id": "1", "type": "login"})
        await ws.send_json({"id": "2", "type": "ready"})
        await w.call("POST", "/api/v1/agents/a2/state", "admin", json={"state": "login"})
        ch = w.server.pbx.inbound_call(Citizen("+359888555008", "benefits", talk_s=60))
        while (await next_of(ws, "event"))["event"] != "acd.CallAnswered":
            pass
        await w.call("POST", "/api/v1/agents/a2/state", "admin", json={"state": "ready"})
        await ws.send_json({"id": "3", "type": "transfer", "queue": "nope"})
        assert (await next_of(ws, "error"))["code"] == "unknown_queue"
        await ws.send_json({"id": "4", "type": "transfer", "queue": "benefits"})
        assert (await next_of(ws, "ack"))["id"] == "4"
        acd = w.core.acd
        assert acd is not None
        deadline = asyncio.get_running_loop().time() + 5
        while not any(c.agent == "a2" and c.state == "connected" for c in acd.acd.calls()):
            assert asyncio.get_running_loop().time() < deadline, acd.acd.calls()
            await asyncio.sleep(0.02)
        states = {a.id: str(a.state) for a in acd.acd.agents()}
        assert states["a1"] in ("wrap_up", "ready")
        assert not ch.hung_up  # the citizen stayed on the line through the transfer


def test_the_login_limiter_forgets_old_failures_and_keeps_no_idle_keys() -> None:
    limiter = auth.LoginLimiter(per_user=2, per_address=3, window_s=10)
    for t in (0.0, 1.0):
        attempt = limiter.reserve("sue", "10.0.0.1", now=t)
        assert attempt is not None
        limiter.failed(attempt)
    assert limiter.reserve("sue", "10.0.0.1", now=2.0) is None  # sue, from there
    failed = limiter.reserve("sue", "10.0.0.9", now=2.0)  # but not sue everywhere
    assert failed is not None
    limiter.failed(failed)
    assert limiter.reserve("bob", "10.0.0.1", now=2.0) is not None  # a third from 10.0.0.1
    assert limiter.reserve("ann", "10.0.0.1", now=2.0) is None  # the address's limit
    assert limiter.reserve("sue", "10.0.0.1", now=20.0) is not None
    assert limiter.keys == 2  # only the attempt just reserved is kept
