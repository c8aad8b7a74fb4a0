"""Live statistics per queue and per agent, kept up to date by the engine.

Definitions (the same as the workload files'):
- service level = calls answered within the queue's threshold / calls that have an
  outcome (answered + abandoned + overflowed); abandoned calls count against it;
- ASA = mean wait of answered calls (joining the line to answer, ringing included);
- AHT = mean talk + wrap-up of completed calls;
- abandon rate = abandoned / calls with an outcome;
- occupancy = time reserved, on call or in wrap-up / that time plus time ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.queues.models import AgentState

# Weight of the newest handled call in the expected-handling-time average.
_EWMA = 0.05


@dataclass(slots=True)
class QueueStats:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    overflowed: int = 0
    callbacks_failed: int = 0
    completed: int = 0
    wait_answered_s: float = 0.0
    talk_s: float = 0.0
    wrap_up_s: float = 0.0
    longest_answered_wait_s: float = 0.0
    handle_estimate_s: float = 300.0  # EWMA of talk + wrap-up, for expected wait

    @property
    def ended(self) -> int:
        return self.answered + self.abandoned + self.overflowed + self.callbacks_failed

    @property
    def service_level(self) -> float | None:
        return self.answered_in_sl / self.ended if self.ended else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.ended if self.ended else None

    @property
    def asa_s(self) -> float | None:
        return self.wait_answered_s / self.answered if self.answered else None

    @property
    def aht_s(self) -> float | None:
        return (self.talk_s + self.wrap_up_s) / self.completed if self.completed else None

    def record_answer(self, wait_s: float, threshold_s: float) -> None:
        self.answered += 1
        self.wait_answered_s += wait_s
        self.longest_answered_wait_s = max(self.longest_answered_wait_s, wait_s)
        if wait_s <= threshold_s:
            self.answered_in_sl += 1

    def record_completion(self, talk_s: float, wrap_up_s: float) -> None:
        self.completed += 1
        self.talk_s += talk_s
        self.wrap_up_s += wrap_up_s
        handle = talk_s + wrap_up_s
        self.handle_estimate_s += _EWMA * (handle - self.handle_estimate_s)


@dataclass(slots=True)
class AgentStats:
    seconds: dict[AgentState, float] = field(default_factory=lambda: dict.fromkeys(AgentState, 0.0))
    offered: int = 0
    answered: int = 0
    missed: int = 0

    def add_time(self, state: AgentState, seconds: float) -> None:
        self.seconds[state] += seconds

    def occupancy(self, current: AgentState | None = None, current_s: float = 0.0) -> float | None:
        busy_states = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)
        busy = sum(self.seconds[s] for s in busy_states)
        ready = self.seconds[AgentState.READY]
        if current in busy_states:
            busy += current_s
        elif current == AgentState.READY:
            ready += current_s
        total = busy + ready
        return busy / total if total > 0 else None
