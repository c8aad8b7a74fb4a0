"""Random agent actions, calls, PBX results and clock ticks against a centre whose main
queues are routed by availability-based reservation (one queue stays on relaxation).

After every step, besides the ACD's own invariants (acd_helpers.check_invariants: no
double booking, work conservation, statistics): no ready agent of a pool idles beside
its own waiting callers; every call waiting past the guard has no ready agent who may
take it; within a queue and priority, no call is offered while an older one waits; a
pool that lent an agent under the reserve rules keeps its reserve available. At the
end every caller hangs up and every call has ended exactly once.

The availability is recomputed here from the views (states, wrap-up ends, pending
changes), not read from the engine's explanation.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from acd_helpers import OfferLedger, agent, check_invariants, config, drain, every_call_ended_once
from cti.queues import Acd, AcdError, AgentState
from cti.queues.events import CallOffered, Decisions

AGENTS = ["s1", "s2", "s3", "c1", "j1", "g1"]
QUEUES = ["social", "child", "jobs", "general"]
GROUP = {"social": 1, "child": 0, "jobs": 1}
AIM_S, GUARD_S = 5.0, 25.0
EXPECTED_REFUSALS = {
    "agent_logged_in",
    "agent_logged_out",
    "agent_unreachable",
    "not_in_wrap_up",
    "call_not_offered",
    "call_not_connected",
    "call_connected",
}
# Who may take a queue's calls at all (its loosest requirement): skill -> level, or any.
LOOSEST: dict[str, dict[str, int] | None] = {
    "social": None,
    "child": {"child": 3},
    "jobs": None,
    "general": None,
}

CONFIG = config(
    queues={
        "social": {
            "skills": {"social": 7},
            "relaxation": [{"after_s": 5, "min_level": 4}, {"after_s": 12, "any_agent": True}],
            "wrap_up_s": 3,
            "ring_timeout_s": 4,
            "max_wait_s": 40,
            "overflow": {"action": "callback"},
        },
        "child": {
            "skills": {"child": 6},
            "priority": 1,
            "relaxation": [{"after_s": 10, "min_level": 3}],
            "wrap_up_s": 2,
            "max_wait_s": 30,
            "overflow": {"action": "queue", "target": "general"},
        },
        "jobs": {
            "skills": {"jobs": 7},
            "relaxation": [{"after_s": 8, "any_agent": True}],
            "wrap_up_s": 4,
            "announce_every_s": 7,
        },
        "general": {"wrap_up_s": 1, "max_wait_s": 35, "overflow": {"action": "voicemail"}},
    },
    agents=[
        agent("s1", {"social": 9, "child": 4}, ["social", "child", "jobs"]),
        agent("s2", {"social": 8, "jobs": 5}, ["social", "jobs"]),
        agent("s3", {"social": 7}, ["social", "general"]),
        agent("c1", {"child": 8, "social": 5}, ["child", "social", "general"]),
        # jobs pool, and an expert of child: borrowed as an expert while jobs keeps 1.
        agent("j1", {"jobs": 9, "social": 5, "child": 7}, ["jobs", "social", "child"]),
        # Home outside the group: helps social, is not counted in any pool.
        agent("g1", {"social": 5}, ["general", "social"]),
    ],
    groups={"hotline": {"queues": GROUP, "service_level_s": AIM_S, "guard_s": GUARD_S}},
)
PROFILES = {a.id: a for a in CONFIG.agents}


def may_take_at_all(aid: str, queue: str) -> bool:
    profile = PROFILES[aid]
    need = LOOSEST[queue]
    return queue in profile.queues and (
        need is None or all(profile.skills.get(s, 0) >= lvl for s, lvl in need.items())
    )


class ReserveMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.acd = Acd(CONFIG, 0.0)
        self.now = 0.0
        self.ledger = OfferLedger()
        self.arrived: list[str] = []
        self.priority: dict[str, int] = {}
        self.n = 0

    # --- driving ------------------------------------------------------------------------

    def _do(self, method: Any, *args: Any) -> None:
        """Run the timers due by now first (their own step), then the action alone, so
        that the action's step holds nothing but the action and what it decided."""
        self._feed(self.acd.tick(self.now), action=False)
        try:
            d: Decisions = method(*args)
        except AcdError as exc:
            if exc.code not in EXPECTED_REFUSALS:
                raise
            d = self.acd.tick(self.now)
        self._feed(d, action=True)

    def _feed(self, d: Decisions, action: bool) -> None:
        self.ledger.feed(d)
        offered = [e for e in d.events if isinstance(e, CallOffered)]
        self._fifo(offered)
        if action:
            self._reserves_kept(offered)

    def _calls(self, state: str) -> list[str]:
        return sorted(c.id for c in self.acd.calls() if c.state == state)

    # --- the checks ---------------------------------------------------------------------

    def _available(self, pool: str) -> int:
        """Ready + in wrap-up ending within AIM_S (nothing pending) - own callers waiting."""
        members = [a for a in self.acd.agents() if PROFILES[a.id].queues[0] == pool]
        ready = sum(a.state == AgentState.READY and a.reachable for a in members)
        wrapping = sum(
            a.state == AgentState.WRAP_UP
            and a.pending is None
            and a.reachable
            and a.wrap_until is not None
            and a.wrap_until <= self.now + AIM_S
            for a in members
        )
        waiting = sum(c.queue == pool and c.state == "waiting" for c in self.acd.calls())
        return ready + wrapping - waiting

    def _reserves_kept(self, offered: list[CallOffered]) -> None:
        for e in offered:
            assert e.why is not None
            if e.why["rule"] in ("borrow", "borrow_expert"):
                pool = PROFILES[e.agent].queues[0]
                if pool in GROUP:
                    assert self._available(pool) >= GROUP[pool], f"{pool} lent below reserve"

    def _fifo(self, offered: list[CallOffered]) -> None:
        calls = {c.id: c for c in self.acd.calls()}
        for e in offered:
            if e.queue not in GROUP or e.call not in calls:
                continue
            mine = calls[e.call]
            older = [
                c.id
                for c in calls.values()
                if c.queue == e.queue
                and c.state == "waiting"
                and self.priority[c.id] == self.priority[e.call]
                and c.entered < mine.entered
            ]
            assert not older, f"{e.call} offered while older {older} wait in {e.queue}"

    @invariant()
    def consistent(self) -> None:
        check_invariants(self.acd)
        ready = [a.id for a in self.acd.agents() if a.state == AgentState.READY and a.reachable]
        for c in self.acd.calls():
            if c.state != "waiting" or c.queue not in GROUP:
                continue
            own = [a for a in ready if PROFILES[a].queues[0] == c.queue]
            assert not [a for a in own if may_take_at_all(a, c.queue)], f"{own} idle beside {c.id}"
            if self.now - c.entered >= GUARD_S:
                idle = [a for a in ready if may_take_at_all(a, c.queue)]
                assert not idle, f"{c.id} waited past the guard beside ready {idle}"

    # --- rules ----------------------------------------------------------------------------

    @rule(dt=st.floats(0, 12))
    def wait(self, dt: float) -> None:
        self.now += dt
        self._feed(self.acd.tick(self.now), action=False)

    @rule(a=st.sampled_from(AGENTS), ready=st.booleans())
    def login(self, a: str, ready: bool) -> None:
        self._do(self.acd.login, a, self.now, ready)

    @rule(a=st.sampled_from(AGENTS))
    def ready(self, a: str) -> None:
        self._do(self.acd.set_ready, a, self.now)

    @rule(a=st.sampled_from(AGENTS))
    def not_ready(self, a: str) -> None:
        self._do(self.acd.set_not_ready, a, "break", self.now)

    @rule(a=st.sampled_from(AGENTS))
    def logout(self, a: str) -> None:
        self._do(self.acd.logout, a, self.now)

    @rule(a=st.sampled_from(AGENTS), reachable=st.booleans())
    def reachable(self, a: str, reachable: bool) -> None:
        self._do(self.acd.set_reachable, a, reachable, self.now)

    @rule(a=st.sampled_from(AGENTS), s=st.floats(1, 10))
    def extend(self, a: str, s: float) -> None:
        self._do(self.acd.extend_wrap_up, a, s, self.now)

    @rule(queue=st.sampled_from(QUEUES), priority=st.integers(0, 1))
    def arrive(self, queue: str, priority: int) -> None:
        self.n += 1
        call = f"k{self.n}"
        self.arrived.append(call)
        self.priority[call] = priority
        self._do(self.acd.call_arrived, call, queue, self.now, priority)

    @precondition(lambda self: self._calls("offered"))
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        call = data.draw(st.sampled_from(self._calls("offered")))
        self._do(self.acd.offer_answered, call, self.now)

    @precondition(lambda self: self._calls("offered"))
    @rule(data=st.data(), cause=st.sampled_from(["no_answer", "busy", "unreachable"]))
    def fail(self, data: st.DataObject, cause: Any) -> None:
        call = data.draw(st.sampled_from(self._calls("offered")))
        self._do(self.acd.offer_failed, call, cause, self.now)

    @precondition(lambda self: self._calls("connected"))
    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        call = data.draw(st.sampled_from(self._calls("connected")))
        self._do(self.acd.call_ended, call, self.now)

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

    def teardown(self) -> None:
        drain(self, AGENTS, lambda: self._feed(self.acd.tick(self.now), action=False), 80)
        every_call_ended_once(self.acd, self.ledger, self.arrived)


ReserveMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestReserveMachine = ReserveMachine.TestCase
