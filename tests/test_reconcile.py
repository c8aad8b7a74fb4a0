"""`cti reconcile`: the readers of Asterisk's files on lines a real Asterisk 22.10.1 wrote,
and the command against a real PostgreSQL.

tests/data/reconcile/{cel.csv,cdr.csv,queue_log} are the files of five pbx-tier runs
(deploy/asterisk's CSV mappings), put one after the other as one file spanning five
boots: 1796177279.0 ivanova answers and hangs up; 1796177296.0 the same, the caller hangs
up; 1796177315.0 abandoned after 6.7 s of music; 1796177337.0 ivanova's phone rings out,
petrov answers; 1796177453.0 the CTI was down, app_queue's fallback queue answered.
records.json is what the CTI stores for them (written for these lines: the CTI's times
are when it received Asterisk's events, 3 ms after Asterisk's own). cel-hold.csv,
cdr-hold.csv and records-hold.json are two real calls and the records the CTI stored for
them: ivanova puts the caller on hold from her desktop 2 s into the talk and resumes 3 s
later (1796178161.0), or the caller hangs up on hold (1796178192.0). cel-restart.csv and
cel-crash.csv: one call talking and one waiting in line when Asterisk got `core restart
now` (1796178480.0, 1796178488.2), or `kill -9` (1796178537.0, 1796178545.2).
cel-transfer.csv: ivanova answers and, 2 s in, transfers the caller to petrov from her
desktop (1796178618.0).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cti.cli import main
from cti.reconcile.cdr import CDR_FIELDS, calls_from_cdr, read_cdr
from cti.reconcile.cel import CEL_FIELDS, calls_from_cel, linkedids, read_cel
from cti.reconcile.compare import compare_cel
from cti.reconcile.errors import InputError
from cti.reconcile.models import Agents
from cti.reconcile.queue_log import calls_from_queue_log, read_queue_log
from cti.reconcile.service import make_options

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "reconcile"
CEL, CDR, QUEUE_LOG = DATA / "cel.csv", DATA / "cdr.csv", DATA / "queue_log"
ACD = ROOT / "tests" / "pbx" / "acd.yaml"
AGENTS = Agents(
    [("PJSIP/agent-1001", "ivanova"), ("PJSIP/agent-1002", "petrov"), ("PJSIP/agent-1003", "x")]
)
# The five calls arrived between these (2026-12-02 in Sofia).
FROM, TO = "2026-12-02T04:07:00+02:00", "2026-12-02T04:12:00+02:00"


# --- the deployment's mappings are what the readers read ----------------------------------


def _fields(conf: str) -> list[str]:
    text = (ROOT / "deploy" / "asterisk" / conf).read_text()
    (line,) = re.findall(r"^fields\s*=\s*(.+)$", text, re.M)
    return [re.sub(r"\(.*\)$", "", f.strip()).lower() for f in line.split(",")]


def test_the_readers_read_the_columns_the_deployment_writes() -> None:
    names = {"eventextra": "extra", "num": "cidnum"}  # Asterisk's names -> the reader's
    assert [names.get(f, f) for f in _fields("cel_custom.conf")] == list(CEL_FIELDS)
    assert _fields("cdr_custom.conf") == list(CDR_FIELDS)


# --- CEL ------------------------------------------------------------------------------------


def test_cel_gives_each_call_as_docs_records_defines_it() -> None:
    calls = calls_from_cel(read_cel(CEL), AGENTS)
    assert list(calls) == [
        "1796177279.0",
        "1796177296.0",
        "1796177315.0",
        "1796177337.0",
        "1796177453.0",
    ]
    agent_hung_up = calls["1796177279.0"]
    assert agent_hung_up.outcome == "answered"
    assert agent_hung_up.agent == "ivanova"
    assert agent_hung_up.arrived_at == 1796177279.172631  # the trunk's CHAN_START
    assert agent_hung_up.queued_at == 1796177286.517412  # music in [cti-hold]
    assert agent_hung_up.answered_at == 1796177288.038485  # the agent leg's ANSWER
    assert agent_hung_up.ended_at == 1796177292.049282  # LINKEDID_END
    assert agent_hung_up.wait_s == 1.521
    assert agent_hung_up.ring_s == 1.507  # agent leg CHAN_START -> ANSWER
    assert agent_hung_up.talk_s == 4.011  # agent leg ANSWER -> HANGUP
    assert agent_hung_up.hold_s == 0.0  # the moment of music in line is no hold
    assert agent_hung_up.hangup_side == "agent"  # hangupsource: the agent's channel
    assert calls["1796177296.0"].hangup_side == "caller"
    roles = [(leg.channel, leg.role, leg.agent) for leg in agent_hung_up.legs]
    assert roles == [
        ("PJSIP/trunk-00000000", "caller", None),
        ("PJSIP/agent-1001-00000001", "agent", "ivanova"),
    ]


def test_cel_abandon_waits_until_the_caller_hangs_up_in_line() -> None:
    call = calls_from_cel(read_cel(CEL), AGENTS)["1796177315.0"]
    assert (call.outcome, call.agent, call.answered_at) == ("abandoned", None, None)
    assert call.wait_s == 6.702  # STREAM_BEGIN in [cti-hold] -> the caller's HANGUP
    assert (call.ring_s, call.talk_s, call.hold_s) == (None, None, 0.0)
    assert call.hangup_side == "caller"


def test_cel_ring_no_answer_keeps_both_agent_legs_and_the_second_answers() -> None:
    call = calls_from_cel(read_cel(CEL), AGENTS)["1796177337.0"]
    legs = [(leg.agent, leg.answered_at) for leg in call.legs if leg.role == "agent"]
    assert legs == [("ivanova", None), ("petrov", 1796177351.75961)]
    assert call.agent == "petrov"
    assert call.ring_s == 1.009  # petrov's leg only
    assert call.wait_s == 7.043  # from the first music, through ivanova's 6 s of ringing
    assert call.talk_s == 6.643
    assert call.queued_at == 1796177344.71659  # the first entry, not the return to hold


def test_cel_app_queue_call_is_queued_in_the_fallback_queue() -> None:
    call = calls_from_cel(read_cel(CEL), AGENTS)["1796177453.0"]
    assert call.queue == "cti-fallback"
    assert call.queued_at == 1796177454.400364  # music in Queue()
    assert (call.agent, call.wait_s, call.ring_s, call.talk_s) == ("ivanova", 1.011, 1.01, 19.506)
    assert call.hangup_side == "caller"


def test_cel_agent_of_a_member_that_is_not_ours_is_its_endpoint() -> None:
    call = calls_from_cel(read_cel(CEL), Agents())["1796177453.0"]
    assert call.agent == "PJSIP/agent-1001"  # app_queue's member, as app_queue names it


def _row(kind: str, at: float, channel: str, uniqueid: str, context: str, app: str = "",
         peer: str = "", extra: dict[str, Any] | None = None) -> str:  # fmt: skip
    fields = [kind, f"{at:.6f}", channel, uniqueid, "100.0", context, "s", app, "", peer]
    fields += [json.dumps(extra) if extra else "", "0888555001"]
    return ",".join('"' + f.replace('"', '""') + '"' for f in fields)


def test_cel_hold_from_the_desktop_is_the_music_in_cti_held() -> None:
    calls = calls_from_cel(read_cel(DATA / "cel-hold.csv"), AGENTS)
    resumed, hung_up_on_hold = calls["1796178161.0"], calls["1796178192.0"]
    assert resumed.hold_s == 3.006  # STREAM_BEGIN -> STREAM_END in [cti-held]
    assert resumed.talk_s == 9.648  # the agent leg's ANSWER -> HANGUP, less the hold
    assert resumed.wait_s == 1.045  # the music in [cti-hold] before is waiting, no hold
    assert hung_up_on_hold.hold_s == 10.657  # until the caller's BYE in the music
    assert hung_up_on_hold.talk_s == 2.019
    assert (resumed.hangup_side, hung_up_on_hold.hangup_side) == ("caller", "caller")


def test_cel_hold_counts_held_music_after_the_answer_once_and_not_music_in_line(
    tmp_path: Path,
) -> None:
    """Constructed: a hold from the desktop (the caller's music in [cti-held]) with a
    phone's own HOLD over part of it (no real capture has one): counted once."""
    caller, agent = "PJSIP/trunk-00000000", "PJSIP/agent-1001-00000001"
    moh = {"class": "default"}
    rows = [
        _row("CHAN_START", 100.0, caller, "100.0", "cti-inbound"),
        _row("ANSWER", 100.1, caller, "100.0", "cti-inbound", "Answer"),
        _row("STREAM_BEGIN", 105.0, caller, "100.0", "cti-hold", "MusicOnHold", extra=moh),
        _row("STREAM_END", 107.0, caller, "100.0", "cti-hold", "MusicOnHold"),
        _row("CHAN_START", 107.0, agent, "107.1", "cti-agents"),
        _row("ANSWER", 108.0, agent, "107.1", "cti-agents", "AppDial"),
        _row("BRIDGE_ENTER", 108.0, caller, "100.0", "cti-connect", "Dial", peer=agent),
        _row("BRIDGE_EXIT", 110.0, caller, "100.0", "cti-connect", "Dial"),
        _row("STREAM_BEGIN", 110.0, caller, "100.0", "cti-held", "MusicOnHold", extra=moh),
        _row("HOLD", 111.0, agent, "107.1", "cti-agent-held", "Wait"),
        _row("STREAM_END", 113.0, caller, "100.0", "cti-held", "MusicOnHold"),
        _row("UNHOLD", 114.0, agent, "107.1", "cti-agent-held", "Wait"),
        _row("HANGUP", 120.0, agent, "107.1", "cti-agent-held", "", extra={"hangupsource": agent}),
        _row("HANGUP", 120.0, caller, "100.0", "", "", extra={"hangupsource": agent}),
        _row("LINKEDID_END", 120.0, caller, "100.0", ""),
    ]
    path = tmp_path / "cel.csv"
    path.write_text("\n".join(rows) + "\n")
    (call,) = calls_from_cel(read_cel(path), AGENTS).values()
    assert call.queued_at == 105.0
    assert call.wait_s == 3.0
    assert call.hold_s == 4.0  # 110 -> 114: music 110-113 and the phone's hold 111-114
    assert call.talk_s == 8.0  # 108 -> 120, less the hold
    assert call.hangup_side == "agent"


def test_cel_transfer_to_an_agent_keeps_the_answering_agent_and_sums_the_talk() -> None:
    (call,) = calls_from_cel(read_cel(DATA / "cel-transfer.csv"), AGENTS).values()
    agents = [(leg.agent, leg.answered_at) for leg in call.legs if leg.role == "agent"]
    assert agents == [("ivanova", 1796178626.771535), ("petrov", 1796178629.794699)]
    # The answering agent: hers is the answer, the ring and the wait (docs/records.md).
    assert (call.agent, call.answered_at, call.ring_s) == ("ivanova", 1796178626.771535, 1.006)
    assert call.talk_s == 11.682  # her 2.015 s and his 9.667 s; the ring between is neither
    assert call.hold_s == 0.0


def test_cel_restart_fails_the_waiting_call_and_ends_the_talking_one_by_the_system() -> None:
    calls = calls_from_cel(read_cel(DATA / "cel-restart.csv"), AGENTS)
    talking, waiting = calls["1796178480.0"], calls["1796178488.2"]
    # No hangupsource in either HANGUP: nobody's side asked, Asterisk did.
    assert (talking.outcome, talking.hangup_side, talking.talk_s) == ("answered", "system", 12.056)
    assert (waiting.outcome, waiting.hangup_side, waiting.wait_s) == ("failed", "system", 4.693)


def test_cel_crash_leaves_calls_without_an_end_and_only_what_is_known_is_compared() -> None:
    calls = calls_from_cel(read_cel(DATA / "cel-crash.csv"), AGENTS)
    talking, waiting = calls["1796178537.0"], calls["1796178545.2"]
    assert (talking.finished, waiting.finished) == (False, False)  # kill -9: no LINKEDID_END
    assert (talking.outcome, talking.agent, talking.wait_s) == ("answered", "ivanova", 1.019)
    assert (talking.talk_s, talking.hangup_side, talking.ended_at) == (None, None, None)
    assert (waiting.outcome, waiting.wait_s, waiting.queued_at) == (None, None, 1796178553.138014)
    # As the CTI stored them (pbx_lost, seen when Asterisk came back): no disagreement.
    ours_talking = replace(talking, ended_at=1796178558.330086, talk_s=12.526, hold_s=0.0)
    ours_talking.hangup_side = "system"
    ours_waiting = replace(waiting, outcome="failed", wait_s=5.192, ended_at=1796178558.330086)
    assert compare_cel(ours_talking, talking, 0.1) == []
    assert compare_cel(ours_waiting, waiting, 0.1) == []
    # What is known is still compared.
    (d,) = compare_cel(replace(ours_talking, agent="petrov"), talking, 0.1)
    assert (d.field, d.ours, d.asterisk) == ("agent", "petrov", "ivanova")


# --- queue_log and CDR ------------------------------------------------------------------


def test_queue_log_gives_app_queues_figures_in_whole_seconds() -> None:
    entries = read_queue_log(QUEUE_LOG)
    calls = calls_from_queue_log(entries, linkedids(read_cel(CEL)), AGENTS)
    (call,) = calls.values()  # the QUEUESTART lines of the five boots are no calls
    assert call.id == "1796177453.0"
    assert (call.queue, call.entered_at, call.agent) == ("cti-fallback", 1796177454.0, "ivanova")
    assert (call.wait_s, call.ring_s, call.talk_s) == (1.0, 1.0, 19.0)
    assert (call.outcome, call.hangup_side) == ("answered", "caller")


def test_queue_log_abandon_and_timeout(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(
        "100|7.1|q|NONE|ENTERQUEUE||0888|1\n"
        "104|7.1|q|NONE|ABANDON|1|1|4\n"
        "200|8.1|q|NONE|ENTERQUEUE||0888|1\n"
        "260|8.1|q|NONE|EXITWITHTIMEOUT|1|1|60\n"
    )
    calls = calls_from_queue_log(read_queue_log(path), {}, AGENTS)
    assert (calls["7.1"].outcome, calls["7.1"].wait_s) == ("abandoned", 4.0)
    assert (calls["8.1"].outcome, calls["8.1"].wait_s) == ("overflowed", 60.0)


def test_cdr_gives_the_answering_agent_and_the_end() -> None:
    calls = calls_from_cdr(read_cdr(CDR), AGENTS)
    assert calls["1796177337.0"].agent == "petrov"  # ivanova's Dial: NO ANSWER
    assert calls["1796177337.0"].ended_at == 1796177358.401224
    assert calls["1796177315.0"].agent is None  # music on hold, no Dial
    assert calls["1796177453.0"].agent == "ivanova"  # Queue's member


# --- bad input: one line naming the problem -----------------------------------------------


def test_bad_input_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--cel .*nothing\.csv: no such file"):
        read_cel(tmp_path / "nothing.csv")
    short = tmp_path / "short.csv"
    short.write_text(CEL.read_text().splitlines()[0] + "\n" + '"CHAN_START","1.0","x"\n')
    with pytest.raises(InputError, match=r"short\.csv line 2: 3 fields, expected 12"):
        read_cel(short)
    lines = CEL.read_text().splitlines()
    lines[4] = lines[4].replace("1796177282.666119", "yesterday")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"bad\.csv line 5: eventtime 'yesterday' is not a"):
        read_cel(bad)
    log = tmp_path / "queue_log"
    log.write_text("100|7.1|q|NONE|ENTERQUEUE||0888|1\nnot a queue_log line\n")
    with pytest.raises(InputError, match=r"queue_log line 2: 1 fields, expected at least 5"):
        read_queue_log(log)


def test_naive_datetime_is_refused_naming_the_option() -> None:
    with pytest.raises(InputError, match=r"--from 2026-12-02T02:07:00: no time zone"):
        make_options("2026-12-02T02:07:00", TO, CEL)
    with pytest.raises(InputError, match=r"--to 'tomorrow': not an ISO datetime"):
        make_options(FROM, "tomorrow", CEL)
    with pytest.raises(InputError, match=r"--to .* is not after --from"):
        make_options(TO, FROM, CEL)


def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["reconcile", "--from", "2026-12-02T02:07", "--to", TO, "--cel", str(CEL)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == "cti reconcile: --from 2026-12-02T02:07: no time zone (add Z or an offset like +02:00)"
    )
    missing = tmp_path / "cel.csv"
    assert main(["reconcile", "--from", FROM, "--to", TO, "--cel", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"cti reconcile: --cel {missing}: no such file"


# --- the command against a real PostgreSQL --------------------------------------------------


async def _store(url: str, records: list[dict[str, Any]]) -> None:
    from datetime import UTC, datetime

    def ts(v: float | None) -> datetime | None:
        return None if v is None else datetime.fromtimestamp(v, UTC)

    conn = await asyncpg.connect(url)
    try:
        for r in records:
            await conn.execute(
                "INSERT INTO interactions (id, direction, queue, agent, arrived_at, queued_at,"
                " answered_at, ended_at, wait_s, ring_s, talk_s, hold_s, outcome, end_reason,"
                " hangup_side) VALUES ($1, 'inbound', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
                " $12, $13, $14)",
                r["id"], r["queue"], r["agent"], ts(r["arrived_at"]), ts(r["queued_at"]),
                ts(r["answered_at"]), ts(r["ended_at"]), r["wait_s"], r["ring_s"], r["talk_s"],
                r["hold_s"], r["outcome"], r["end_reason"], r["hangup_side"],
            )  # fmt: skip
            for leg in r["legs"]:
                await conn.execute(
                    "INSERT INTO legs (id, interaction_id, channel, role, agent, started_at,"
                    " answered_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    leg["id"], r["id"], leg["channel"], leg["role"], leg["agent"],
                    ts(leg["started_at"]), ts(leg["answered_at"]), ts(leg["ended_at"]),
                )  # fmt: skip
    finally:
        await conn.close()


def _records(**changes: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((DATA / "records.json").read_text())
    for key, value in changes.items():
        call, field = key.split("__")
        next(r for r in records if r["id"] == call.replace("_", "."))[field] = value
    return records


def _reconcile(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    argv = ["reconcile", "--from", FROM, "--to", TO, "--cel", str(CEL), "--acd", str(ACD)]
    code = main([*argv, "--cdr", str(CDR), "--queue-log", str(QUEUE_LOG), *extra])
    return code, capsys.readouterr().out


def test_records_equal_to_asterisks_reconcile_with_exit_0(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    asyncio.run(_store(db_url, _records()))
    code, out = _reconcile(capsys)
    assert code == 0, out
    assert "No disagreements." in out
    assert json.loads(out.splitlines()[-1]) == {
        "calls_ours": 5,
        "calls_asterisk": 5,
        "disagreements": 0,
    }
    totals = out[out.index("Totals:") :]
    assert re.search(
        r"^all\s+ours\s+5\s+4\s+1\s+0\s+0\s+0\s+0\s+17\.8\s+36\.3\s+0\.0$", totals, re.M
    )
    assert re.search(
        r"^\s+Asterisk\s+5\s+4\s+1\s+0\s+0\s+0\s+0\s+17\.8\s+36\.3\s+0\.0$", totals, re.M
    )
    assert re.search(r"^cti-fallback\s+ours\s+1\s+1\s", totals, re.M)
    assert re.search(r"^social_assistance\s+ours\s+4\s+3\s+1\s", totals, re.M)


def test_one_stored_field_that_differs_is_reported_exactly_with_exit_1(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    # As the CTI stored it before issue 16: the order of the two Hangup events said who.
    asyncio.run(_store(db_url, _records(**{"1796177296_0__hangup_side": "agent"})))
    code, out = _reconcile(capsys)
    assert code == 1, out
    table = out[out.index("Disagreements (1):") : out.index("Totals:")].strip().splitlines()
    assert len(table) == 4  # title, head, rule, one row
    assert table[3].split() == ["1796177296.0", "hangup_side", "agent", "caller", "CEL"]
    assert json.loads(out.splitlines()[-1])["disagreements"] == 1


def test_real_holds_as_the_cti_stored_them_agree_with_asterisk(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also: the caller who hung up on hold is in no CDR row after the Dial's bridge
    ended (the row's end is 10.7 s before the call's): that is no disagreement."""
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    asyncio.run(_store(db_url, json.loads((DATA / "records-hold.json").read_text())))
    argv = ["reconcile", "--from", "2026-12-02T04:22:00+02:00", "--to", "2026-12-02T02:24Z"]
    argv += ["--cel", str(DATA / "cel-hold.csv"), "--cdr", str(DATA / "cdr-hold.csv")]
    assert main([*argv, "--acd", str(ACD)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[-1]) == {
        "calls_ours": 2,
        "calls_asterisk": 2,
        "disagreements": 0,
    }
    assert re.search(r"^all\s+ours\s+2\s+2\s.*\s13\.7$", out, re.M)  # hold: 3.0 + 10.7


def test_a_time_off_by_more_than_the_tolerance_and_a_missing_call(
    db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    records = _records(**{"1796177337_0__talk_s": 6.9})
    asyncio.run(_store(db_url, [r for r in records if r["id"] != "1796177315.0"]))
    code, out = _reconcile(capsys)
    assert code == 1, out
    rows = [line.split() for line in out.splitlines() if line.startswith("17961773")]
    assert ["1796177315.0", "call", "missing", "present", "CEL"] in rows
    assert ["1796177337.0", "talk_s", "6.900", "6.643", "-0.257", "CEL"] in rows
    assert len(rows) == 2, out
    assert json.loads(out.splitlines()[-1]) == {
        "calls_ours": 4,
        "calls_asterisk": 5,
        "disagreements": 2,
    }
    # A wider tolerance lets the talk time pass; the missing call still does not.
    code, out = _reconcile(capsys, "--tolerance-s", "0.5")
    assert (code, json.loads(out.splitlines()[-1])["disagreements"]) == (1, 1)
