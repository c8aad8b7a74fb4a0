"""Tier 3 (small): `cti serve`'s wiring against the replaying fake Asterisk."""

from __future__ import annotations

import asyncio
import io
import json

from cti.app import serve
from cti.config import AmiSettings, HttpSettings, Settings
from cti.logs import configure_logging
from cti.sim import transcripts
from cti.sim.fake_ami import FakeAmiServer, Script
from cti.store.embedded import free_port


async def test_serve_logs_each_call_with_its_interaction_and_stops_cleanly() -> None:
    section = transcripts.load_ami(transcripts.find(9))[0]
    server = FakeAmiServer([Script(section)])
    port = await server.start()
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    stop = asyncio.Event()
    settings = Settings(
        ami=AmiSettings(port=port, auth="plain", secret="ctisecret"),  # type: ignore[arg-type]
        http=HttpSettings(port=free_port()),
    )
    try:
        task = asyncio.ensure_future(serve(settings, stop))
        for _ in range(300):
            if "ami.resynced" in stream.getvalue():
                break
            await asyncio.sleep(0.01)
        # Everything Asterisk sent after the login, as one stream (answers to actions
        # nobody sent are stray responses and are ignored).
        server.inject("".join(step.server for step in section.steps[2:]).encode())
        for _ in range(300):
            if "call.InteractionEnded" in stream.getvalue():
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
    finally:
        configure_logging("warning", "console", io.StringIO())
        await server.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    calls = [line for line in lines if line["event"].startswith("call.")]
    assert calls, "no call events were logged"
    assert {line["interaction"] for line in calls} == {"1795437633.52"}
    assert [line["event"] for line in lines][-1] == "cti.stopped"
    assert all("ctisecret" not in json.dumps(line) for line in lines)
