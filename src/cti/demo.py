"""`cti demo`: a whole hotline on one machine, no Asterisk and no database installed.

Embedded PostgreSQL (unless `CTI_DATABASE_URL` is set), the simulated PBX serving AMI on
127.0.0.1, the CTI (`Core`: AMI client, call tracker, ACD) connected to it over a real
socket, bot agents from the workload's pools, and citizens calling as the workload
file says. Live figures go to the terminal; Ctrl-C stops everything; SIGHUP reloads the
IVR file as `cti serve` does (a broken file is refused, the old one stays).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import asyncpg
import structlog
from pydantic import SecretStr

from cti.ami.errors import AmiError
from cti.api import auth
from cti.api.server import ApiServer
from cti.app import Core, build_store, database
from cti.config import AmiSettings, IvrSettings, RecordingSettings, Settings
from cti.ivr.models import Calendar, IvrDefinition, load_ivr
from cti.ivr.service import IvrService
from cti.queues import AgentState
from cti.queues.events import Event as AcdEvent
from cti.queues.models import AcdConfig, AgentProfile, load_acd_config
from cti.queues.service import Summary
from cti.sim.ami_server import SimAmiServer
from cti.sim.knowledge_seed import seed_demo_knowledge
from cti.sim.models import Endpoint
from cti.sim.names import named
from cti.sim.routing import skills_router
from cti.sim.traffic import Traffic, bot_endpoints, ivr_keys, number_keys
from cti.sim.workload import Workload, default_workload_path, load_workload
from cti.store.embedded import free_port
from cti.store.errors import StoreError
from cti.store.migrate import migrate
from cti.store.service import StoreService

log = structlog.get_logger(__name__)

DEFAULT_IVR = Path(__file__).resolve().parents[2] / "deploy" / "ivr.yaml"
DEFAULT_CLASSIFIER = DEFAULT_IVR.parent / "classifier.yaml"
DEFAULT_ACD = DEFAULT_IVR.parent / "acd.yaml"  # names of the queues, per language
SUPERVISOR_PHONE = "supervisor"  # the wallboard's listen / whisper / barge ring this phone
HUMAN_WRAP_UP_S = 60.0  # the person's after-call work at least (she can finish early or extend)
HUMAN_RING_S = 20.0  # the person's phone rings this long before the call goes to a bot
STATE_ORDER = ("ready", "reserved", "on_call", "wrap_up", "not_ready", "logged_out")


@dataclass(frozen=True)
class DemoOptions:
    workload: Path | None = None
    speed: float = 1.0  # 10: ten simulated seconds per wall second
    duration_s: float | None = None  # wall seconds; None: until Ctrl-C
    seed: int | None = None
    refresh_s: float = 1.0
    ivr: Path | None = None  # default: deploy/ivr.yaml of this checkout
    record: bool = False  # MixMonitor every answered call (WAVs at 1 kHz: small files)


def format_summary(s: Summary, speed: float) -> str:
    agents = " ".join(f"{k}={s.agents[k]}" for k in STATE_ORDER if s.agents.get(k))
    return (
        f"waiting {s.waiting:3d}  longest {s.longest_wait_s:5.0f}s  |  agents {agents}  |  "
        f"offered {s.offered}  answered {s.answered}  abandoned {s.abandoned}"
        f"  overflowed {s.overflowed}" + (f"  (x{speed:g})" if speed != 1 else "")
    )


async def _check_database(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def _public(url: str) -> str:
    """A database URL without its password, for printing."""
    scheme, _, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    return f"{scheme}://{creds.split(':')[0]}@{host}" if at else url


async def run_demo(
    settings: Settings,
    options: DemoOptions,
    database_url: str,
    stop: asyncio.Event,
    out: TextIO = sys.stdout,
    on_ready: Callable[[Core, SimAmiServer, Traffic], None] | None = None,
    store: StoreService | None = None,
) -> Summary:
    """Run the demo until `stop` is set (or `options.duration_s` passes); returns the
    final figures."""
    workload: Workload = load_workload(options.workload or default_workload_path())
    scenario = skills_router(workload)
    # One more agent for a person: every queue, logged out until they log in. The bots
    # run at `speed`; the person works at human pace: her ring, wrap-up and conversations
    # last as long in wall time as the workload says (the ACD's clock runs at `speed`).
    person = AgentProfile(
        id=PERSON,
        endpoint=f"PJSIP/{PERSON}",
        skills=dict.fromkeys(workload.topics, 9),
        queues=tuple(workload.topics),
        wrap_up_s=max(workload.wrap_up_s, HUMAN_WRAP_UP_S) * options.speed,
        ring_timeout_s=HUMAN_RING_S * options.speed,
    )
    agents = named(scenario.config.agents)  # people's names on the wallboard and reports
    acd_config = scenario.config.model_copy(update={"agents": (*agents, person)})
    acd_config = queue_names(acd_config, DEFAULT_ACD)  # what the pages call the queues
    scale = 1.0 / options.speed
    if settings.store.classifier is None and DEFAULT_CLASSIFIER.is_file():
        # The case form needs topics: the example classifier unless one is configured.
        store_settings = settings.store.model_copy(update={"classifier": DEFAULT_CLASSIFIER})
        settings = settings.model_copy(update={"store": store_settings})
    store = store or build_store(settings, database_url)
    recordings = store.outbox.spill_path.parent.parent / "recordings"
    phones = bot_endpoints(scenario.config, workload.seed)
    # Her softphone answers itself after 2 s (wall time); her calls last in wall time.
    phones[PERSON] = Endpoint(PERSON, answer_after_s=2.0 * options.speed, slowdown=options.speed)
    phones[SUPERVISOR_PHONE] = Endpoint(SUPERVISOR_PHONE, answer_after_s=1.0)
    # A demo runs for days: the simulated PBX keeps only the latest actions and channels.
    server = SimAmiServer(
        phones, time_scale=scale, recordings_dir=recordings, keep_actions=1_000, keep_ended=3_000
    )
    server.pbx.recording_rate = 1000
    port = await server.start()
    version = await _check_database(database_url)
    ami = AmiSettings(
        host="127.0.0.1",
        port=port,
        username=server.username,
        secret=SecretStr(server.secret),
        auth="md5",
    )
    update: dict[str, object] = {"ami": ami}
    if options.record:
        update["recording"] = RecordingSettings(enabled=True, dir=recordings)
    core_settings = settings.model_copy(update=update)

    def quiet(event: AcdEvent) -> None:
        log.debug(f"acd.{type(event).__name__}", **event.to_dict())

    definition = always_open(load_ivr(options.ivr or DEFAULT_IVR))
    ivr_settings = IvrSettings(file=options.ivr or DEFAULT_IVR, port=free_port())
    ivr = IvrService(ivr_settings, definition, store, adjust=always_open)
    core = Core(
        core_settings,
        acd_config,
        publish_call=lambda e: None,
        publish_acd=quiet,
        acd_time_scale=scale,
        store=store,
        ivr=ivr,
    )
    keys, numbers = ivr_keys(definition), number_keys(definition)
    traffic = Traffic(
        server.pbx, workload, scenario.queue_of, options.seed, keys=keys, numbers=numbers
    )
    tasks: list[asyncio.Task[None]] = []
    api = ApiServer(core, database_url, "127.0.0.1", _port(settings.http.port))
    try:
        await core.start()
        # issue 22: before the API, whose screen-pop suggestions read it at start
        await seed_demo_knowledge(database_url, settings.store.classifier)
        await api.start()
        users = await _demo_users(database_url)
        tokens = {name: user.token for name, user in users.items()}
        server.pbx.use_fastagi("127.0.0.1", ivr.agi.port)
        await core.ami.wait_connected(10)
        acd = core.acd
        assert acd is not None
        for agent in scenario.config.agents:
            # A demo that was killed left its bots logged in, and the store gives them
            # back so (queues/restore.py): those are made ready, not logged in twice.
            view = acd.acd.agent_view(agent.id)
            if view is None or view.state == AgentState.LOGGED_OUT:
                acd.apply(acd.acd.login(agent.id, acd.now(), ready=True))
            elif view.state == AgentState.NOT_READY:
                acd.apply(acd.acd.set_ready(agent.id, acd.now()))
        print(
            f"cti demo: {workload.name}, {len(scenario.config.agents)} bot agents, "
            f"{workload.arrivals.calls_per_hour:g} calls/h"
            + (f", {options.speed:g}x speed" if options.speed != 1 else ""),
            file=out,
        )
        print(f"  simulated Asterisk (AMI): 127.0.0.1:{port}  user {server.username}", file=out)
        print(f"  database: {_public(database_url)} (PostgreSQL {version})", file=out)
        print(f"  FastAGI IVR: 127.0.0.1:{ivr.agi.port} (business hours off)", file=out)
        for number, entry in definition.numbers.items():
            print(f"  citizens dial {number} ({entry.name}): IVR from {entry.start}", file=out)
        if options.record:
            print(f"  recordings: {recordings}", file=out)
        print(f"  outbox spill directory: {store.outbox.spill_path.parent}", file=out)
        base = f"http://127.0.0.1:{api.port}"
        print(f"  REST API: {base}/api/v1  (OpenAPI: {base}/openapi.json)", file=out)
        print(f"  metrics: {base}/metrics   health: {base}/health, {base}/ready", file=out)
        print(f"  supervisor token: {tokens['supervisor']}", file=out)
        print(f"  wallboard: {base}/wallboard#token={tokens['supervisor']}", file=out)
        print(f"  reports: {base}/reports#token={tokens['supervisor']}", file=out)
        print(
            f"  take calls yourself as agent '{PERSON}': {base}/desktop#token={tokens[PERSON]}\n"
            f"    or its websocket ws://127.0.0.1:{api.port}/ws/agent?token={tokens[PERSON]}"
            " (docs/api.md)",
            file=out,
        )
        print(f"  API reference: {base}/api-docs", file=out)
        print(
            f"  log in at {base}/ as  supervisor / {users['supervisor'].password}"
            f"  or  {PERSON} / {users[PERSON].password}",
            file=out,
        )
        print("  Ctrl-C to stop", file=out, flush=True)
        if on_ready is not None:
            on_ready(core, server, traffic)
        tasks.append(asyncio.create_task(traffic.run(), name="demo-traffic"))
        started = time.monotonic()
        tty = out.isatty()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), options.refresh_s)
            line = format_summary(acd.summary(), options.speed)
            line += f"  stored {store.outbox.written}"
            if store.outbox.depth:
                line += f" (queued {store.outbox.depth})"
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=out, flush=True)
            if options.duration_s is not None and time.monotonic() - started >= options.duration_s:
                break
        if tty:
            print(file=out)
        # The final figures are what the CTI was told: no new caller, the simulated
        # PBX's clock stops (nothing rings on or answers), and the answer to a Ping comes
        # after every event sent before it. (Taken while calls went on, a phone could
        # answer between the figures and the end.)
        for task in tasks:
            task.cancel()
        server.pbx.time_scale = 1e9  # a timer set from now on never fires...
        server.pbx.close()  # ...nor does one set before
        with contextlib.suppress(AmiError, TimeoutError):
            await core.ami.send_action({"Action": "Ping"}, timeout=5)
        return acd.summary()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await api.close()
        await core.close()
        await server.close()
        print("cti demo: stopped", file=out, flush=True)


PERSON = "you"


def queue_names(config: AcdConfig, path: Path) -> AcdConfig:
    """The demo's queues (one per workload topic) with the names per language that the
    ACD file gives queues of the same code; the rest keep theirs."""
    if not path.is_file():
        return config
    named = load_acd_config(path).queues
    queues = {
        code: q.model_copy(update={"names": named[code].names}) if code in named else q
        for code, q in config.queues.items()
    }
    return config.model_copy(update={"queues": queues})


def always_open(definition: IvrDefinition) -> IvrDefinition:
    """The demo's hotline is always open: business hours would send every evening
    visitor to voicemail (on a reload too)."""
    always = Calendar(weekly={"daily": "24h"})  # every calendar, the callback slots' too
    calendars = {name: always for name in [*definition.calendars, "default"]}
    return definition.model_copy(update={"calendars": calendars})


def _port(preferred: int) -> int:
    """The configured HTTP port if it is free, else any free one."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


@dataclass(frozen=True)
class DemoUser:
    """One of the demo's people: a fresh session token and a password for the login
    page (after "Sign out"), both printed."""

    token: str
    password: str


async def _demo_users(url: str) -> dict[str, DemoUser]:
    """A supervisor and the person's agent user; fresh tokens and passwords for both
    (new each run: a demo's database may outlive it, its passwords do not)."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        users = {}
        for name, role, agent_id in (("supervisor", "supervisor", None), (PERSON, "agent", PERSON)):
            with contextlib.suppress(StoreError):  # kept from an earlier demo
                await auth.create_user(conn, name, role, agent_id)
            password = secrets.token_urlsafe(9)  # 12 characters
            await auth.set_password(conn, name, password)
            users[name] = DemoUser(await auth.issue_token(conn, name), password)
        return users
    finally:
        await conn.close()


def main(settings: Settings, options: DemoOptions) -> int:
    """`cti demo`: start embedded PostgreSQL if no URL is configured, run, clean up."""
    if settings.database_url is None:
        from cti.store.embedded import default_root

        root = settings.embedded_pg_dir or default_root()
        print(f"cti demo: starting embedded PostgreSQL in {root}", flush=True)
    with database(settings) as url:
        asyncio.run(_main(settings, options, url))
    return 0


async def _main(settings: Settings, options: DemoOptions, url: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    running: list[Core] = []

    def reload() -> None:
        """SIGHUP: reload the IVR file, as `cti serve` does; one line says how it went."""
        ivr = running[0].ivr if running else None
        if ivr is None:
            print("cti demo: SIGHUP before the IVR runs: ignored", flush=True)
            return
        problems = ivr.reload()
        if problems:
            print("cti demo: IVR reload refused, the old one stays:", flush=True)
            for problem in problems:
                print(f"  {problem}", flush=True)
        else:
            print("cti demo: IVR reloaded", flush=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await run_demo(settings, options, url, stop, on_ready=lambda core, *_: running.append(core))
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
