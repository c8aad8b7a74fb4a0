"""At start, before the AMI link: the ACD as it was when the CTI stopped (or died).

The agents changed over the API are applied over the ACD file (`agent_profiles`), then
each agent goes back to its last logged state (`agent_state_log`): logged in, ready or
not ready with its reason, so desktops resume without a new login. An agent who was
reserved, on a call or in wrap-up comes back ready: the resync that follows the AMI
login puts those still on a call back on it (adoption.py)."""

from __future__ import annotations

from typing import Any

import structlog

from cti.queues.errors import AcdError
from cti.queues.service import AcdService
from cti.store import agents as stored

log = structlog.get_logger(__name__)


async def restore_agents(conn: Any, acd: AcdService) -> tuple[int, int]:
    """(profile changes applied, agent states restored)."""
    changed, removed = await stored.saved_agents(conn)
    for p in changed:
        try:
            acd.apply(acd.acd.upsert_agent(p, acd.now()))
        except AcdError as exc:  # e.g. a queue since taken out of the ACD file
            log.warning("acd.saved_agent_not_applied", agent=p.id, code=exc.code)
    for agent_id in removed:
        if acd.acd.profile(agent_id) is not None:
            acd.apply(acd.acd.remove_agent(agent_id, acd.now()))
    restored = 0
    for agent_id, state, reason in await stored.last_states(conn):
        if acd.acd.profile(agent_id) is None or state == "logged_out":
            continue
        try:
            acd.apply(acd.acd.login(agent_id, acd.now()))
            if state == "not_ready" and reason:
                acd.apply(acd.acd.set_not_ready(agent_id, reason, acd.now()))
            else:
                acd.apply(acd.acd.set_ready(agent_id, acd.now()))
        except AcdError as exc:
            log.warning("acd.agent_state_not_restored", agent=agent_id, code=exc.code)
            continue
        restored += 1
    return len(changed) + len(removed), restored
