"""The agent side of the ACD: profiles, login, ready, not ready, logout, wrap-up and
reachability, each a list of checks followed by one move of the dispatcher.
"""

from __future__ import annotations

from cti.queues.dispatch import Dispatcher
from cti.queues.errors import AcdError
from cti.queues.models import LOGIN, UNREACHABLE, AgentProfile, AgentState
from cti.queues.state import Agent


class AgentDesk:
    """Agent requests; time and decisions are the dispatcher's (the caller advances it)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._d = dispatcher
        self._reasons = frozenset(dispatcher.config.not_ready_reasons)

    def upsert(self, profile: AgentProfile) -> None:
        d = self._d
        unknown = [q for q in profile.queues if q not in d.routing.queues]
        if unknown:
            raise AcdError("unknown_queue", f"agent {profile.id}: unknown queues {unknown}")
        agent = d.agents.get(profile.id)
        if agent is None:
            d.agents[profile.id] = Agent(profile, since=d.now)
            return
        d.routing.unindex(agent)
        agent.profile = profile
        d.routing.index(agent)
        if agent.state == AgentState.READY:
            d.agent_available(agent)

    def remove(self, agent_id: str) -> None:
        agent = self._d.agent(agent_id)
        if agent.state != AgentState.LOGGED_OUT:
            raise AcdError("agent_logged_in", f"agent {agent_id} is logged in: log it out first")
        del self._d.agents[agent_id]

    def login(self, agent_id: str, ready: bool) -> None:
        d = self._d
        agent = d.agent(agent_id)
        if agent.state != AgentState.LOGGED_OUT:
            raise AcdError("agent_logged_in", f"agent {agent_id} is already logged in")
        if not agent.reachable:
            d.set_state(agent, AgentState.NOT_READY, UNREACHABLE)
        elif ready:
            d.agent_available(agent)
        else:
            d.set_state(agent, AgentState.NOT_READY, LOGIN)

    def set_ready(self, agent_id: str) -> None:
        agent = self._logged_in(agent_id)
        if agent.state in (AgentState.ON_CALL, AgentState.RESERVED):
            agent.pending = None
        elif agent.state != AgentState.READY:
            if not agent.reachable:
                raise AcdError("agent_unreachable", f"agent {agent_id}: the phone is not reachable")
            agent.pending = None
            self._d.agent_available(agent)

    def set_not_ready(self, agent_id: str, reason: str) -> None:
        agent = self._logged_in(agent_id)
        if reason not in self._reasons:
            raise AcdError("unknown_reason", f"not-ready reason {reason!r} is not configured")
        if agent.state in (AgentState.ON_CALL, AgentState.WRAP_UP):
            agent.pending = (AgentState.NOT_READY, reason)  # the break after this call
        elif agent.state == AgentState.RESERVED:
            self._d.withdraw(agent, "declined", AgentState.NOT_READY, reason)
        else:
            agent.pending = None
            self._d.set_state(agent, AgentState.NOT_READY, reason)

    def logout(self, agent_id: str) -> None:
        agent = self._logged_in(agent_id)
        if agent.state == AgentState.ON_CALL:
            agent.pending = (AgentState.LOGGED_OUT, None)
        elif agent.state == AgentState.RESERVED:
            self._d.withdraw(agent, "agent_logout", AgentState.LOGGED_OUT, None)
        else:
            self._d.set_state(agent, AgentState.LOGGED_OUT, None)

    def extend_wrap_up(self, agent_id: str, seconds: float) -> None:
        agent = self._logged_in(agent_id)
        if agent.state != AgentState.WRAP_UP:
            raise AcdError("not_in_wrap_up", f"agent {agent_id} is {agent.state}, not in wrap-up")
        if not (0 < seconds <= 3600):
            raise AcdError(
                "bad_duration", f"wrap-up extension must be 0 < s <= 3600, got {seconds}"
            )
        agent.wrap_until += seconds
        self._d.timers.push(agent.wrap_until, "wrap", agent.profile.id, 0)

    def cancel_pending(self, agent_id: str) -> None:
        """Forget the change asked for during the call: ready when the wrap-up ends."""
        self._logged_in(agent_id).pending = None

    def finish_wrap_up(self, agent_id: str) -> None:
        """The agent is done with after-call work: the change asked for during the call
        (a break, a logout), else ready."""
        agent = self._logged_in(agent_id)
        if agent.state != AgentState.WRAP_UP:
            raise AcdError("not_in_wrap_up", f"agent {agent_id} is {agent.state}, not in wrap-up")
        self._d.release(agent)

    def set_reachable(self, agent_id: str, reachable: bool) -> None:
        d = self._d
        agent = d.agent(agent_id)
        if agent.reachable == reachable:
            return
        agent.reachable = reachable
        if not reachable and agent.state == AgentState.READY:
            d.set_state(agent, AgentState.NOT_READY, UNREACHABLE)
        elif reachable and agent.state == AgentState.NOT_READY and agent.reason == UNREACHABLE:
            d.agent_available(agent)

    def wrap_up_due(self, agent_id: str) -> None:
        """A wrap-up timer fired: the agent is free unless the wrap-up was extended."""
        d = self._d
        agent = d.agents.get(agent_id)
        if agent is not None and agent.state == AgentState.WRAP_UP and agent.wrap_until <= d.now:
            d.release(agent)

    def _logged_in(self, agent_id: str) -> Agent:
        agent = self._d.agent(agent_id)
        if agent.state == AgentState.LOGGED_OUT:
            raise AcdError("agent_logged_out", f"agent {agent_id} is not logged in")
        return agent
