"""`cti import`: an old system's callers, cases with history and past calls from CSV,
through the command as an administrator runs it, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cti.cli import main
from cti.store.callers import screen_pop, upsert_caller
from cti.store.classifier import load_classifier, sync_classifier
from cti.store.models import CallerIn
from cti.store.reports import KpiFilter, kpis

DATA = Path(__file__).parent / "data" / "import"
CLASSIFIER = Path(__file__).parent.parent / "deploy" / "classifier.yaml"
ZONE = ["--timezone", "Europe/Sofia"]


def _sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def url(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's database with the example classifier, as `cti` finds it."""

    async def load() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            await sync_classifier(conn, load_classifier(CLASSIFIER))
        finally:
            await conn.close()

    asyncio.run(load())
    monkeypatch.setenv("CTI_DATABASE_URL", db_url)
    return db_url


def _import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run `cti import ...`; the exit code and the summary (the last line, JSON)."""
    code = main(["import", *args, *ZONE])
    out = capsys.readouterr().out
    return code, json.loads(out.strip().splitlines()[-1])


def _counts(summary: dict[str, Any], index: int = 0) -> dict[str, int]:
    keys = ("read", "imported", "already_present", "changed", "refused")
    return {k: summary["files"][index][k] for k in keys}


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _everything(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    """Callers, cases with their history, calls: the order the imports go in."""
    summaries = []
    for args in (
        ["callers", str(DATA / "callers.csv")],
        ["cases", str(DATA / "cases.csv"), "--history", str(DATA / "history.csv")],
        ["calls", str(DATA / "calls.csv")],
    ):
        summaries.append(_import(capsys, *args, *extra)[1])
    return summaries


def test_good_lines_go_in_and_each_bad_one_is_reported_with_line_column_and_reason(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "refused.csv"
    code, summary = _import(capsys, "callers", str(DATA / "callers.csv"), "--report", str(report))
    assert code == 1  # some lines were refused
    assert _counts(summary) == {
        "read": 6,
        "imported": 3,
        "already_present": 0,
        "changed": 0,
        "refused": 3,
    }
    rows = _sql(url, "SELECT phone, name, address, consent_contact, source FROM callers ORDER BY 1")
    assert [tuple(r) for r in rows] == [
        ("+35928001234", "Maria Georgieva", None, True, "legacy"),
        ("+359877555111", "Georgi Ivanov", "Plovdiv, bul. Ruski 12", False, "legacy"),
        ("+359888123456", "Иван Петров", "София, ул. Гладстон 5", True, "legacy"),
    ]
    refused = [(r["line"], r["column"], r["outcome"], r["reason"]) for r in _report(report)]
    assert refused == [
        ("5", "phone", "refused", "bad phone number: '12ab'"),
        ("6", "consent_recording", "refused", "not yes or no: 'maybe'"),
        ("7", "id", "refused", "required, but empty or missing"),
    ]


def test_cases_with_history_and_calls_are_what_the_agent_sees_when_the_citizen_calls(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "refused.csv"
    _import(capsys, "callers", str(DATA / "callers.csv"))
    history = ["--history", str(DATA / "history.csv"), "--report", str(report)]
    _, cases = _import(capsys, "cases", str(DATA / "cases.csv"), *history)
    assert _counts(cases, 0) | {"imported": 3, "refused": 3} == _counts(cases, 0)
    assert _counts(cases, 1) | {"imported": 4, "refused": 1} == _counts(cases, 1)
    why = {(Path(r["file"]).name, r["line"], r["column"]): r["reason"] for r in _report(report)}
    assert why == {
        ("cases.csv", "5", "topic"): "unknown topic 'no.such.topic': not in the classifier"
        " (cti load-classifier)",
        ("cases.csv", "6", "status"): "unknown status 'waiting' (one of: registered,"
        " forwarded, in_progress, resolved, citizen_informed, closed)",
        ("cases.csv", "7", "created_at"): "not a date and time: '2024-13-01 10:00'"
        " (e.g. 2024-03-05 14:30)",
        ("history.csv", "5", "case"): "no case 'K-99' imported from legacy"
        " (import the cases first)",
    }
    _, calls = _import(capsys, "calls", str(DATA / "calls.csv"), "--report", str(report))
    assert _counts(calls) | {"imported": 4, "refused": 3} == _counts(calls)
    why = {(r["line"], r["column"]): r["reason"] for r in _report(report)}
    assert why[("6", "caller")] == "bad phone number: 'anonymous'"
    assert why[("7", "talk_s")] == "30 s of talk on a call abandoned"
    assert why[("8", "case")].startswith("no case 'K-77' imported from legacy")

    async def pop() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await screen_pop(conn, "0888 123 456")
        finally:
            await conn.close()

    seen = asyncio.run(pop())
    assert seen.caller is not None
    assert seen.caller.name == "Иван Петров"
    assert [(i.id, i.outcome, i.cases) for i in seen.interactions] == [
        ("legacy:A-4", "answered", "AV-2024-0001"),
        ("legacy:A-2", "abandoned", None),
        ("legacy:A-1", "answered", "AV-2024-0001"),
    ]
    first = seen.interactions[-1]
    assert first.arrived_at == dt.datetime(2024, 1, 15, 7, 20, tzinfo=dt.UTC)  # Sofia, winter
    assert (first.topic, first.agent, first.talk_s) == ("social.benefits.heating", "operator7", 245)
    assert [(c.number, c.status, c.deadline) for c in seen.open_cases] == [
        ("2024-000040", "resolved", dt.date(2024, 6, 15)),  # wages: 14 days
        ("AV-2024-0001", "in_progress", dt.date(2024, 1, 22)),  # heating: 7 days
    ]
    history = _sql(
        url,
        "SELECT h.actor, h.action, h.changes FROM case_history h JOIN cases c ON c.id = h.case_id"
        " WHERE c.number = 'AV-2024-0001' ORDER BY h.id",
    )
    assert [(h["actor"], h["action"]) for h in history] == [
        ("operator7", "created"),
        ("operator7", "status"),
        ("asa.sofia", "status"),
    ]
    assert json.loads(history[2]["changes"])["note"] == "Checking the payment records"
    # A case without a number of its own got the next of its year, before 2024-000040.
    closed = _sql(url, "SELECT number, status, channel, source FROM cases WHERE status = 'closed'")
    assert [tuple(r) for r in closed] == [("2024-000001", "closed", "letter", "legacy")]
    assert _sql(url, "SELECT last FROM case_counters WHERE year = 2024")[0]["last"] == 40


def test_imported_calls_count_in_the_reports_of_their_own_days_only(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _everything(capsys)

    async def figures(start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            return await kpis(conn, KpiFilter("total", start, end, "Europe/Sofia", 20.0))
        finally:
            await conn.close()

    january = asyncio.run(
        figures(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), dt.datetime(2024, 2, 1, tzinfo=dt.UTC))
    )
    assert january[0] | {"offered": 2, "answered": 1, "abandoned": 1} == january[0]
    assert january[0]["asa_s"] == 35.0
    assert january[0]["aht_s"] == 275.0
    now = dt.datetime.now(dt.UTC)
    today = asyncio.run(figures(now - dt.timedelta(days=30), now + dt.timedelta(days=1)))
    assert today[0]["offered"] == 0


def test_a_dry_run_checks_everything_and_writes_nothing(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    callers, cases, calls = _everything(capsys, "--dry-run")
    assert callers["dry_run"] is True
    assert _counts(callers)["imported"] == 3
    assert _counts(cases, 1)["imported"] == 4  # the history finds the cases it would import
    # The calls filed under cases are refused: the dry run of the cases wrote none.
    assert _counts(calls) | {"imported": 1, "refused": 6} == _counts(calls)
    for table in ("callers", "cases", "case_history", "interactions", "import_keys"):
        assert _sql(url, f"SELECT count(*) AS n FROM {table}")[0]["n"] == 0, table
    assert _sql(url, "SELECT count(*) AS n FROM case_counters")[0]["n"] == 0


def test_a_second_run_imports_nothing_twice(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = _everything(capsys)
    tables = ("callers", "cases", "case_history", "interactions", "case_interactions")
    before = {t: _sql(url, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables}
    second = _everything(capsys)
    for a, b in zip(first, second, strict=True):
        for i in range(len(a["files"])):
            assert _counts(b, i)["imported"] == 0
            assert _counts(b, i)["already_present"] == _counts(a, i)["imported"]
            assert _counts(b, i)["refused"] == _counts(a, i)["refused"]
    after = {t: _sql(url, f"SELECT count(*) AS n FROM {t}")[0]["n"] for t in tables}
    assert after == before
    assert before["interactions"] == 4


def test_a_line_changed_since_it_was_imported_is_reported_and_not_overwritten(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _import(capsys, "callers", str(DATA / "callers.csv"))
    changed = tmp_path / "callers.csv"
    text = (DATA / "callers.csv").read_text(encoding="utf-8")
    changed.write_text(text.replace("Maria Georgieva", "Maria Dimitrova"), encoding="utf-8")
    report = tmp_path / "report.csv"
    code, summary = _import(capsys, "callers", str(changed), "--report", str(report))
    assert code == 1
    assert _counts(summary) | {"changed": 1, "already_present": 2, "imported": 0} == _counts(
        summary
    )
    line = next(r for r in _report(report) if r["outcome"] == "changed")
    assert (line["line"], line["column"]) == ("3", "name")
    assert "changed, not overwritten" in line["reason"]
    names = _sql(url, "SELECT name FROM callers WHERE phone = '+35928001234'")
    assert names[0]["name"] == "Maria Georgieva"


def test_a_caller_we_know_keeps_what_we_know(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    async def known() -> None:
        conn = await asyncpg.connect(url)
        try:
            await upsert_caller(conn, CallerIn(phone="0888123456", name="Ivan P."))
        finally:
            await conn.close()

    asyncio.run(known())
    _, summary = _import(capsys, "callers", str(DATA / "callers.csv"))
    assert summary["files"][0]["merged"] == 1
    row = _sql(url, "SELECT * FROM callers WHERE phone = '+359888123456'")[0]
    # Our name and consents stay; the address we did not have comes from the old system.
    assert (row["name"], row["consent_contact"], row["source"]) == ("Ivan P.", False, None)
    assert row["address"] == "София, ул. Гладстон 5"


def test_windows_exports_cp1251_with_semicolons_and_utf8_with_a_bom(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = ["id;phone;name", "W-1;0888 111 222;Стоян Колев", "W-2;0888 111 333;Ана Ненова"]
    windows = tmp_path / "windows.csv"
    windows.write_bytes("\r\n".join(lines).encode("cp1251"))
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\r\n".join([*lines[:1], "W-3;0888 111 444;Ива Ганева"]).encode("utf-8-sig"))

    code = main(["import", "callers", str(windows), "--dry-run", *ZONE])
    said = capsys.readouterr()
    summary = json.loads(said.out.strip().splitlines()[-1])
    assert (code, _counts(summary)["refused"]) == (1, 2)  # read as UTF-8: refused, not garbled
    assert "windows.csv:2: name: not utf-8-sig text (a Windows export? --encoding cp1251)" in (
        said.err
    )
    code, summary = _import(capsys, "callers", str(windows), "--encoding", "cp1251")
    assert (code, _counts(summary)["imported"]) == (0, 2)
    code, summary = _import(capsys, "callers", str(bom))
    assert (code, _counts(summary)["imported"]) == (0, 1)
    names = _sql(url, "SELECT name FROM callers ORDER BY phone")
    assert [r["name"] for r in names] == ["Стоян Колев", "Ана Ненова", "Ива Ганева"]


def test_a_file_without_a_required_column_is_refused_whole(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "calls.csv"
    bad.write_text("id,caller,outcome\nA-1,0888123456,answered\n", encoding="utf-8")
    assert main(["import", "calls", str(bad)]) == 2
    assert "missing required column arrived_at" in capsys.readouterr().err
    assert _sql(url, "SELECT count(*) AS n FROM interactions")[0]["n"] == 0
    history = tmp_path / "history.csv"
    history.write_text("id;when;note\nH-1;2024-01-01 10:00;x\n", encoding="utf-8")
    argv = ["import", "cases", str(DATA / "cases.csv"), "--history", str(history)]
    assert main(argv) == 2  # checked before the cases go in: nothing of either
    assert "missing required column case, at" in capsys.readouterr().err
    assert _sql(url, "SELECT count(*) AS n FROM cases")[0]["n"] == 0


def test_a_line_the_database_refuses_takes_no_other_line_with_it(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "id,number,topic,status,created_at\n"
        "K-1,OLD-7,other,registered,2024-01-15 09:30\n"
        "K-2,OLD-7,other,closed,2024-01-16 09:30\n"  # the same old number again
        "K-3,,other,closed,2024-01-17 09:30\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.csv"
    code, summary = _import(capsys, "cases", str(cases), "--report", str(report))
    assert (code, _counts(summary)["imported"], _counts(summary)["refused"]) == (1, 2, 1)
    assert [(r["line"], r["column"], r["reason"]) for r in _report(report)] == [
        ("3", "number", "the case number is already another case's")
    ]
    numbers = _sql(url, "SELECT number FROM cases ORDER BY created_at")
    assert [r["number"] for r in numbers] == ["OLD-7", "2024-000001"]


def test_the_same_id_twice_in_one_file_goes_in_once(
    url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    twice = tmp_path / "callers.csv"
    twice.write_text(
        "id,phone,name\nC-1,0888111222,Ana\nC-1,0888111222,Ana\nC-1,0888111222,Anna\n",
        encoding="utf-8",
    )
    _, summary = _import(capsys, "callers", str(twice))
    assert _counts(summary) | {"imported": 1, "already_present": 1, "changed": 1} == _counts(
        summary
    )
    assert [r["name"] for r in _sql(url, "SELECT name FROM callers")] == ["Ana"]


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-01-15 09:20", "2024-01-15T07:20:00+00:00"),  # Sofia, winter: +02:00
        ("15.07.2024 09:20:30", "2024-07-15T06:20:30+00:00"),  # summer: +03:00
        ("15/07/2024 09:20", "2024-07-15T06:20:00+00:00"),
        ("2024-07-15T09:20:00+00:00", "2024-07-15T09:20:00+00:00"),  # an offset is kept
    ],
)
def test_times_without_an_offset_are_the_old_systems_local_time(text: str, utc: str) -> None:
    from zoneinfo import ZoneInfo

    from cti.store.import_models import parse_time

    assert parse_time(text, ZoneInfo("Europe/Sofia")).isoformat() == utc


@pytest.mark.parametrize(
    ("text", "seconds"), [("12", 12.0), ("12,5", 12.5), ("0:03:05", 185.0), ("1:05", 65.0)]
)
def test_seconds_as_old_systems_write_them(text: str, seconds: float) -> None:
    from cti.store.import_models import parse_seconds

    assert parse_seconds(text) == seconds
    with pytest.raises(ValueError, match="0 or more seconds"):
        parse_seconds("-" + text)
