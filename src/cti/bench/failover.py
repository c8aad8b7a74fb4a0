"""`cti bench failover`: two `cti serve` with `ha.enabled` on one PostgreSQL and one
simulated Asterisk under the soak's traffic; the leader is, in turn, killed (SIGKILL),
frozen (SIGSTOP) past its lease and woken after the takeover, and cut off from the
database (each node reaches it through a relay the bench can cut). Each time: how long
until the other answers `/ready`, whether the callers waiting keep their place and the
agents their login, and whether the old leader sent Asterisk anything after the other
led; at the end every call's record (the soak's check). A readable table, last line
JSON (`takeover_p99_s`, `records_lost`, `records_duplicated`, `relogins`,
`places_lost`, ...)."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from cti.bench import failover_checks as fc
from cti.bench.cut import Relay
from cti.demo import always_open
from cti.ivr.models import load_ivr
from cti.sim.ami_server import SimAmiServer
from cti.sim.dialplan import HOLD
from cti.sim.traffic import Traffic, bot_endpoints, ivr_keys
from cti.soak import check, setup
from cti.soak.child import CtiChild, child_env
from cti.soak.run import drain, stored_rows, user_token
from cti.soak.truth import Truth
from cti.store.embedded import EmbeddedPostgres, free_port, scratch_folder
from cti.store.supervisor import Supervisor

LEASE_S, RENEW_S, POLL_S = 3.0, 1.0, 0.5
# In turn: SIGKILL; SIGSTOP past the lease, then SIGCONT; the leader's connections to
# the database cut (its link to Asterisk stays up); SIGKILL again.
FAULTS = ("SIGKILL", "SIGSTOP", "database cut", "SIGKILL")


@dataclass
class Options:
    rounds: int = 10
    speed: float = 10.0
    load: float = 2.0  # times the reference workload: callers wait in line at every fault
    seed: int = 1
    folder: Path | None = None
    drain_s: float = 120.0  # after the traffic, calls left this long to end by themselves


class Node:
    """One `cti serve` of the pair, and how to ask it things."""

    def __init__(self, name: str, env: dict[str, str], folder: Path, relay: Relay) -> None:
        self.name = name
        self.relay = relay  # its own way to the database, which a round may cut
        self.http_port, self.agi_port = free_port(), free_port()
        folder.mkdir(parents=True, exist_ok=True)
        env = {
            **env,
            "CTI_HTTP__PORT": str(self.http_port),
            "CTI_IVR__PORT": str(self.agi_port),
            "CTI_STORE__SPILL_DIR": str(folder / "outbox"),
            "CTI_HA__ENABLED": "true",
            "CTI_HA__NODE": name,
            "CTI_HA__URL": f"http://127.0.0.1:{self.http_port}",
            "CTI_HA__LEASE_S": str(LEASE_S),
            "CTI_HA__RENEW_S": str(RENEW_S),
            "CTI_HA__POLL_S": str(POLL_S),
        }
        self.child = CtiChild(env, self.http_port, folder)

    async def status(self, session: aiohttp.ClientSession, path: str = "/ready") -> int:
        try:
            async with session.get(
                f"{self.child.base}{path}", timeout=aiohttp.ClientTimeout(1)
            ) as r:
                return r.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def standing_by(self, session: aiohttp.ClientSession, wait_s: float = 30.0) -> None:
        deadline = time.monotonic() + wait_s
        while await self.status(session, "/health") != 200:
            if time.monotonic() > deadline or not self.alive():
                raise TimeoutError(f"{self.name} did not come up as a standby")
            await asyncio.sleep(0.1)

    def alive(self) -> bool:
        proc = self.child.proc
        return proc is not None and proc.poll() is None


class Drill:
    def __init__(
        self, server: SimAmiServer, nodes: list[Node], truth: Truth, token: str, out: TextIO
    ) -> None:
        self.server, self.nodes, self.truth, self.out = server, nodes, truth, out
        self.headers = {"Authorization": f"Bearer {token}"}
        self.f = fc.Figures()

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.out, flush=True)

    async def get(self, session: aiohttp.ClientSession, node: Node, path: str) -> Any:
        async with session.get(
            f"{node.child.base}{path}", headers=self.headers, timeout=aiohttp.ClientTimeout(5)
        ) as r:
            r.raise_for_status()
            return await r.json()

    async def leader(self, session: aiohttp.ClientSession, wait_s: float = 60.0) -> Node:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.alive() and await node.status(session) == 200:
                    return node
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no CTI answered /ready within {wait_s:g} s")

    def holding(self) -> set[str]:
        pbx = self.server.pbx
        return {
            ch.linkedid
            for ch in pbx.channels.values()
            if ch.context == HOLD and ch.moh and not ch.hung_up
        }

    async def round(self, session: aiohttp.ClientSession, n: int, fault: str) -> None:
        old = await self.leader(session)
        other = next(x for x in self.nodes if x is not old)
        line = fc.waiting((await self.get(session, old, "/api/v1/calls"))["items"])
        agents = (await self.get(session, old, "/api/v1/agents"))["items"]
        # The standby has no AMI session: every one seen so far is the old leader's (or
        # of processes killed in earlier rounds, which send nothing any more).
        old_sessions = {fc.session_of(a) for a in self.server.received} - {""}
        assert old.child.proc is not None
        began = time.monotonic()
        self.truth.cti_gone()
        if fault == "SIGSTOP":
            old.child.proc.send_signal(signal.SIGSTOP)
        elif fault == "database cut":
            old.relay.cut_off()
        else:
            old.child.kill()
        while await other.status(session) != 200:
            if time.monotonic() - began > 60:
                raise TimeoutError(f"round {n}: {other.name} did not take over within 60 s")
            await asyncio.sleep(0.02)
        took = time.monotonic() - began
        # From here on the old leader's session must send nothing that acts.
        seen = {a.get("ActionID") for a in self.server.received}
        self.truth.cti_back()
        self.f.takeovers_s.append(took)
        after = (await self.get(session, other, "/api/v1/calls"))["items"]
        lost_before = self.f.places_lost
        fc.places(line, after, self.holding(), time.monotonic() - began, self.f)
        kept = len(line) - (self.f.places_lost - lost_before)
        fc.relogins(agents, (await self.get(session, other, "/api/v1/agents"))["items"], self.f)
        self.say(
            f"round {n}: {fault} {old.name}; {other.name} leads after {took:.2f} s;"
            f" {kept} of {len(line)} callers in line kept their place"
        )
        if fault == "SIGSTOP":
            old.child.proc.send_signal(signal.SIGCONT)
            await self._exits(old, "woke deposed")
        elif fault == "database cut":  # its link to Asterisk stayed up all along
            await self._exits(old, "cut off from the database")
            old.relay.heal()
        if fault != "SIGKILL":
            late = [a for a in self.server.received if a.get("ActionID") not in seen]
            sent = fc.acted(late, old_sessions)
            self.f.acted_while_deposed += len(sent)
            self.f.problems += [f"deposed {old.name} sent {name}" for name in sent]
        old.child.spawn()  # back as a standby
        await old.standing_by(session)

    async def _exits(self, old: Node, why: str, wait_s: float = 15.0) -> None:
        """A deposed leader must stop by itself."""
        deadline = time.monotonic() + wait_s
        while old.alive() and time.monotonic() < deadline:  # noqa: ASYNC110 (a process)
            await asyncio.sleep(0.1)
        if old.alive():
            self.f.deposed_not_exited += 1
            self.f.problems.append(f"{old.name} {why} and did not exit in {wait_s:g} s")
            old.child.kill()


async def drill(options: Options, folder: Path, url: str, out: TextIO) -> fc.Figures:
    w = setup.workload(options.load)
    config = setup.acd_config(w, options.speed)
    acd_file, ivr_file = setup.write_files(folder, config)
    keys = ivr_keys(always_open(load_ivr(ivr_file)))  # a bad file: before anything starts
    phones = bot_endpoints(config, w.seed, answer_s=(1.0, 4.0))
    server = SimAmiServer(phones, time_scale=1.0 / options.speed, keep_actions=20_000)
    ami_port = await server.start()
    parts = urlsplit(url)
    relays = [Relay(parts.hostname or "127.0.0.1", parts.port or 5432) for _ in range(2)]
    nodes: list[Node] = []
    try:
        truth = Truth({a.endpoint.partition("/")[2]: a.id for a in config.agents})
        server.listeners.append(truth.on_event)
        env = child_env(
            {
                "CTI_AMI__HOST": "127.0.0.1",
                "CTI_AMI__PORT": str(ami_port),
                "CTI_AMI__USERNAME": server.username,
                "CTI_AMI__SECRET": server.secret,
                "CTI_AMI__PING_INTERVAL_S": "2",
                "CTI_AMI__RECONNECT_MAX_S": "1",
                "CTI_HTTP__HOST": "127.0.0.1",
                "CTI_IVR__FILE": str(ivr_file),
                "CTI_IVR__HOST": "127.0.0.1",
                "CTI_ACD": str(acd_file),
                "CTI_DATABASE_URL": url,
                "CTI_STORE__PURGE_EVERY_H": "0",
                "CTI_LOG__FORMAT": "json",
            }
        )
        for name, relay in zip(("cti-a", "cti-b"), relays, strict=True):
            port = await relay.start()
            netloc = parts.netloc.rpartition("@")
            where = f"{netloc[0]}@127.0.0.1:{port}" if netloc[1] else f"127.0.0.1:{port}"
            own = {**env, "CTI_DATABASE_URL": urlunsplit(parts._replace(netloc=where))}
            nodes.append(Node(name, own, folder / name, relay))
        d = Drill(server, nodes, truth, await user_token(url), out)
        traffic = Traffic(server.pbx, w, {t: t for t in w.topics}, options.seed, keys=keys)
        async with aiohttp.ClientSession() as session:
            await _run(d, session, config, traffic, options)
        d.say(f"traffic stopped after {traffic.counts.offered} calls; draining")
        await drain(server, options.drain_s)
        soak = check.Figures()
        check.records(truth, await stored_rows(url), soak)
        d.f.records_lost, d.f.records_wrong = soak.records_lost, soak.records_wrong
        d.f.calls, d.f.unseen = soak.calls, soak.unseen
        d.f.problems += soak.problems
        fc.duplicates(await _state_log(url), d.f)
        for node in nodes:
            await node.child.stop()
    finally:
        for node in nodes:
            node.child.kill()  # a failed run leaves no CTI behind
        for relay in relays:
            await relay.close()
        server.pbx.close()
        await server.close()
    return d.f


async def _run(
    d: Drill, session: aiohttp.ClientSession, config: Any, traffic: Traffic, options: Options
) -> None:
    """Both nodes up, the agents in, then the rounds under traffic."""
    a, b = d.nodes
    a.child.spawn()
    await d.leader(session)
    b.child.spawn()
    await b.standing_by(session)
    d.server.pbx.use_fastagi("127.0.0.1", a.agi_port, ("127.0.0.1", b.agi_port))
    first = await d.leader(session)
    for agent in config.agents:
        for state in ("login", "ready"):
            async with session.post(
                f"{first.child.base}/api/v1/agents/{agent.id}/state",
                json={"state": state},
                headers=d.headers,
            ) as r:
                r.raise_for_status()
    d.say(
        f"failover: {options.rounds} rounds, {traffic.workload.arrivals.calls_per_hour:g}"
        f" calls/h at {options.speed:g}x speed; lease {LEASE_S:g} s, renewed every"
        f" {RENEW_S:g} s, standby looks every {POLL_S:g} s"
    )
    rng = random.Random(options.seed)
    running = asyncio.create_task(traffic.run(), name="failover-traffic")
    try:
        for n in range(1, options.rounds + 1):
            await asyncio.sleep(rng.uniform(4.0, 10.0))
            await d.round(session, n, FAULTS[(n - 1) % len(FAULTS)])
        await asyncio.sleep(5.0)
    finally:
        running.cancel()


async def _state_log(url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT agent, state, reason, at FROM agent_state_log ORDER BY agent, at, key"
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main(options: Options, out: TextIO = sys.stdout) -> int:
    folder = options.folder or scratch_folder("cti-failover-")
    folder.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(folder / "pg")
    supervisor = Supervisor(pg)
    try:
        url = pg.start()
        supervisor.start()
        f = asyncio.run(drill(options, folder, url, out))
    finally:
        supervisor.stop()
        if options.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
    t = f.takeovers_s
    summary: dict[str, Any] = {
        "rounds": len(t),
        "takeover_p50_s": round(statistics.median(t), 2) if t else None,
        "takeover_p99_s": round(_quantile(t, 0.99), 2) if t else None,
        "takeover_max_s": round(max(t), 2) if t else None,
        "records_lost": f.records_lost,
        "records_wrong": f.records_wrong,
        "records_duplicated": f.records_duplicated,
        "relogins": f.relogins,
        "places_lost": f.places_lost,
        "acted_while_deposed": f.acted_while_deposed,
        "deposed_not_exited": f.deposed_not_exited,
        "calls": f.calls,
        "unseen": f.unseen,
    }
    print(f"\n{'figure':<40}{'value':>12}", file=out)
    for name, value in summary.items():
        print(f"{name:<40}{'-' if value is None else value!s:>12}", file=out)
    for problem in f.problems[:40]:
        print(f"  {problem}", file=out)
    print(json.dumps(summary), file=out, flush=True)
    bad = f.records_lost + f.records_wrong + f.records_duplicated + f.relogins
    bad += f.places_lost + f.acted_while_deposed + f.deposed_not_exited
    # The exit status is about correctness; the takeover time is a figure to read (it
    # depends on the machine's load), its target (p99 < 5 s) is in docs/ha.md.
    return 1 if bad or len(t) < options.rounds else 0
