"""Telephone survey campaigns (issue 21) over the simulated PBX (AMD, the IVR's
`campaign-survey` script over FastAGI, citizens keying DTMF) and a real PostgreSQL:
answers stored per question, no answer and busy retried after the spacing up to the
attempts, machines counted and not surveyed, the opt-out kept across campaigns, pacing
within the lines, inbound first, the CSV list checked line by line, results."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from campaign_helpers import IVR_FILE, survey_world, until
from cti.campaigns.models import (
    MAX_UPLOAD_LINES,
    Rules,
    after_attempt,
    outside_hours,
    parse_list,
)
from cti.ivr.models import load_ivr
from cti.sim.models import Citizen
from cti.sim.survey_calls import SurveyCitizen
from cti.store.errors import StoreError

HAPPY = "+359888600001"
BUSY = "+359888600002"
SILENT = "+359888600003"
MACHINE = "+359888600004"
PARTIAL = "+359888600005"
OPTS_OUT = "+359888600006"


async def _numbers(w: Any, cid: int) -> dict[str, dict[str, Any]]:
    rows = await w.rows("SELECT * FROM campaign_numbers WHERE campaign_id = $1", cid)
    return {r["phone"]: r for r in rows}


async def _done(w: Any, cid: int) -> bool:
    return (await w.rows("SELECT state FROM campaigns WHERE id = $1", cid))[0]["state"] == "done"


async def test_a_campaign_surveys_people_retries_the_unreached_and_skips_machines(
    db_url: str, tmp_path: Path
) -> None:
    async with survey_world(db_url, tmp_path) as w:
        w.calls.citizens.update(
            {
                # the intro, then: service 4, solved yes, age 42; then the comment is spoken
                HAPPY: SurveyCitizen(keys=["4", "1", "42#"]),
                BUSY: SurveyCitizen(busy=True),
                SILENT: SurveyCitizen(answers=False),
                MACHINE: SurveyCitizen(amd="MACHINE"),
                # answers the first question, then hangs up while asked the second
                PARTIAL: SurveyCitizen(keys=["3"], hang_up_after_s=12),
                OPTS_OUT: SurveyCitizen(keys=["9"]),  # on the intro
            }
        )
        numbers = [HAPPY, BUSY, SILENT, MACHINE, PARTIAL, OPTS_OUT]
        # A dialplan without the hotline's number yet: the calls go out without one,
        # and it is asked again for the next calls (below), not remembered empty.
        hotline = dict(w.server.pbx.globals)
        w.server.pbx.globals.clear()
        cid = await w.campaign(numbers, max_attempts=2, retry_after_s=2, lines=6)
        await until(lambda: _done(w, cid), 30)
        assert w.calls.shown[HAPPY] == ""
        w.server.pbx.globals.update(hotline)
        rows = await _numbers(w, cid)
        got = {p: (r["status"], r["last_outcome"], r["attempts"]) for p, r in rows.items()}
        assert got == {
            HAPPY: ("completed", "completed", 1),
            BUSY: ("failed", "busy", 2),
            SILENT: ("failed", "no_answer", 2),
            MACHINE: ("failed", "machine", 2),
            PARTIAL: ("partial", "partial", 1),
            OPTS_OUT: ("opted_out", "opted_out", 1),
        }
        # Each unreached number was called again only after the spacing.
        for phone in (BUSY, SILENT, MACHINE):
            attempts = await w.rows(
                "SELECT attempt, outcome, at FROM campaign_attempts WHERE number_id = $1"
                " ORDER BY attempt",
                rows[phone]["id"],
            )
            assert [a["attempt"] for a in attempts] == [1, 2]
            assert attempts[1]["at"] - attempts[0]["at"] >= dt.timedelta(seconds=2)
        assert sorted(w.calls.placed) == sorted([*numbers, BUSY, SILENT, MACHINE])
        answers = await w.rows(
            "SELECT n.phone, a.question, a.value, a.comment_file FROM campaign_answers a"
            " JOIN campaign_numbers n ON n.id = a.number_id ORDER BY n.phone, a.question"
        )
        stored = {(a["phone"], a["question"]): a["value"] for a in answers}
        assert stored == {
            (HAPPY, "age"): "42",
            (HAPPY, "comment"): "recorded",
            (HAPPY, "service"): "4",
            (HAPPY, "solved"): "yes",
            (PARTIAL, "service"): "3",
        }  # the machine heard nothing and answered nothing
        comment = next(a for a in answers if a["question"] == "comment")
        assert comment["comment_file"].endswith(f"{cid}-{rows[HAPPY]['id']}-comment.wav")
        opted = await w.rows("SELECT phone, campaign_id FROM survey_opt_outs")
        assert opted == [{"phone": OPTS_OUT, "campaign_id": cid}]

        status, results = await w.call("GET", f"/api/v1/campaigns/{cid}/results", "supervisor")
        assert status == 200
        by_question = {q["question"]: q for q in results["questions"]}
        assert by_question["service"]["counts"] == {"3": 1, "4": 1}
        assert by_question["service"]["mean"] == 3.5
        assert by_question["solved"]["counts"] == {"yes": 1}
        assert by_question["age"]["mean"] is None
        assert results["outcomes"]["machine"] == 1
        status, text = await w.call("GET", f"/api/v1/campaigns/{cid}/results.csv", "supervisor")
        assert status == 200
        lines = text.strip().splitlines()
        assert (
            lines[0]
            == "phone,status,last_outcome,attempts,topic,organisation,service,solved,age,comment"
        )
        assert f"'{HAPPY},completed,completed,1,,,4,yes,42,recorded" in lines

        # A later campaign never calls the number that opted out.
        w.calls.placed.clear()
        w.calls.citizens[HAPPY] = SurveyCitizen(keys=["5", "2", "30#"])
        later = await w.campaign([OPTS_OUT, HAPPY])
        await until(lambda: _done(w, later))
        rows = await _numbers(w, later)
        assert (rows[OPTS_OUT]["status"], rows[OPTS_OUT]["attempts"]) == ("opted_out", 0)
        assert rows[HAPPY]["status"] == "completed"
        assert w.calls.placed == [HAPPY]
        # The citizen's phone showed the hotline (the dialplan's [globals]), every time.
        assert w.calls.shown[HAPPY] == '"Hotline" <080012345>'


async def test_survey_calls_never_hold_more_lines_than_allowed(db_url: str, tmp_path: Path) -> None:
    """Each campaign within its lines, and all of them within the ACD's `max_lines`."""
    async with survey_world(db_url, tmp_path, {"max_lines": 3}) as w:
        first = [f"+35988870{n:04d}" for n in range(6)]
        second = [f"+35988871{n:04d}" for n in range(6)]
        for phone in first + second:
            w.calls.citizens[phone] = SurveyCitizen(keys=["5", "1", "20#"], answer_after_s=5)
        a = await w.campaign(first, lines=2)
        b = await w.campaign(second, lines=2)
        await until(lambda: _done(w, a), 40)
        await until(lambda: _done(w, b), 40)
        assert w.calls.most_up == 3  # both campaigns used the lines, never more
        assert w.runner.most_at_once <= 3
        rows = {**(await _numbers(w, a)), **(await _numbers(w, b))}
        assert {r["status"] for r in rows.values()} == {"completed"}


async def test_no_survey_call_while_an_inbound_caller_waits_beyond_the_limit(
    db_url: str, tmp_path: Path
) -> None:
    async with survey_world(db_url, tmp_path) as w:
        w.calls.citizens[HAPPY] = SurveyCitizen(keys=["4", "1", "42#"])
        path = "/api/v1/agents/a1/state"
        assert (await w.call("POST", path, "agent", json={"state": "login"}))[0] == 200
        dialplan = w.server.pbx.dialplan
        agi, dialplan.agi = dialplan.agi, None  # this caller skips the IVR: on hold at once
        waiting = w.server.pbx.inbound_call(Citizen("+359888555131", "benefits", talk_s=60))
        dialplan.agi = agi
        await asyncio.sleep(1.5)  # 30 s of the ACD's time: over the 20 s limit
        assert w.runner.refusal() == "inbound_waiting"
        cid = await w.campaign([HAPPY])
        await asyncio.sleep(1.0)  # five rounds
        assert w.calls.placed == []
        assert (await _numbers(w, cid))[HAPPY]["attempts"] == 0
        status, _ = await w.call("DELETE", f"/api/v1/calls/{waiting.linkedid}", "supervisor")
        assert status == 200
        await until(lambda: _done(w, cid))
        assert w.calls.placed == [HAPPY]


async def test_a_list_is_checked_line_by_line_and_campaigns_move_only_as_allowed(
    db_url: str, tmp_path: Path
) -> None:
    async with survey_world(db_url, tmp_path) as w:
        spec = {"name": "Health care", "questionnaire": {"questions": [
            {"id": "care", "kind": "scale", "prompt": "cti/survey-care"}]}}  # fmt: skip
        assert (await w.call("POST", "/api/v1/campaigns", "agent", json=spec))[0] == 403
        bad_prompt = {**spec, "questionnaire": {"questions": [
            {"id": "care", "kind": "scale", "prompt": "../../etc/passwd x"}]}}  # fmt: skip
        status, err = await w.call("POST", "/api/v1/campaigns", "supervisor", json=bad_prompt)
        assert (status, err["code"]) == (422, "invalid_request")
        status, created = await w.call("POST", "/api/v1/campaigns", "supervisor", json=spec)
        assert status == 201
        cid = created["id"]
        status, err = await w.call("POST", f"/api/v1/campaigns/{cid}/start", "supervisor")
        assert (status, err["code"]) == (409, "campaign_empty")
        csv = "phone,name\n0888 600 100,Ivan\n12ab,Maria\n+359888600100\n\n00359 888 600 101\n555\n"
        status, up = await w.call(
            "POST", f"/api/v1/campaigns/{cid}/numbers", "supervisor", data=csv
        )
        assert status == 200
        assert (up["added"], up["merged"]) == (2, 1)
        assert [(b["line"], b["text"]) for b in up["bad"]] == [(3, "12ab"), (7, "555")]
        assert all("not a phone number" in b["reason"] for b in up["bad"])
        assert {b["code"] for b in up["bad"]} == {"bad_phone"}
        for move in ("pause", "resume"):  # a draft is started, not resumed
            status, err = await w.call("POST", f"/api/v1/campaigns/{cid}/{move}", "supervisor")
            assert (status, err["code"]) == (409, "bad_campaign_state")
        status, err = await w.call("GET", "/api/v1/campaigns/999999", "supervisor")
        assert (status, err["code"]) == (404, "campaign_not_found")
        status, listed = await w.call("GET", "/api/v1/campaigns", "admin")
        assert [(c["id"], c["numbers"], c["state"]) for c in listed["items"]] == [(cid, 2, "draft")]


async def test_a_long_list_is_taken_whole_or_refused_whole_and_a_draft_can_be_discarded(
    db_url: str, tmp_path: Path
) -> None:
    async with survey_world(db_url, tmp_path) as w:
        spec = {"name": "City", "questionnaire": {"questions": [
            {"id": "care", "kind": "scale", "prompt": "cti/survey-care"}]}}  # fmt: skip
        _, created = await w.call("POST", "/api/v1/campaigns", "supervisor", json=spec)
        cid = created["id"]
        path = f"/api/v1/campaigns/{cid}/numbers"

        async def numbers() -> int:
            rows = await w.rows(
                "SELECT count(*) AS n FROM campaign_numbers WHERE campaign_id = $1", cid
            )
            return int(rows[0]["n"])

        # 100,000 lines (1.4 MB) arrive in many pieces: every one is read, none lost.
        lines = [f"+3598886{n:05d}" for n in range(100_000)]

        async def pieces(text: str) -> Any:
            raw = text.encode()
            for at in range(0, len(raw), 65_536):
                yield raw[at : at + 65_536]
                await asyncio.sleep(0.001)

        status, up = await w.call("POST", path, "supervisor", data=pieces("\n".join(lines)))
        assert (status, up["added"], up["merged"], up["bad"]) == (200, 100_000, 0, [])
        # Many bad lines: the first 1,000 listed, all counted.
        junk = "\n".join(f"x{n}" for n in range(1500))
        status, up = await w.call("POST", path, "supervisor", data=junk)
        assert (status, len(up["bad"]), up["bad_total"]) == (200, 1000, 1500)
        assert up["bad"][-1]["line"] == 1000
        # One line more: refused whole, nothing of it added.
        more = "\n".join([*lines[:50_000], *(f"+3598887{n:05d}" for n in range(50_001))])
        status, err = await w.call("POST", path, "supervisor", data=pieces(more))
        assert (status, err["code"]) == (422, "list_too_long")
        assert await numbers() == 100_000
        big = "+359888600100," + "x" * (4 * 1024 * 1024)
        status, err = await w.call("POST", path, "supervisor", data=pieces(big))
        assert (status, err["code"]) == (413, "list_too_large")
        now = dt.datetime.now(dt.UTC)
        query = {"source": "calls", "start": (now - dt.timedelta(days=401)).isoformat(),
                 "end": now.isoformat()}  # fmt: skip
        status, err = await w.call("POST", path + "/query", "supervisor", json=query)
        assert (status, err["code"], err["fields"][0]["path"]) == (422, "period_too_long", "end")
        query["start"] = (now + dt.timedelta(days=1)).isoformat()
        status, err = await w.call("POST", path + "/query", "supervisor", json=query)
        assert (status, err["code"]) == (422, "bad_period")

        # A draft is discarded with its numbers; a campaign that ran is not.
        assert (await w.call("DELETE", f"/api/v1/campaigns/{cid}", "agent"))[0] == 403
        assert (await w.call("DELETE", f"/api/v1/campaigns/{cid}", "supervisor"))[0] == 204
        assert await numbers() == 0
        status, err = await w.call("DELETE", f"/api/v1/campaigns/{cid}", "supervisor")
        assert (status, err["code"]) == (404, "campaign_not_found")
        ran = await w.campaign(["+359888600100"])
        status, err = await w.call("DELETE", f"/api/v1/campaigns/{ran}", "supervisor")
        assert (status, err["code"]) == (409, "bad_campaign_state")
        assert (await w.call("POST", f"/api/v1/campaigns/{ran}/stop", "supervisor"))[0] == 200
        status, err = await w.call(
            "POST", f"/api/v1/campaigns/{ran}/numbers", "supervisor", data="+359888600101"
        )
        assert (status, err["code"]) == (409, "bad_campaign_state")


async def test_numbers_come_from_the_cases_of_a_topic_and_results_go_by_topic(
    db_url: str, tmp_path: Path
) -> None:
    async with survey_world(db_url, tmp_path) as w:
        await w.execute(
            "INSERT INTO organisations (code, name) VALUES ('water', 'Water works');"
            "INSERT INTO topics (code, name, organisation) VALUES ('utility', 'Utility', 'water'),"
            " ('utility.water', 'Water', 'water'), ('social', 'Social', NULL)"
        )
        for topic, phone in (("utility.water", "0888600200"), ("social", "0888600201")):
            case = {"topic": topic, "phone": phone, "description": "x"}
            assert (await w.call("POST", "/api/v1/cases", "supervisor", json=case))[0] == 201
        spec = {"name": "Water", "organisation": "water", "questionnaire": {"questions": [
            {"id": "care", "kind": "scale", "prompt": "cti/survey-care"}]}}  # fmt: skip
        _, created = await w.call("POST", "/api/v1/campaigns", "supervisor", json=spec)
        cid = created["id"]
        now = dt.datetime.now(dt.UTC)
        query = {
            "source": "cases",
            "start": (now - dt.timedelta(days=1)).isoformat(),
            "end": (now + dt.timedelta(hours=1)).isoformat(),
            "topic": "utility",
            "organisation": "water",
        }
        path = f"/api/v1/campaigns/{cid}/numbers/query"
        status, added = await w.call("POST", path, "supervisor", json=query)
        assert (status, added["added"]) == (200, 1), added
        w.calls.citizens["+359888600200"] = SurveyCitizen(keys=["2"])
        assert (await w.call("POST", f"/api/v1/campaigns/{cid}/start", "supervisor"))[0] == 200
        await until(lambda: _done(w, cid))
        _, results = await w.call("GET", f"/api/v1/campaigns/{cid}/results", "supervisor")
        assert results["by_topic"] == [
            {"topic": "utility.water", "organisation": "water", "question": "care",
             "answers": 1, "mean": 2.0}
        ]  # fmt: skip


# --- the pure core -------------------------------------------------------------------------


def test_calling_hours_keep_the_centres_time_zone_its_summer_time_and_holidays() -> None:
    ivr = load_ivr(IVR_FILE)  # Europe/Sofia, 08:00-20:00 daily, holidays
    utc = dt.UTC
    # Summer time (EEST, UTC+3): 08:00 local is 05:00 UTC.
    assert outside_hours(ivr, None, dt.datetime(2026, 10, 24, 4, 59, tzinfo=utc)) is not None
    assert outside_hours(ivr, None, dt.datetime(2026, 10, 24, 5, 0, tzinfo=utc)) is None
    assert outside_hours(ivr, None, dt.datetime(2026, 10, 24, 16, 59, tzinfo=utc)) is None
    assert outside_hours(ivr, None, dt.datetime(2026, 10, 24, 17, 0, tzinfo=utc)) is not None
    # The night of 25 October clocks go back (EET, UTC+2): 05:00 UTC is now 07:00.
    assert outside_hours(ivr, None, dt.datetime(2026, 10, 25, 5, 0, tzinfo=utc)) is not None
    assert outside_hours(ivr, None, dt.datetime(2026, 10, 25, 6, 0, tzinfo=utc)) is None
    assert outside_hours(ivr, None, dt.datetime(2026, 10, 25, 17, 59, tzinfo=utc)) is None
    # Spring forward on 29 March: 05:00 UTC is 08:00 again, a day after it was 07:00.
    assert outside_hours(ivr, None, dt.datetime(2026, 3, 28, 5, 0, tzinfo=utc)) is not None
    assert outside_hours(ivr, None, dt.datetime(2026, 3, 29, 5, 0, tzinfo=utc)) is None
    # A holiday is closed all day; an unknown calendar is the default one.
    christmas_eve = dt.datetime(2026, 12, 24, 10, 0, tzinfo=utc)
    assert "Europe/Sofia" in (outside_hours(ivr, "calling", christmas_eve) or "")
    assert outside_hours(None, None, christmas_eve) is None  # no IVR, no calendar


def test_a_numbers_next_attempt_follows_the_rules() -> None:
    now = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
    rules = Rules(max_attempts=3, retry_after_s=3600)
    later = now + dt.timedelta(hours=1)
    assert after_attempt("no_answer", 1, rules, now) == ("pending", later)
    assert after_attempt("busy", 2, rules, now) == ("pending", later)
    assert after_attempt("machine", 3, rules, now) == ("failed", now)
    for final in ("completed", "partial", "refused", "opted_out"):
        assert after_attempt(final, 1, rules, now) == (final, now)


def test_a_list_merges_duplicates_and_names_each_bad_line() -> None:
    text = "0888 600 300\n+359888600300\nabc\n\n0888600301;Иван\n0888600302\tMaria\n1;2\n"
    numbers, bad, merged = parse_list(text)
    # A list saved with ";" or tabs (a spreadsheet's CSV in many locales) is read too.
    assert numbers == ["+359888600300", "+359888600301", "+359888600302"]
    assert merged == 1
    assert [(b.line, b.text, b.code) for b in bad] == [
        (3, "abc", "bad_phone"),
        (7, "1", "bad_phone"),
    ]


def test_a_list_too_long_is_refused_whole() -> None:
    lines = [f"+3598886{n:05d}" for n in range(MAX_UPLOAD_LINES)]
    numbers, bad, _ = parse_list("phone\n" + "\n".join(lines))  # a header besides: taken
    assert (len(numbers), bad) == (MAX_UPLOAD_LINES, [])
    with pytest.raises(StoreError) as refused:  # a header and one line too many
        parse_list("phone\n" + "\n".join([*lines, "+359888700000"]))
    assert refused.value.code == "list_too_long"
    numbers, _, _ = parse_list("\n".join(lines) + "\n\n ,x\n")  # empty lines do not count
    assert len(numbers) == MAX_UPLOAD_LINES
    with pytest.raises(StoreError) as refused:  # a field longer than the CSV reader takes
        parse_list("+359888700000\n" + '"' + "1" * 200_000 + '"\n')
    assert refused.value.code == "bad_list"
