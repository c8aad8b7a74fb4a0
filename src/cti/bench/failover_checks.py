"""What `cti bench failover` checks at each takeover and at the end: callers who lost
their place in line, agents who had to log in again, a deposed leader that still acted,
records duplicated (a transition logged twice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Session upkeep a deposed process may still send (cti.ami.client.SESSION_ACTIONS).
UPKEEP = {"ping", "logoff", "login", "challenge"}
# How much shorter a kept caller's wait may look after a takeover: the two processes'
# clocks are read a moment apart and the API rounds to 0.1 s.
WAIT_SLACK_S = 1.0


@dataclass
class Figures:
    takeovers_s: list[float] = field(default_factory=list)
    records_lost: int = 0
    records_wrong: int = 0
    records_duplicated: int = 0
    relogins: int = 0
    places_lost: int = 0
    acted_while_deposed: int = 0
    deposed_not_exited: int = 0
    calls: int = 0
    unseen: int = 0
    problems: list[str] = field(default_factory=list)


def waiting(items: list[dict[str, Any]]) -> dict[str, float]:
    """The ACD's line from GET /api/v1/calls: call id -> seconds in its queue's line
    (a call on hold that the ACD does not have has no `waited_s`: not in its line)."""
    return {c["id"]: float(c["waited_s"]) for c in items if c.get("waited_s") is not None}


def served(items: list[dict[str, Any]]) -> set[str]:
    """Calls the ACD has already given an agent (offered or connected)."""
    return {c["id"] for c in items if c["state"] in ("offered", "connected")}


def places(
    before: dict[str, float],
    after: list[dict[str, Any]],
    still_holding: set[str],
    elapsed_s: float,
    f: Figures,
) -> None:
    """Every caller the old leader had in line who is still on hold in Asterisk is in
    the new leader's line, having waited at least as long as before plus the takeover,
    or has been given an agent by it already (the Redirect may not have landed yet)."""
    line, given = waiting(after), served(after)
    for call, waited in before.items():
        if call not in still_holding or call in given:
            continue  # answered, abandoned or redirected meanwhile
        now = line.get(call)
        if now is None:
            f.places_lost += 1
            f.problems.append(f"place lost: {call} waiting {waited:.1f} s, not in the new line")
        elif now + WAIT_SLACK_S < waited + elapsed_s:
            f.places_lost += 1
            f.problems.append(
                f"place lost: {call} had waited {waited:.1f} s, the new leader says {now:.1f} s"
                f" {elapsed_s:.1f} s later"
            )


def relogins(before: list[dict[str, Any]], after: list[dict[str, Any]], f: Figures) -> None:
    """Agents logged in under the old leader whom the new one shows logged out."""
    now = {a["id"]: a["state"] for a in after}
    for agent in before:
        if agent["state"] != "logged_out" and now.get(agent["id"]) == "logged_out":
            f.relogins += 1
            f.problems.append(f"relogin: {agent['id']} was {agent['state']}")


def session_of(action: dict[str, str]) -> str:
    """The sending process of an AMI action: panoramisk's ActionID is
    `action/<uuid of the process>/<n>/<m>`."""
    parts = action.get("ActionID", "").split("/")
    return parts[1] if len(parts) > 2 else ""


def acted(actions: list[dict[str, str]], sessions: set[str]) -> list[str]:
    """Actions other than session upkeep sent by the given processes."""
    return [
        a.get("Action", "?")
        for a in actions
        if session_of(a) in sessions and a.get("Action", "").lower() not in UPKEEP
    ]


def duplicates(rows: list[dict[str, Any]], f: Figures) -> None:
    """agent_state_log rows (agent, state, reason, at) in order: a row that repeats the
    agent's previous state and reason is a transition logged twice."""
    last: dict[str, tuple[str, str | None]] = {}
    for row in rows:
        state = (row["state"], row["reason"])
        if last.get(row["agent"]) == state:
            f.records_duplicated += 1
            f.problems.append(f"logged twice: {row['agent']} {state[0]} at {row['at']}")
        last[row["agent"]] = state
