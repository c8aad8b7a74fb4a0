"""Citizens and bot agents for the simulated PBX, in real (or sped-up) time.

`Traffic` turns a workload file into inbound calls on a `SimPbx`: Poisson arrivals,
the topic mix, patience and handling times from the file (`generate_calls`, the same
draws the routing study uses), caller numbers with repeat callers, and a share of
callers who accept a callback when offered, and the hotline number each one dials (of
those whose IVR tree reaches the call's queue). `bot_endpoints` gives every agent of an
ACD configuration a phone that answers after a short, random delay; the bots' talking
is the citizens' handling time, their wrap-up the ACD's.
Everything is reproducible from the seed.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from cti.ivr.models import (
    Announcements,
    Hours,
    IvrDefinition,
    Language,
    Menu,
    Play,
    Queue,
    RecordingNotice,
)
from cti.queues.models import AcdConfig
from cti.sim.models import Citizen, Endpoint
from cti.sim.pbx import SimPbx
from cti.sim.workload import CallPlan, Workload, generate_calls

KNOWN_CALLERS = 10_000  # the numbers a repeat caller is drawn from: the latest


def ivr_keys(
    definition: IvrDefinition, script: str = "inbound", start: str | None = None
) -> dict[str, list[str]]:
    """For each queue the IVR can reach from `script` (or from the node `start`), the
    keys a caller presses to get there (shortest way; business hours taken as open, the
    first language chosen)."""
    found: dict[str, list[str]] = {}
    start = start or definition.scripts.get(script)
    todo: deque[tuple[str, list[str]]] = deque([(start, [])] if start else [])
    seen: set[str] = set()
    while todo:
        name, keys = todo.popleft()
        if name in seen:
            continue
        seen.add(name)
        node = definition.nodes[name]
        if isinstance(node, Queue):
            found.setdefault(node.queue, keys)
        elif isinstance(node, Language):
            todo.append((node.next, [*keys, next(iter(node.choices))]))
        elif isinstance(node, Menu):
            todo.extend((target, [*keys, digit]) for digit, target in node.options.items())
        elif isinstance(node, Hours):
            todo.append((node.open, keys))
        elif isinstance(node, Play | RecordingNotice | Announcements) and node.next:
            todo.append((node.next, keys))
    return found


def number_keys(definition: IvrDefinition) -> dict[str, dict[str, list[str]]]:
    """For each dialled number the IVR lists: the queues its tree reaches and the keys."""
    return {n: ivr_keys(definition, start=e.start) for n, e in definition.numbers.items()}


class CallerBook:
    """Phone numbers of callers: new ones, and a share of people calling again."""

    def __init__(self, rng: random.Random, repeat_share: float = 0.25) -> None:
        self._rng = rng
        self.repeat_share = repeat_share
        self.known: deque[str] = deque(maxlen=KNOWN_CALLERS)  # who may call again

    def next(self) -> str:
        if self.known and self._rng.random() < self.repeat_share:
            return self._rng.choice(self.known)
        number = f"+3598{self._rng.randrange(7, 10)}{self._rng.randrange(10**7):07d}"
        self.known.append(number)
        return number


@dataclass
class TrafficCounts:
    offered: int = 0


class Traffic:
    """Places a workload's calls on the simulated PBX as their arrival times come."""

    def __init__(
        self,
        pbx: SimPbx,
        workload: Workload,
        queue_of: dict[str, str],
        seed: int | None = None,
        accept_callback_share: float = 0.5,
        keys: dict[str, list[str]] | None = None,
        numbers: dict[str, dict[str, list[str]]] | None = None,
    ) -> None:
        self.pbx = pbx
        self.workload = workload
        self.queue_of = queue_of
        self.seed = workload.seed if seed is None else seed
        self._rng = random.Random(self.seed)
        self.callers = CallerBook(self._rng)
        self.accept_callback_share = accept_callback_share
        self.counts = TrafficCounts()
        self.keys = keys or {}  # queue -> what to key in the IVR to get there
        # Dialled number -> its `keys`: a call goes to one of the numbers whose tree
        # reaches its queue (drawn apart, so the other draws stay as they were).
        self.numbers = numbers or {}
        self._numbers_rng = random.Random(self.seed + 1)

    def plans(self) -> Iterator[tuple[float, CallPlan]]:
        """(seconds from the start, call) for day after day of the workload."""
        day = 0
        while True:
            offset = day * self.workload.duration_s
            for plan in generate_calls(self.workload, self.seed - self.workload.seed + day):
                yield offset + plan.arrival_s, plan
            day += 1

    def citizen(self, plan: CallPlan) -> Citizen:
        number = self.callers.next()
        queue = self.queue_of[plan.topic]
        keys, dialled = self.keys.get(queue, []), Citizen.dialled
        reaching = [n for n, by_queue in self.numbers.items() if queue in by_queue]
        if reaching:
            dialled = self._numbers_rng.choice(reaching)
            keys = self.numbers[dialled][queue]
        return Citizen(
            number=number,
            queue=queue,
            keys=list(keys),
            dialled=dialled,
            patience_s=plan.patience_s,
            talk_s=plan.handling_s,
            accept_callback=self._rng.random() < self.accept_callback_share,
        )

    async def run(self, max_calls: int | None = None) -> None:
        """Place calls until cancelled (or `max_calls` placed)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for at, plan in self.plans():
            if max_calls is not None and self.counts.offered >= max_calls:
                return
            delay = start + at * self.pbx.time_scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.pbx.inbound_call(self.citizen(plan))
            self.counts.offered += 1


def bot_endpoints(
    config: AcdConfig, seed: int = 0, answer_s: tuple[float, float] = (1.0, 4.0)
) -> dict[str, Endpoint]:
    """A phone for every agent of `config` (PJSIP/<name>) that answers within `answer_s`."""
    rng = random.Random(seed)
    endpoints = {}
    for agent in config.agents:
        _, _, name = agent.endpoint.partition("/")
        endpoints[name] = Endpoint(name, answer_after_s=round(rng.uniform(*answer_s), 2))
    return endpoints
