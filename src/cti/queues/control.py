"""Call control from the CTI: hold and resume, transfer to a queue, an agent or an
outside number; each checks the call, moves its channels, then tells the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from cti.ami.errors import AmiError
from cti.ami.service import ActionSender
from cti.queues.dialplan import AGENT_HELD, HELD, TRANSFER_OUT, redirect, requeue_channel
from cti.queues.engine import Acd
from cti.queues.errors import AcdError
from cti.queues.events import Decisions
from cti.queues.legs import Leg, Legs
from cti.queues.views import CallView


class CallControl:
    """What an agent (or supervisor) does to an answered call."""

    def __init__(
        self,
        acd: Acd,
        ami: ActionSender,
        legs: Legs,
        now: Callable[[], float],
        apply: Callable[[Decisions], Decisions],
    ) -> None:
        self.acd = acd
        self._ami = ami
        self._legs = legs
        self._now = now
        self._apply = apply  # publish the events, queue the commands of a step

    async def transfer_to_queue(self, call: str, queue: str) -> None:
        """Hand an answered call to another queue: the agent goes to wrap-up, the caller
        back on hold and into the new queue's line (a new arrival there)."""
        leg = self._legs.callers.get(call)
        view = self.acd.call_view(call)
        if leg is None or view is None or view.state != "connected":
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        if queue not in self.acd.config.queues:
            raise AcdError("unknown_queue", f"no queue {queue!r}")
        await self._drop_held_agent(call)
        self._apply(self.acd.call_ended(call, self._now()))
        self._legs.forget_caller(call)
        await requeue_channel(self._ami, leg.channel, queue)

    async def transfer_to_agent(self, call: str, agent: str) -> None:
        """Hand an answered call straight to a ready agent (whose phone rings); if that
        one does not answer, the call goes back in its queue's line."""
        view = self.acd.call_view(call)
        if call not in self._legs.callers or view is None or view.state != "connected":
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        if self.acd.agent_view(agent) is None:
            raise AcdError("unknown_agent", f"no agent {agent!r}")
        if not self.acd.may_take(agent, call):
            raise AcdError("agent_not_ready", f"agent {agent} is not ready for a call")
        await self._drop_held_agent(call)
        self._legs.pop_agent_leg(call)
        self._apply(self.acd.transfer_to_agent(call, agent, self._now()))

    async def transfer_to_number(self, call: str, number: str) -> None:
        """Send an answered call to an outside number (through the trunk); the agent
        goes to wrap-up and the ACD is done with the call."""
        view = self.acd.call_view(call)
        if call not in self._legs.callers or view is None or view.state != "connected":
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        channel = self._legs.callers[call].channel
        await self._drop_held_agent(call)
        await self._ami.send_action(
            {
                "Action": "Setvar",
                "Channel": channel,
                "Variable": "CTI_TRANSFER_NUMBER",
                "Value": number,
            }
        )
        self._apply(self.acd.call_ended(call, self._now()))
        self._legs.forget_caller(call)
        await redirect(self._ami, channel, TRANSFER_OUT)

    async def hold(self, call: str) -> None:
        """Music for the citizen; the agent's phone stays connected to the CTI."""
        leg, agent_leg, view = self._conversation(call)
        if view.held:
            raise AcdError("already_held", f"call {call} is on hold already")
        await self._ami.send_action(
            {
                "Action": "Redirect",
                "Channel": leg.channel,
                "Context": HELD,
                "Exten": "s",
                "Priority": "1",
                "ExtraChannel": agent_leg.channel,
                "ExtraContext": AGENT_HELD,
                "ExtraExten": "s",
                "ExtraPriority": "1",
            }
        )
        self._apply(self.acd.hold(call, self._now()))

    async def resume(self, call: str) -> None:
        """The citizen on hold and the agent talk again (AMI Bridge)."""
        leg, agent_leg, view = self._conversation(call)
        if not view.held:
            raise AcdError("not_held", f"call {call} is not on hold")
        await self._ami.send_action(
            {
                "Action": "Bridge",
                "Channel1": leg.channel,
                "Channel2": agent_leg.channel,
                "Tone": "no",
            }
        )
        self._apply(self.acd.resume(call, self._now()))

    async def _drop_held_agent(self, call: str) -> None:
        """Handing on a call that is on hold: the first agent's phone, waiting alone in
        `[cti-agent-held]`, hangs up (not bridged, it would stay up)."""
        view = self.acd.call_view(call)
        if view is None or not view.held:
            return
        leg = self._legs.pop_agent_leg(call)
        if leg is not None:
            with contextlib.suppress(AmiError):  # gone already
                await self._ami.send_action({"Action": "Hangup", "Channel": leg.channel})

    def _conversation(self, call: str) -> tuple[Leg, Leg, CallView]:
        """The caller's and the agent's legs of an answered call, and its view."""
        leg, agent_leg = self._legs.callers.get(call), self._legs.agent_legs.get(call)
        view = self.acd.call_view(call)
        if view is None or view.state != "connected" or leg is None:
            raise AcdError("call_not_connected", f"call {call} is not in a conversation")
        if agent_leg is None:  # a callback: the agent's phone placed the call
            raise AcdError("hold_unavailable", f"call {call} cannot be held from the CTI")
        return leg, agent_leg, view
