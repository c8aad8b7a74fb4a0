"""Agents' profiles changed over the API, kept so that they survive a restart (applied
over the ACD file at start)."""

from __future__ import annotations

import json
from typing import Any

from cti.queues.models import AgentProfile


async def save_agent(conn: Any, profile: AgentProfile, by: str) -> None:
    await conn.execute(
        "INSERT INTO agent_profiles (id, endpoint, skills, queues, removed, updated_by)"
        " VALUES ($1, $2, $3, $4, false, $5)"
        " ON CONFLICT (id) DO UPDATE SET endpoint = $2, skills = $3, queues = $4,"
        " removed = false, updated_at = now(), updated_by = $5",
        profile.id,
        profile.endpoint,
        json.dumps(dict(profile.skills)),
        list(profile.queues),
        by,
    )


async def remove_agent(conn: Any, agent_id: str, by: str) -> None:
    await conn.execute(
        "INSERT INTO agent_profiles (id, endpoint, skills, queues, removed, updated_by)"
        " VALUES ($1, '', '{}', '{}', true, $2)"
        " ON CONFLICT (id) DO UPDATE SET removed = true, updated_at = now(), updated_by = $2",
        agent_id,
        by,
    )


async def saved_agents(conn: Any) -> tuple[list[AgentProfile], list[str]]:
    """(profiles to add or change, ids to remove), oldest change first."""
    rows = await conn.fetch(
        "SELECT id, endpoint, skills, queues, removed FROM agent_profiles ORDER BY updated_at"
    )
    changed = [
        AgentProfile(
            id=r["id"],
            endpoint=r["endpoint"],
            skills=json.loads(r["skills"]),
            queues=tuple(r["queues"]),
        )
        for r in rows
        if not r["removed"]
    ]
    return changed, [r["id"] for r in rows if r["removed"]]


async def last_states(conn: Any) -> list[tuple[str, str, str | None]]:
    """Each agent's last logged state: (agent, state, reason)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (agent) agent, state, reason FROM agent_state_log"
        " ORDER BY agent, at DESC"
    )
    return [(r["agent"], r["state"], r["reason"]) for r in rows]
