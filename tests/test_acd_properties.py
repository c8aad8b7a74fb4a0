"""Random sequences of agent actions, calls, PBX results and clock ticks against the ACD.

After every step: no agent double-booked, no call with two agents, no ready agent idle
beside a call it may serve, per-queue statistics add up. At the end every caller hangs
up and every call has ended exactly once (answered, abandoned, overflowed).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from acd_helpers import OfferLedger, agent, check_invariants, config, drain, every_call_ended_once
from cti.queues import Acd, AcdError
from cti.queues.events import Decisions

AGENTS = ["a1", "a2", "a3", "a4", "a5"]
QUEUES = ["social", "child", "overflow"]
EXPECTED_REFUSALS = {
    "agent_logged_in",
    "agent_logged_out",
    "agent_unreachable",
    "not_in_wrap_up",
    "call_not_offered",
    "call_not_connected",
    "call_connected",
    "agent_busy",
    "inbound_waiting",
    "lines_busy",
}

CONFIG = config(
    queues={
        "social": {
            "skills": {"social": 7},
            "relaxation": [
                {"after_s": 5, "min_level": 4, "reserve": 1},
                {"after_s": 12, "any_agent": True},
            ],
            "wrap_up_s": 3,
            "ring_timeout_s": 4,
            "max_wait_s": 30,
            "overflow": {"action": "queue", "target": "overflow"},
            "announce_every_s": 7,
        },
        "child": {
            "skills": {"child": 6},
            "priority": 2,
            "wrap_up_s": 0,
            "max_length": 2,
            "max_wait_s": 20,
            "overflow": {"action": "callback"},
        },
        "overflow": {"wrap_up_s": 1, "max_wait_s": 25, "overflow": {"action": "voicemail"}},
    },
    agents=[
        agent("a1", {"social": 9, "child": 5}, ["social", "child"]),
        agent("a2", {"child": 8}, ["child", "overflow"]),
        agent("a3", {"social": 4}, ["social", "overflow"]),
        agent("a4", {"social": 7, "child": 7}, ["social", "child", "overflow"]),
        # Home queue child; helps social only while another child expert is ready.
        agent("a5", {"child": 9, "social": 5}, ["child", "social"]),
    ],
)


class AcdMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.acd = Acd(CONFIG, 0.0)
        self.now = 0.0
        self.ledger = OfferLedger()
        self.arrived: list[str] = []
        self.n = 0

    def _do(self, method: Any, *args: Any) -> None:
        try:
            d: Decisions = method(*args)
        except AcdError as exc:
            if exc.code not in EXPECTED_REFUSALS:
                raise
            # What the step's timers decided before the refusal goes out with the next
            # step (the engine's contract); the service takes one at once (AcdService).
            d = self.acd.tick(self.now)
        self.ledger.feed(d)

    def _calls(self, state: str) -> list[str]:
        return sorted(c.id for c in self.acd.calls() if c.state == state)

    @rule(dt=st.floats(0, 15))
    def wait(self, dt: float) -> None:
        self.now += dt
        self._do(self.acd.tick, self.now)

    @rule(a=st.sampled_from(AGENTS), ready=st.booleans())
    def login(self, a: str, ready: bool) -> None:
        self._do(self.acd.login, a, self.now, ready)

    @rule(a=st.sampled_from(AGENTS))
    def ready(self, a: str) -> None:
        self._do(self.acd.set_ready, a, self.now)

    @rule(a=st.sampled_from(AGENTS), reason=st.sampled_from(["break", "lunch"]))
    def not_ready(self, a: str, reason: str) -> None:
        self._do(self.acd.set_not_ready, a, reason, self.now)

    @rule(a=st.sampled_from(AGENTS))
    def logout(self, a: str) -> None:
        self._do(self.acd.logout, a, self.now)

    @rule(a=st.sampled_from(AGENTS), reachable=st.booleans())
    def reachable(self, a: str, reachable: bool) -> None:
        self._do(self.acd.set_reachable, a, reachable, self.now)

    @rule(a=st.sampled_from(AGENTS), s=st.floats(1, 20))
    def extend(self, a: str, s: float) -> None:
        self._do(self.acd.extend_wrap_up, a, s, self.now)

    @rule(queue=st.sampled_from(QUEUES), priority=st.integers(-2, 2))
    def arrive(self, queue: str, priority: int) -> None:
        self.n += 1
        call = f"c{self.n}"
        self.arrived.append(call)
        self._do(self.acd.call_arrived, call, queue, self.now, priority)

    @rule(a=st.sampled_from(AGENTS), task=st.booleans())
    def call_out(self, a: str, task: bool) -> None:
        """The agent calls a citizen (her own call, or a task's under the outbound
        policy): refused unless allowed, then a call like the others."""
        self.n += 1
        call = f"o{self.n}"
        self._do(self.acd.call_out, call, a, "+359888123457", self.now, task)
        if call in self.ledger.open:
            self.arrived.append(call)

    @precondition(lambda self: self._calls("offered"))
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        self._do(
            self.acd.offer_answered, data.draw(st.sampled_from(self._calls("offered"))), self.now
        )

    @precondition(lambda self: self._calls("offered"))
    @rule(data=st.data(), cause=st.sampled_from(["no_answer", "busy", "unreachable"]))
    def fail(self, data: st.DataObject, cause: Any) -> None:
        call = data.draw(st.sampled_from(self._calls("offered")))
        self._do(self.acd.offer_failed, call, cause, self.now)

    @precondition(lambda self: self._calls("connected"))
    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        self._do(
            self.acd.call_ended, data.draw(st.sampled_from(self._calls("connected"))), self.now
        )

    @precondition(lambda self: self.acd.calls())
    @rule(data=st.data())
    def hang_up(self, data: st.DataObject) -> None:
        call = data.draw(st.sampled_from(sorted(c.id for c in self.acd.calls())))
        self._do(self.acd.caller_hung_up, call, self.now)

    @precondition(lambda self: self._calls("waiting"))
    @rule(data=st.data())
    def accept_callback(self, data: st.DataObject) -> None:
        call = data.draw(st.sampled_from(self._calls("waiting")))
        self._do(self.acd.callback_accepted, call, "+359888123456", self.now)

    @invariant()
    def consistent(self) -> None:
        check_invariants(self.acd)

    def teardown(self) -> None:
        drain(self, AGENTS, lambda: self._do(self.acd.tick, self.now), 50)
        every_call_ended_once(self.acd, self.ledger, self.arrived)


AcdMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAcdMachine = AcdMachine.TestCase
