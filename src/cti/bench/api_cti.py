"""The CTI under test in `cti bench api`, in a process of its own: the core (AMI client,
tracker, ACD, outbox) and the API server, as `cti serve` builds them.

It notes its own share of each screen-pop: the AMI read that brought the call's
`VarSet CTI_WAITING` (`AmiClient.read_ns`) and the moment the `screen_pop` frame was
written to the agent's websocket (`AgentDesks.pop_stamps`), both `perf_counter_ns`,
kept in bounded collections only here. Its CPU time and memory are read from the
process itself.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import importlib
import os
import resource
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path

from cti.ami import models as m
from cti.api.server import ApiServer
from cti.app import Core
from cti.bench.api_peers import receive
from cti.config import AmiSettings, Settings
from cti.logs import configure_logging
from cti.queues.events import CallOffered
from cti.queues.events import Event as AcdEvent
from cti.queues.models import AcdConfig, AgentProfile, QueueConfig
from cti.store.embedded import free_port
from cti.store.service import StoreService

STAMPS_KEPT = 100_000


def rss_bytes() -> int:
    """Resident memory of this process now (Linux), else its peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cti_main(
    pipe: Connection,
    db: str,
    ami_port: int,
    secret: str,
    agents: list[str],
    outbox: str,
    loop: str,
) -> None:
    configure_logging("error", "console")
    main = _cti(pipe, db, ami_port, secret, agents, Path(outbox))
    if loop == "uvloop":  # optional: not a dependency of the CTI
        importlib.import_module("uvloop").run(main)
    else:
        asyncio.run(main)


async def _cti(
    pipe: Connection, db: str, ami_port: int, secret: str, agents: list[str], outbox: Path
) -> None:
    config = AcdConfig(
        queues={"q": QueueConfig(wrap_up_s=0)},
        agents=tuple(
            AgentProfile(id=a, endpoint=f"PJSIP/{a}", skills={}, queues=("q",)) for a in agents
        ),
    )
    store = StoreService(db, outbox)
    settings = Settings(ami=AmiSettings(port=ami_port, secret=secret, auth="plain"))
    offered_at: deque[tuple[str, int]] = deque(maxlen=STAMPS_KEPT)

    def offered(event: AcdEvent) -> None:  # called just before the bus publishes it
        if isinstance(event, CallOffered):
            offered_at.append((event.call, time.perf_counter_ns()))

    core = Core(settings, config, publish_call=lambda e: None, publish_acd=offered, store=store)
    api = ApiServer(core, db, "127.0.0.1", free_port())
    read_at: deque[tuple[str, int]] = deque(maxlen=STAMPS_KEPT)

    def waiting(event: m.VarSet) -> None:
        if event.variable == "CTI_WAITING":
            read_at.append((event.linkedid, core.ami.read_ns))

    core.feed.subscribe(m.VarSet, waiting)
    written: deque[tuple[str, int, int, int]] = deque(maxlen=STAMPS_KEPT)
    api.agent_desks.pop_stamps = written
    pauses: deque[tuple[int, int, int]] = deque(maxlen=STAMPS_KEPT)
    gc_began = 0

    def collecting(phase: str, info: dict[str, int]) -> None:
        nonlocal gc_began
        if phase == "start":
            gc_began = time.perf_counter_ns()
        else:
            pauses.append((info["generation"], gc_began, time.perf_counter_ns()))

    gc.callbacks.append(collecting)
    await core.start()
    await api.start()
    await core.ami.wait_connected(10)
    gc.collect()
    if os.environ.get("CTI_BENCH_GC") == "freeze":  # an experiment, not what serve does
        gc.freeze()
    pipe.send(("up", api.port, rss_bytes()))
    cpu_at, seq_at = time.process_time(), core.bus.seq
    # CTI_BENCH_PROFILE=PATH: a cProfile of the CTI over the measured calls, written to
    # PATH.<desktops> (an experiment's tool, read with pstats; not what serve does).
    profile_to = os.environ.get("CTI_BENCH_PROFILE")
    profile: cProfile.Profile | None = None
    try:
        while (order := await receive(pipe))[0] != "stop":
            if order[0] == "rss":
                gc.collect()
                pipe.send(("rss", rss_bytes()))
            elif order[0] == "begin":
                for kept in (read_at, offered_at, written, pauses):
                    kept.clear()
                cpu_at, seq_at = time.process_time(), core.bus.seq
                if profile_to:
                    profile = cProfile.Profile()
                    profile.enable()
                pipe.send(("ok",))
            elif order[0] == "end":
                cpu_s = time.process_time() - cpu_at
                if profile is not None:
                    profile.disable()
                    profile.dump_stats(f"{profile_to}.{len(agents)}")
                stages = {
                    "read": dict(read_at),
                    "offered": dict(offered_at),
                    "popped": {c: rest for c, *rest in written},
                    "bus_events": core.bus.seq - seq_at,
                }
                pipe.send(("measured", cpu_s, stages, list(pauses)))
    finally:
        await api.close()
        await core.close()
