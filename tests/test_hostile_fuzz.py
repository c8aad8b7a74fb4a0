"""A fuzz (hypothesis) of every registered route and every websocket message with hostile
shapes: NUL, huge and tiny numbers, deep nesting, wrong types, unicode edge cases, bytes
that are not UTF-8. The server answers each with a success or a JSON 4xx with a code;
never a 5xx, never a plain-text page, never a dropped socket. The routes come from the
router itself, so a route added later is fuzzed too."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from api_helpers import World, world

NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "x\r\nAction: Originate",
    "%00",
    "../../etc/passwd",
    '=HYPERLINK("http://evil.example")',
    "\u202eevil",
    "\u200b",
    "\ufeff",
    "\U0001f600",
    "e\u0301",
    "\uffff",
    "İß",
    "' OR 1=1 --",
    "$1",
    "9" * 40,
    "-1",
    "1e309",
    "NaN",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00+14:00",
    "0888123456",
    "A" * 3000,
    "\ud800",  # a lone surrogate: only %-escaped or as a JSON escape
]
TEXT = st.sampled_from(NASTY) | st.text(max_size=24)
NUMBER = st.sampled_from([2**63, -(2**63) - 1, 10**30, -(10**30), 1e308, -0.0, 0.5, 0, -1])
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JSONISH = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=8,
)
RAW_BODIES = [
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 400 + b"1" + b"}" * 400,
    b'"\\ud800"',
    b'{"username": "\\u0000", "password": "\\u0000"}',
    b"\xff\xfe\x00",
    b"",
    b"NaN",
    b'{"a": 1e999}',
    b"\xef\xbb\xbf{}",
]
QUERY_NAMES = [
    "offset", "limit", "phone", "caller", "start", "end", "created_from", "created_to",
    "arrived_from", "sort", "format", "group", "timezone", "interaction", "current",
    "number", "status", "topic", "queue", "agent", "outcome", "sl_s", "token",
]  # fmt: skip
USERS = {"ann", "bob", "sue", "adm", "int"}
ROLES = ("admin", "supervisor", "agent", "integrator")


def _enc(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _body(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


def _routes(w: World) -> list[tuple[str, str]]:
    found = set()
    for route in w.api.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and route.method != "HEAD":
            found.add((route.method, path))
    return sorted(found)


async def _check(w: World, method: str, url: str, role: str, data: bytes | None) -> None:
    headers = {"Authorization": f"Bearer {w.tokens[role]}"}
    async with w.http.request(method, URL(url, encoded=True), headers=headers, data=data) as r:
        text = await r.text(errors="replace")
        assert r.status < 500, (method, url, role, data and data[:80], r.status, text[:300])
        if r.status >= 400:
            assert r.content_type == "application/json", (method, url, r.status, text[:200])
            assert json.loads(text)["code"], (method, url, text[:200])


async def _fuzz_routes(w: World, values: list[Any], bodies: list[Any]) -> int:
    done = 0
    for method, template in _routes(w):
        if template in ("/api/v1/logout",) or template.startswith("/ws/"):
            continue  # logout revokes the fuzzer's own token; websockets below
        for i, value in enumerate(values):
            if isinstance(value, str) and value in USERS:
                continue  # never revoke the test world's users
            path = template
            for name in ("agent_id", "case_id", "number", "call_id", "recording_id",
                         "announcement_id", "queue", "username", "filename"):  # fmt: skip
                path = path.replace("{" + name + "}", _enc(value) or "x")
            role = ROLES[i % len(ROLES)]
            if method == "GET":
                name = QUERY_NAMES[i % len(QUERY_NAMES)]
                other = QUERY_NAMES[(i * 7 + 3) % len(QUERY_NAMES)]
                query = f"?{name}={_enc(value)}&{other}={_enc(values[-1 - i])}"
                await _check(w, method, w.base + path + query, role, None)
            else:
                raw = bodies[i % len(bodies)]
                data = raw if isinstance(raw, bytes) else _body(raw)
                await _check(w, method, w.base + path, role, data)
            done += 1
    return done


WS_TYPES = [
    "login", "ready", "not_ready", "logout", "extend_wrap_up", "pause_recording",
    "resume_recording", "resume", "ping", "hangup", "answer", "hold", "unhold", "transfer",
    "wrap_up", "force_state", "broadcast", "listen", "whisper", "barge", "fly",
]  # fmt: skip
WS_FIELDS = [
    "reason", "seconds", "since", "queue", "agent", "number", "state", "disposition",
    "case_id", "ready", "text", "agents", "endpoint",
]  # fmt: skip
WS_MESSAGES = st.one_of(
    JSONISH.map(lambda v: json.dumps(v)),
    st.sampled_from([b.decode("utf-8", "replace") for b in RAW_BODIES]),
    st.fixed_dictionaries(
        {"id": TEXT | NUMBER, "type": st.sampled_from(WS_TYPES)},
        optional=dict.fromkeys(WS_FIELDS, SCALAR),
    ).map(lambda v: json.dumps(v)),
).map(lambda m: m.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))


async def _fuzz_socket(ws: Any, first: str, messages: list[str]) -> None:
    frame = await asyncio.wait_for(ws.receive_json(), 5)
    assert frame["type"] == first
    for text in messages:
        await ws.send_str(text)
        while True:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type == aiohttp.WSMsgType.TEXT, (text[:100], msg)
            frame = json.loads(msg.data)
            if frame["type"] in ("ack", "error"):
                break
        if frame["type"] == "error":
            assert frame["code"], frame
    assert not ws.closed


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    st.lists(TEXT | NUMBER, min_size=6, max_size=6),
    st.lists(JSONISH | st.sampled_from(RAW_BODIES), min_size=6, max_size=6),
    st.lists(WS_MESSAGES, min_size=30, max_size=30),
)
async def test_every_route_and_message_holds_against_hostile_input(
    db_url: str, tmp_path: Any, values: list[Any], bodies: list[Any], messages: list[str]
) -> None:
    async with world(db_url, tmp_path) as w:
        values = [*values, *NASTY[: 4 + len(values) % 3]]
        assert await _fuzz_routes(w, values, [*bodies, *RAW_BODIES]) > 200
        sup_url = f"{w.base}/ws/supervisor?token={w.tokens['supervisor']}"
        async with w.ws() as ws, w.http.ws_connect(sup_url) as sup:
            await _fuzz_socket(ws, "hello", messages)
            await _fuzz_socket(sup, "snapshot", messages)
