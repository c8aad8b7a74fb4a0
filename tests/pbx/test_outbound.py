"""The pbx tier's notification scenario (issue 21, docs/outbound.md): a case is resolved,
its "tell the citizen" task is due; ivanova takes it (REST): her phone rings and answers
first, then the citizen's phone behind the trunk, which is shown the hotline, not her;
she records `informed` and the case moves on. What Asterisk recorded (CEL) is checked
against what the CTI stored."""

from __future__ import annotations

import asyncpg
import pytest
from celfacts import Cel
from findings import Findings
from hotline import agents, hotline
from peers import citizen_phone
from test_control import check_presented, rest, stored, until

pytestmark = pytest.mark.pbx

PHONE = "0888555009"  # behind the trunk (peers.citizen_phone answers any number)
E164 = "+359888555009"
RESULT = "Your heating allowance is granted from January."


async def test_a_resolved_case_is_told_to_the_citizen_by_an_agent(db_url: str) -> None:
    people = agents({"answer_ms": 1000}, {"ready": False})
    async with hotline(db_url, people) as line:
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(
                "INSERT INTO topics (code, name) VALUES ('social', 'Social') ON CONFLICT DO NOTHING"
            )
        finally:
            await conn.close()
        case = {"topic": "social", "phone": PHONE, "description": "heating allowance"}
        status, created = await rest(line, "POST", "/api/v1/cases", "boss", case)
        assert status == 201, created
        case_path = f"/api/v1/cases/{created['id']}"
        for move in ({"status": "in_progress"}, {"status": "resolved", "note": RESULT}):
            status, moved = await rest(line, "POST", f"{case_path}/status", "boss", move)
            assert status == 200, moved
        status, due = await rest(line, "GET", "/api/v1/notifications?due=true", "ivanova")
        assert status == 200, due
        (task,) = [t for t in due["items"] if t["case_id"] == created["id"]]
        citizen = citizen_phone(line, answer_ms=1500, talk_ms=4000)
        path = f"/api/v1/notifications/{task['id']}"
        status, taken = await rest(line, "POST", f"{path}/call", "ivanova", {"agent": "ivanova"})
        assert status == 201, taken

        def talking() -> bool:
            return any(c.startswith("PJSIP/trunk-") for c in line.asterisk.channels())

        await until("the citizen's leg", talking, 15)
        informed = {"outcome": "informed"}
        status, told = await rest(line, "POST", f"{path}/outcome", "ivanova", informed)
        assert citizen.wait(30) == 0, citizen.errors()[-3000:]
        await line.settle()
        rows = await stored(line, 1)
        _, after = await rest(line, "GET", case_path, "ivanova")
        cel = Cel(line.asterisk.cel_file)
        invite = citizen.messages()
    (phone,) = cel.channels("PJSIP/agent-1001-")
    (trunk,) = cel.channels("PJSIP/trunk-")
    m = Findings()
    m.equal((task["phone"], task["result"]), (E164, RESULT), "the task")
    m.equal((status, told.get("status")), (200, "informed"), "the outcome recorded")
    m.equal(after.get("status"), "citizen_informed", "the case after the call")
    m.check(f"INVITE sip:{E164}@" in invite, "the citizen's phone got no INVITE for his number")
    check_presented(m, invite)
    agent_answer = cel.first("ANSWER", phone)
    dialled = cel.first("CHAN_START", trunk)
    m.check(
        agent_answer is not None and dialled is not None and agent_answer <= dialled,
        f"CEL: the agent answered at {agent_answer}, the citizen was dialled at {dialled}",
    )
    m.check(cel.first("ANSWER", trunk) is not None, "CEL: the citizen never answered")
    (row,) = rows.values()
    m.equal((row["direction"], row["agent"]), ("outbound", "ivanova"), "the stored call")
    m.equal(row["outcome"], "answered", "the stored call's outcome")
    m.check(
        E164 in (row["caller_number"], row["called_number"]),
        f"the citizen's number in the record: {row['caller_number']!r}, {row['called_number']!r}",
    )
    assert not m.found, str(m)
