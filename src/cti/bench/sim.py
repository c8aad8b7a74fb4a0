"""`cti bench sim`: how many calls per second the simulated PBX + the CTI sustain in real
time over loopback, with 30 and with 1,000 agents, and the CPU seconds each call costs.

One step offers calls at a fixed rate for a few seconds to the whole stack `cti demo`
runs (simulated Asterisk serving AMI on 127.0.0.1, AmiClient, call tracker, ACD), with
phones that answer after 5 ms and citizens who talk 5 ms, so the agents are not the
limit below ~2,000 calls/s even with 30 agents: the software is. A rate is *sustained*
when at least 99 % of its calls are answered and the CTI's reaction time (the citizen
is on hold -> the PBX is told to dial an agent) stays under 250 ms at p99. The rate
grows by x1.41 until a step is not sustained. CPU time is the process's (simulator
and CTI share it: an upper bound for the CTI alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from cti.app import Core
from cti.config import AmiSettings, Settings
from cti.logs import configure_logging
from cti.queues.events import CallAnswered
from cti.queues.events import Event as AcdEvent
from cti.queues.models import AcdConfig, AgentProfile, QueueConfig
from cti.sim.ami_server import SimAmiServer
from cti.sim.models import Citizen, Endpoint, Fields

ANSWER_S = 0.005
TALK_S = 0.005
P99_LIMIT_S = 0.25


@dataclass
class Step:
    agents: int
    rate: float
    offered: int
    answered: int
    p50_ms: float
    p99_ms: float
    cpu_s: float
    wall_s: float

    @property
    def sustained(self) -> bool:
        return self.answered >= 0.99 * self.offered and self.p99_ms < P99_LIMIT_S * 1000

    @property
    def cpu_per_call_ms(self) -> float:
        return 1000 * self.cpu_s / max(1, self.answered)


def _config(agents: int) -> AcdConfig:
    queue = QueueConfig(wrap_up_s=0, ring_timeout_s=15)
    return AcdConfig(
        queues={"q": queue},
        agents=tuple(
            AgentProfile(id=f"a{i}", endpoint=f"PJSIP/a{i}", skills={}, queues=("q",))
            for i in range(agents)
        ),
    )


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


async def run_step(agents: int, rate: float, seconds: float) -> Step:
    config = _config(agents)
    endpoints = {f"a{i}": Endpoint(f"a{i}", answer_after_s=ANSWER_S) for i in range(agents)}
    server = SimAmiServer(endpoints)
    port = await server.start()
    on_hold: dict[str, float] = {}
    reaction: list[float] = []

    def watch(name: str, fields: Fields) -> None:
        if name == "VarSet":
            f = dict(fields)
            if f["Variable"] == "CTI_WAITING" and f["Uniqueid"] not in on_hold:
                on_hold[f["Uniqueid"]] = time.perf_counter()
        elif name == "Newexten":
            f = dict(fields)
            if f["Context"] == "cti-connect" and f["Application"] == "Dial":
                began = on_hold.get(f["Uniqueid"])
                if began is not None:
                    reaction.append(time.perf_counter() - began)

    server.listeners.append(watch)
    answered = 0
    total = max(1, round(rate * seconds))
    all_answered = asyncio.Event()

    def count(event: AcdEvent) -> None:
        nonlocal answered
        if isinstance(event, CallAnswered):
            answered += 1
            if answered >= total:
                all_answered.set()

    ami = AmiSettings(port=port, secret=SecretStr(server.secret), auth="plain")
    core = Core(Settings(ami=ami), config, publish_call=lambda e: None, publish_acd=count)
    try:
        await core.start()
        await core.ami.wait_connected(10)
        acd = core.acd
        assert acd is not None
        for agent in config.agents:
            acd.apply(acd.acd.login(agent.id, acd.now(), ready=True))
        loop = asyncio.get_running_loop()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        start = loop.time()
        for n in range(total):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            server.pbx.inbound_call(Citizen(f"+35980000{n:05d}", "q", talk_s=TALK_S))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_answered.wait(), 3.0)
        # Let the last conversations end, so their CPU is counted too.
        await asyncio.sleep(TALK_S + 0.2)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        await core.close()
        await server.close()
    return Step(
        agents,
        rate,
        total,
        answered,
        1000 * _quantile(reaction, 0.5),
        1000 * _quantile(reaction, 0.99),
        cpu,
        wall,
    )


async def ramp(agents: int, start: float, seconds: float, max_rate: float) -> list[Step]:
    steps = []
    rate = start
    while rate <= max_rate:
        step = await run_step(agents, rate, seconds)
        steps.append(step)
        print(
            f"{agents:6d} {rate:8.0f} {step.offered:8d} {step.answered:8d} "
            f"{step.p50_ms:8.1f} {step.p99_ms:8.1f} {step.cpu_per_call_ms:9.2f} "
            f"{'yes' if step.sustained else 'no':>9}",
            flush=True,
        )
        if not step.sustained:
            break
        rate = round(rate * 2**0.5)
    return steps


def run(seconds: float = 4.0, max_rate: float = 3200.0, start_rate: float = 100.0) -> int:
    configure_logging("error", "console")
    print(
        f"Simulated PBX + CTI over loopback, real time: {seconds:g} s per step, phones answer "
        f"in {ANSWER_S * 1000:.0f} ms, talk {TALK_S * 1000:.0f} ms;\n"
        f"sustained = >= 99 % answered and reaction p99 < {P99_LIMIT_S * 1000:.0f} ms "
        "(reaction: on hold -> Dial to the agent)\n"
    )
    print(
        f"{'agents':>6} {'calls/s':>8} {'offered':>8} {'answered':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'CPU ms/c':>9} {'sustained':>9}"
    )
    figures: dict[str, Any] = {}
    for agents in (30, 1000):
        steps = asyncio.run(ramp(agents, start_rate, seconds, max_rate))
        good = [s for s in steps if s.sustained]
        best = good[-1] if good else None
        figures[f"calls_per_s_{agents}_agents"] = best.rate if best else 0.0
        figures[f"cpu_s_per_call_{agents}_agents"] = (
            round(best.cpu_s / max(1, best.answered), 5) if best else None
        )
        figures[f"reaction_p99_ms_{agents}_agents"] = round(best.p99_ms, 1) if best else None
    print()
    for agents in (30, 1000):
        print(
            f"{agents} agents: sustained {figures[f'calls_per_s_{agents}_agents']:g} calls/s, "
            f"{figures[f'cpu_s_per_call_{agents}_agents']} CPU s per call"
        )
    print(json.dumps(figures))
    return 0
