"""The door on a real DuckDB file with the real claims suite: each bad input is an ordinary day.

Every case delivers one file into data/raw/claims/ next to a clean month that is already loaded,
and checks the documented outcome (expectations/README.md): rejected whole, quarantined in part,
or normalised and loaded, with a ledger entry, a message naming the file and the problem, and the
accounting rows delivered = loaded + quarantined (+ rejected).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contract import load_contract
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.load import ingest_source
from dagster_project.defs.ingest.outcomes import Gate, SourceLoadReport
from dagster_project.defs.ingest.rules.suite import (
    load_order,
    load_suite,
    load_suites,
    resolve_parameters,
)

CONTRACT = load_contract()
SUITES = load_suites(get_settings().expectations_dir)
NOW = datetime(2026, 11, 1)
MASTERS = ("org_units", "org_aliases", "centers")
BAD_NAME = "claims_bad.csv"


def load(con: duckdb.DuckDBPyConnection, raw: Path, source: str, tmp: Path) -> SourceLoadReport:
    suite = SUITES[source]
    gate = Gate(
        suite=suite,
        parameters=resolve_parameters(con, suite.parameters, NOW),
        key=CONTRACT[source].key,
        rejected_dir=tmp / "rejected",
        gx_sample_rows=200,
        gx_chunk_rows=5_000,
    )
    columns = [c.name for c in CONTRACT[source].columns]
    return ingest_source(con, source, raw / source, raw, columns, run_id="t", gate=gate)


@pytest.fixture(scope="module")
def clean_month(generated_raw: Path) -> Path:
    return sorted((generated_raw / "claims").glob("claims_*.csv"))[0]


@pytest.fixture
def workspace(tmp_path: Path, generated_raw: Path, clean_month: Path):
    """Masters and one clean claims month, loaded; yields (raw dir, connection)."""
    raw = tmp_path / "raw"
    for source in MASTERS:
        shutil.copytree(generated_raw / source, raw / source)
    (raw / "claims").mkdir(parents=True)
    shutil.copy2(clean_month, raw / "claims" / clean_month.name)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for source in load_order([*MASTERS, "claims"]):
        load(con, raw, source, tmp_path)
    yield raw, con
    con.close()


def rows_of(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def to_csv(rows: list[list[str]], line_end: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=line_end).writerows(rows)
    return out.getvalue()


def next_month(rows: list[list[str]], prefix: str = "CLN") -> list[list[str]]:
    """The clean rows under new claim ids: a plausible next delivery of the same source."""
    header, body = rows[0], rows[1:]
    at = header.index("claim_id")
    return [header] + [[*r[:at], r[at].replace("CLM", prefix), *r[at + 1 :]] for r in body]


def ledger(con: duckdb.DuckDBPyConnection, name: str = BAD_NAME) -> tuple:
    return con.execute(
        "select status, rejection_rule, message, rows_delivered, rows_loaded, rows_quarantined, "
        "rows_rejected from meta.file_ledger where path = ? order by ledger_id desc limit 1",
        [f"claims/{name}"],
    ).fetchone()


def raw_count(con: duckdb.DuckDBPyConnection, name: str = BAD_NAME) -> int:
    return con.execute(
        "select count(*) from raw.claims where _source_file = ?", [f"claims/{name}"]
    ).fetchone()[0]


def assert_balanced(row: tuple) -> None:
    status, _rule, _msg, delivered, loaded, quarantined, rejected = row
    if delivered is not None:
        assert delivered == loaded + quarantined + (rejected or 0)
    if status == "rejected":
        assert loaded == 0 and quarantined == 0


# --- the listed bad-input cases ----------------------------------------------------------------


def _empty(rows: list[list[str]]) -> bytes:
    return b""


def _header_only(rows: list[list[str]]) -> bytes:
    return to_csv(rows[:1]).encode()


def _gbk(rows: list[list[str]]) -> bytes:
    body = next_month(rows)
    handler = body[0].index("handler_id")
    body[1][handler] = "张三"  # a name typed where the id goes, saved by a GBK editor
    return to_csv(body).encode("gbk")


def _bom(rows: list[list[str]]) -> bytes:
    return b"\xef\xbb\xbf" + to_csv(next_month(rows)).encode()


def _truncated(rows: list[list[str]]) -> bytes:
    data = to_csv(next_month(rows)).encode()
    return data[: len(data) - 25]  # the transfer stopped in the middle of the last line


def _missing_column(rows: list[list[str]]) -> bytes:
    body = next_month(rows)
    at = body[0].index("org_code")
    return to_csv([r[:at] + r[at + 1 :] for r in body]).encode()


def _renamed_column(rows: list[list[str]]) -> bytes:
    body = next_month(rows)
    body[0][body[0].index("org_code")] = "org"
    return to_csv(body).encode()


def _extra_column(rows: list[list[str]]) -> bytes:
    body = next_month(rows)
    return to_csv([body[0] + ["note"]] + [r + ["checked"] for r in body[1:]]).encode()


def _reordered(rows: list[list[str]]) -> bytes:
    return to_csv([list(reversed(r)) for r in next_month(rows)]).encode()


def _not_csv(rows: list[list[str]]) -> bytes:
    return b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 8  # an .xlsx saved as .csv


def _mixed_dates(rows: list[list[str]]) -> bytes:
    body = next_month(rows)
    at = body[0].index("reported_at")
    stamp = datetime.fromisoformat(body[1][at])
    body[1][at] = f"{stamp:%Y/%m/%d %H:%M}".replace("/0", "/")  # year first: normalised
    body[2][at] = stamp.strftime("%m/%d/%Y %H:%M:%S")  # month or day first: ambiguous
    body[3][at] = "45717.4375"  # a spreadsheet serial number
    return to_csv(body).encode()


def _thousands(rows: list[list[str]]) -> bytes:
    body = next_month(rows)
    at = body[0].index("claimed_amount")
    body[1][at] = "1,234,567.89"
    return to_csv(body).encode()


CASES: dict[str, tuple[Callable[[list[list[str]]], bytes], str, str | None]] = {
    # case: (file builder, outcome, rule that rejects or quarantines)
    "empty_file": (_empty, "rejected", "file:empty"),
    "header_only": (_header_only, "loaded", None),
    "gbk_encoding": (_gbk, "rejected", "file:encoding"),
    "utf8_bom": (_bom, "loaded", None),
    "truncated_last_line": (_truncated, "quarantined", None),
    "missing_column": (_missing_column, "rejected", "columns"),
    "renamed_column": (_renamed_column, "rejected", "columns"),
    "extra_column": (_extra_column, "loaded", None),
    "columns_reordered": (_reordered, "loaded", None),
    "not_a_csv": (_not_csv, "rejected", "file:not_csv"),
    "mixed_date_formats": (_mixed_dates, "quarantined", "type:reported_at"),
    "thousands_separators": (_thousands, "loaded", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_an_ordinary_day(case, workspace, clean_month, tmp_path):
    raw, con = workspace
    build, outcome, rule = CASES[case]
    clean = rows_of(clean_month)
    (raw / "claims" / BAD_NAME).write_bytes(build(clean))
    before = con.execute("select count(*) from raw.claims").fetchone()[0]

    report = load(con, raw, "claims", tmp_path)  # no exception: the run goes on

    bad = next(f for f in report.files if f.path == f"claims/{BAD_NAME}")
    assert bad.message.startswith(f"claims/{BAD_NAME}") or bad.status != "rejected"
    row = ledger(con)
    assert_balanced(row)
    status, ledger_rule, message, delivered, loaded, quarantined, _ = row
    rows = len(clean) - 1
    # the clean month loaded before is untouched whatever happens to the new file
    assert (
        con.execute(
            "select count(*) from raw.claims where _source_file <> ?", [f"claims/{BAD_NAME}"]
        ).fetchone()[0]
        == before
    )
    if outcome == "rejected":
        assert status == "rejected" and ledger_rule == rule, message
        assert raw_count(con) == 0
        assert (tmp_path / "rejected" / "claims").is_dir(), "a rejected file is kept"
    elif outcome == "loaded":
        assert status == "loaded" and quarantined == 0, message
        assert raw_count(con) == loaded == (0 if case == "header_only" else rows)
    else:
        assert status == "loaded" and quarantined > 0, message
        assert loaded + quarantined == delivered
        if rule:
            rules = con.execute(
                "select list_distinct(flatten(list(_failed_rules))) from quarantine.claims "
                "where _source_file = ?",
                [f"claims/{BAD_NAME}"],
            ).fetchone()[0]
            assert rule in rules


def test_messages_name_the_problem(workspace, clean_month, tmp_path):
    raw, con = workspace
    clean = rows_of(clean_month)
    expected = {
        "claims_empty.csv": (_empty, "empty file"),
        "claims_gbk.csv": (_gbk, "GBK"),
        "claims_renamed.csv": (_renamed_column, "missing required column(s) org_code"),
        "claims_xlsx.csv": (_not_csv, "Excel .xlsx"),
    }
    for name, (build, _) in expected.items():
        (raw / "claims" / name).write_bytes(build(clean))
    load(con, raw, "claims", tmp_path)
    for name, (_, words) in expected.items():
        status, _, message, *_ = ledger(con, name)
        assert status == "rejected" and message.startswith(f"claims/{name}: ") and words in message
    assert "the contract does not know" in ledger(con, "claims_renamed.csv")[2]


def test_header_only_file_is_accepted_with_no_rows(workspace, clean_month, tmp_path):
    raw, con = workspace
    (raw / "claims" / BAD_NAME).write_bytes(_header_only(rows_of(clean_month)))
    load(con, raw, "claims", tmp_path)
    status, _, message, delivered, *_ = ledger(con)
    assert (status, delivered) == ("loaded", 0) and "header only" in message


def test_truncated_last_line_is_quarantined_not_lost(workspace, clean_month, tmp_path):
    raw, con = workspace
    clean = rows_of(clean_month)
    (raw / "claims" / BAD_NAME).write_bytes(_truncated(clean))
    load(con, raw, "claims", tmp_path)
    _, _, _, delivered, loaded, quarantined, _ = ledger(con)
    assert (delivered, loaded, quarantined) == (len(clean) - 1, len(clean) - 2, 1)
    last = con.execute(
        "select _row_number, _failed_rules from quarantine.claims where _source_file = ?",
        [f"claims/{BAD_NAME}"],
    ).fetchone()
    assert last[0] == len(clean) - 1
    assert set(last[1]) & {"file:truncated_last_line", "file:malformed_row"}


def test_malformed_rows_mid_file_keep_every_row_number(workspace, clean_month, tmp_path):
    raw, con = workspace
    body = next_month(rows_of(clean_month))
    lines = to_csv(body).splitlines()
    lines[3] += ",an extra field"  # data rows 3 and 6 cannot be split into the contract's columns
    lines[6] = lines[6].split(",", 1)[0]
    (raw / "claims" / BAD_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    load(con, raw, "claims", tmp_path)
    path = f"claims/{BAD_NAME}"
    held = con.execute(
        "select _row_number, _raw_line from quarantine.claims where _source_file = ? "
        "and list_contains(_failed_rules, 'file:malformed_row') order by _row_number",
        [path],
    ).fetchall()
    assert held == [(3, lines[3]), (6, lines[6])]
    at = body[0].index("claim_id")
    loaded = con.execute(
        "select _row_number, claim_id from raw.claims where _source_file = ? order by rowid",
        [path],
    ).fetchall()
    held_rows = con.execute(
        "select count(*) from quarantine.claims where _source_file = ?", [path]
    ).fetchone()[0]
    assert len(loaded) + held_rows == len(body) - 1
    # lineage: each loaded row carries the number of the file row it came from, in file order
    assert [n for n, _ in loaded] == sorted(n for n, _ in loaded)
    assert all(claim_id == body[n][at] for n, claim_id in loaded)
    assert {3, 6}.isdisjoint(n for n, _ in loaded)


def test_repeated_rows_of_a_file_keep_the_first_occurrence(workspace, clean_month, tmp_path):
    raw, con = workspace
    body = next_month(rows_of(clean_month))
    at = body[0].index("claim_id")
    handler = body[0].index("handler_id")
    body[2][handler] = ""  # null values of a key group together
    again = list(body[2])  # the same record under the same id ...
    rekeyed = [*body[2][:at], "CLN-REKEYED", *body[2][at + 1 :]]  # ... and under a new id
    body[4:4] = [again, rekeyed]  # now data rows 4 and 5
    (raw / "claims" / BAD_NAME).write_bytes(to_csv(body).encode())
    load(con, raw, "claims", tmp_path)
    held = con.execute(
        "select _row_number, _failed_rules from quarantine.claims where _source_file = ? "
        "order by _row_number",
        [f"claims/{BAD_NAME}"],
    ).fetchall()
    assert held == [(4, ["unique:claim_id", "content_duplicate"]), (5, ["content_duplicate"])]
    first = con.execute(
        "select _row_number from raw.claims where claim_id = ?", [body[2][at]]
    ).fetchall()
    assert first == [(2,)]


def test_rows_flagged_by_a_uniqueness_warning_load_in_file_order(workspace, clean_month, tmp_path):
    raw, con = workspace
    document = json.loads(SUITES["claims"].path.read_text(encoding="utf-8"))
    document["expectations"].append(
        {
            "type": "expect_column_values_to_be_unique",
            "kwargs": {"column": "decision"},
            "severity": "warning",
            "meta": {"rule": "repeated_decision", "scope": "file"},
        }
    )
    path = tmp_path / "suites" / "claims.json"
    path.parent.mkdir()
    path.write_text(json.dumps(document), encoding="utf-8")
    suite = load_suite(path)
    gate = Gate(suite, resolve_parameters(con, suite.parameters, NOW), CONTRACT["claims"].key)
    body = next_month(rows_of(clean_month))
    (raw / "claims" / BAD_NAME).write_bytes(to_csv(body).encode())
    columns = [c.name for c in CONTRACT["claims"].columns]
    ingest_source(con, "claims", raw / "claims", raw, columns, gate=gate)
    decisions = [r[body[0].index("decision")] for r in body[1:] if r[body[0].index("decision")]]
    flagged = con.execute(
        "select count(*) from meta.row_flags where _source_file = ? "
        "and list_contains(rules, 'repeated_decision')",
        [f"claims/{BAD_NAME}"],
    ).fetchone()[0]
    assert flagged == len(decisions) - len(set(decisions)) > 0
    numbers = con.execute(
        "select _row_number from raw.claims where _source_file = ? order by rowid",
        [f"claims/{BAD_NAME}"],
    ).fetchall()
    assert numbers == sorted(numbers) and len(numbers) > flagged


def test_mixed_date_formats_normalise_year_first_and_quarantine_the_rest(
    workspace, clean_month, tmp_path
):
    raw, con = workspace
    clean = rows_of(clean_month)
    (raw / "claims" / BAD_NAME).write_bytes(_mixed_dates(clean))
    load(con, raw, "claims", tmp_path)
    at = clean[0].index("reported_at")
    stamp = datetime.fromisoformat(clean[1][at])
    normalised = con.execute(
        "select reported_at from raw.claims where _source_file = ? and _row_number = 1",
        [f"claims/{BAD_NAME}"],
    ).fetchone()[0]
    assert normalised == f"{stamp:%Y-%m-%d %H:%M}:00"
    held = con.execute(
        "select _row_number, reported_at from quarantine.claims where _source_file = ? "
        "order by _row_number",
        [f"claims/{BAD_NAME}"],
    ).fetchall()
    assert [r[0] for r in held] == [2, 3]
    assert held[1][1] == "45717.4375", "quarantined rows keep the value as delivered"


def test_thousands_separators_are_normalised(workspace, clean_month, tmp_path):
    raw, con = workspace
    (raw / "claims" / BAD_NAME).write_bytes(_thousands(rows_of(clean_month)))
    load(con, raw, "claims", tmp_path)
    value = con.execute(
        "select claimed_amount from raw.claims where _source_file = ? and _row_number = 1",
        [f"claims/{BAD_NAME}"],
    ).fetchone()[0]
    assert value == "1234567.89"


def test_extra_and_reordered_columns_keep_every_value(workspace, clean_month, tmp_path):
    raw, con = workspace
    clean = rows_of(clean_month)
    (raw / "claims" / "claims_extra.csv").write_bytes(_extra_column(clean))
    reordered = [list(reversed(r)) for r in next_month(clean, "CLR")]
    (raw / "claims" / "claims_reordered.csv").write_bytes(to_csv(reordered).encode())
    load(con, raw, "claims", tmp_path)
    assert (
        con.execute(
            "select count(*) from raw.claims where _source_file = 'claims/claims_extra.csv' "
            "and note = 'checked'"
        ).fetchone()[0]
        == len(clean) - 1
    )
    columns = ", ".join(clean[0][1:])
    moved = con.execute(
        f"select {columns} from raw.claims where _source_file = 'claims/claims_reordered.csv' "
        "order by _row_number"
    ).fetchall()
    original = con.execute(
        f"select {columns} from raw.claims where _source_file = ? order by _row_number",
        [f"claims/{clean_month.name}"],
    ).fetchall()
    assert moved == original


def test_duplicate_delivery_of_the_same_file_changes_nothing(workspace, clean_month, tmp_path):
    raw, con = workspace
    path = raw / "claims" / clean_month.name
    ledger_rows = con.execute("select count(*) from meta.file_ledger").fetchone()[0]
    shutil.copy(clean_month, path)  # delivered again: same name, same bytes, a new mtime
    os.utime(path, ns=(1, 1))
    report = load(con, raw, "claims", tmp_path)
    assert [f.status for f in report.files] == ["unchanged"]
    assert con.execute("select count(*) from meta.file_ledger").fetchone()[0] == ledger_rows


def test_same_file_under_a_new_name_is_rejected(workspace, clean_month, tmp_path):
    raw, con = workspace
    shutil.copy(clean_month, raw / "claims" / BAD_NAME)
    load(con, raw, "claims", tmp_path)
    status, rule, message, delivered, *_ = ledger(con)
    assert (status, rule) == ("rejected", "file:duplicate_delivery")
    assert clean_month.name in message and delivered == len(rows_of(clean_month)) - 1


def test_the_same_new_file_twice_in_one_delivery_loads_once(workspace, clean_month, tmp_path):
    raw, con = workspace
    header, *rows = rows_of(clean_month)
    key = header.index("claim_id")
    fresh = [header] + [[*r[:key], "NEW" + r[key], *r[key + 1 :]] for r in rows]
    for name in ("claims_new_a.csv", "claims_new_b.csv"):
        (raw / "claims" / name).write_text(to_csv(fresh, "\n"))
    report = load(con, raw, "claims", tmp_path)
    status = {f.path: f.status for f in report.files}
    assert status["claims/claims_new_a.csv"] == "loaded"
    assert status["claims/claims_new_b.csv"] == "rejected"
    assert raw_count(con, "claims_new_a.csv") == len(rows)
    assert raw_count(con, "claims_new_b.csv") == 0


def test_same_rows_under_a_new_name_are_rejected_as_duplicates(workspace, clean_month, tmp_path):
    raw, con = workspace
    # re-exported: the same records with Windows line ends, so not the same bytes
    (raw / "claims" / BAD_NAME).write_text(to_csv(rows_of(clean_month), "\r\n"))
    load(con, raw, "claims", tmp_path)
    status, rule, message, delivered, _, _, rejected = ledger(con)
    assert (status, rule) == ("rejected", "rows:unique:claim_id")
    assert f"claims/{clean_month.name}" in message and rejected == delivered
    assert raw_count(con) == 0


def test_a_few_duplicates_of_loaded_rows_are_quarantined(workspace, clean_month, tmp_path):
    raw, con = workspace
    clean = rows_of(clean_month)
    fresh = next_month(clean)
    (raw / "claims" / BAD_NAME).write_bytes(to_csv(fresh + clean[1:3]).encode())
    load(con, raw, "claims", tmp_path)
    status, _, _, delivered, loaded, quarantined, _ = ledger(con)
    assert (status, loaded, quarantined) == ("loaded", delivered - 2, 2)
    assert (
        con.execute("select count(*) - count(distinct claim_id) from raw.claims").fetchone()[0] == 0
    )


def test_quarantined_row_is_released_when_the_corrected_file_arrives(
    workspace, clean_month, tmp_path
):
    raw, con = workspace
    body = next_month(rows_of(clean_month))
    org = body[0].index("org_code")
    good = body[1][org]
    body[1][org] = "NOT-A-UNIT"
    path = raw / "claims" / BAD_NAME
    path.write_bytes(to_csv(body).encode())
    load(con, raw, "claims", tmp_path)
    key = body[1][0]
    assert (
        con.execute(
            "select count(*) from quarantine.claims where claim_id = ? and _released_at is null",
            [key],
        ).fetchone()[0]
        == 1
    )

    body[1][org] = good  # the owner corrects the row and re-delivers the whole file
    path.write_bytes(to_csv(body).encode())
    load(con, raw, "claims", tmp_path)
    assert (
        con.execute("select count(*) from raw.claims where claim_id = ?", [key]).fetchone()[0] == 1
    )
    released = con.execute(
        "select _release_reason from quarantine.claims where claim_id = ?", [key]
    ).fetchall()
    assert released == [("file re-delivered",)]
    _, _, _, delivered, loaded, quarantined, _ = ledger(con)
    assert (loaded, quarantined) == (delivered, 0)


def test_correction_file_under_a_new_name_releases_the_quarantined_row(
    workspace, clean_month, tmp_path
):
    raw, con = workspace
    body = next_month(rows_of(clean_month))
    org = body[0].index("org_code")
    good = body[1][org]
    body[1][org] = "NOT-A-UNIT"
    (raw / "claims" / BAD_NAME).write_bytes(to_csv(body).encode())
    load(con, raw, "claims", tmp_path)
    fix = [body[0], [*body[1][:org], good, *body[1][org + 1 :]]]
    (raw / "claims" / "claims_bad_fix.csv").write_bytes(to_csv(fix).encode())
    load(con, raw, "claims", tmp_path)
    key = body[1][0]
    assert (
        con.execute("select count(*) from raw.claims where claim_id = ?", [key]).fetchone()[0] == 1
    )
    assert con.execute(
        "select _release_reason, _released_by_batch_id is not null from quarantine.claims "
        "where claim_id = ?",
        [key],
    ).fetchall() == [("corrected row loaded", True)]


def test_changed_suite_judges_a_rejected_file_again(workspace, clean_month, tmp_path):
    raw, con = workspace
    (raw / "claims" / BAD_NAME).write_bytes(_renamed_column(rows_of(clean_month)))
    load(con, raw, "claims", tmp_path)
    before = con.execute("select count(*) from meta.file_ledger").fetchone()[0]
    load(con, raw, "claims", tmp_path)  # same suite, same file: not judged again
    assert con.execute("select count(*) from meta.file_ledger").fetchone()[0] == before


CHILD = """
import resource, sys
from datetime import datetime
from pathlib import Path
import duckdb
from dagster_project.core.contract import load_contract
from dagster_project.defs.ingest.load import ingest_source
from dagster_project.defs.ingest.outcomes import Gate
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.rules.suite import load_order, load_suites, resolve_parameters

raw, db = Path(sys.argv[1]), sys.argv[2]
contract, suites = load_contract(), load_suites(get_settings().expectations_dir)
con = duckdb.connect(db)
con.execute("set memory_limit = '128MB'")
con.execute(f"set temp_directory = '{db}.tmp'")
for source in load_order(["org_units", "org_aliases", "centers", "claims"]):
    suite = suites[source]
    params = resolve_parameters(con, suite.parameters, datetime(2026, 11, 1))
    gate = Gate(suite, params, contract[source].key, gx_sample_rows=2000, gx_chunk_rows=20000)
    columns = [c.name for c in contract[source].columns]
    report = ingest_source(con, source, raw / source, raw, columns, gate=gate)
f = report.files[-1]
print(f.status, f.rows_delivered, f.rows, f.rows_quarantined,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def _big_file(clean_month: Path, target: Path, copies: int) -> int:
    """The clean month repeated under fresh claim and policy ids: distinct, valid records."""
    lines = clean_month.read_text(encoding="utf-8").splitlines()
    n = 0
    with target.open("w", encoding="utf-8") as fh:
        fh.write(lines[0] + "\n")
        for _ in range(copies):
            for line in lines[1:]:
                parts = line.split(",")
                parts[0], parts[1] = f"CLX{n:010d}", f"PX{n:09d}"
                fh.write(",".join(parts) + "\n")
                n += 1
    return n


def test_huge_file_is_streamed_with_bounded_memory(tmp_path, generated_raw, clean_month):
    """Five times the rows, about the same peak memory: DuckDB streams the file under its
    memory limit and GX sees bounded chunks."""
    import subprocess
    import sys

    # a file, not `python -c`: with the spark extra installed, pyspark (which GX imports) takes
    # a `-c` process for its own doctests and exits it
    child = tmp_path / "child.py"
    child.write_text(CHILD, encoding="utf-8")
    peaks = []
    for n_copies in (50, 250):
        raw = tmp_path / f"raw{n_copies}"
        for source in MASTERS:
            shutil.copytree(generated_raw / source, raw / source)
        (raw / "claims").mkdir()
        rows = _big_file(clean_month, raw / "claims" / "claims_big.csv", n_copies)
        out = subprocess.run(
            [sys.executable, str(child), str(raw), str(tmp_path / f"w{n_copies}.duckdb")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        status, delivered, loaded, quarantined, peak_mb = out[-5:]
        assert status == "loaded" and int(delivered) == rows
        assert int(loaded) + int(quarantined) == rows and int(loaded) > 0.99 * rows
        peaks.append(int(peak_mb))
    assert peaks[1] < peaks[0] + 80, f"peak RSS grew with the file: {peaks} MB"


def test_a_database_error_on_one_file_holds_that_file_only(
    workspace, clean_month, tmp_path, monkeypatch
):
    """The new files of a run are committed together; when that fails, file by file."""
    from dagster_project.defs.ingest import load as ingest

    raw, con = workspace
    clean = rows_of(clean_month)
    (raw / "claims" / "claims_a.csv").write_bytes(to_csv(next_month(clean, "CLA")).encode())
    (raw / "claims" / "claims_b.csv").write_bytes(to_csv(next_month(clean, "CLB")).encode())
    door = ingest.through_door

    def failing_door(con, gate, source, table, columns, item, *args):
        if item.rel_path.endswith("claims_b.csv"):
            con.execute("select * from no_such_table")  # a statement fails mid-transaction
        return door(con, gate, source, table, columns, item, *args)

    monkeypatch.setattr(ingest, "through_door", failing_door)
    report = load(con, raw, "claims", tmp_path)
    statuses = {f.path: (f.status, f.rule) for f in report.batches}
    assert statuses == {
        "claims/claims_a.csv": ("loaded", None),
        "claims/claims_b.csv": ("rejected", "gate:error"),
    }
    assert raw_count(con, "claims_a.csv") == len(clean) - 1
    assert_balanced(ledger(con, "claims_b.csv"))


def test_gx_disagreeing_with_the_door_holds_the_files(
    workspace, clean_month, tmp_path, monkeypatch
):
    from dagster_project.defs.ingest import load as ingest

    raw, con = workspace
    body = next_month(rows_of(clean_month))
    body[1][body[0].index("org_code")] = "NOT-A-UNIT"
    (raw / "claims" / BAD_NAME).write_bytes(to_csv(body).encode())
    judge = ingest.judge_with_gx

    def misjudging(*args, **kwargs):
        rows = judge(*args, **kwargs)
        kwargs.get("results", args[-1])["known_org:org_code"].gx_unexpected_count += 1
        return rows

    monkeypatch.setattr(ingest, "judge_with_gx", misjudging)
    load(con, raw, "claims", tmp_path)
    status, rule, message, *_ = ledger(con)
    assert (status, rule) == ("rejected", "gate:self_check")
    assert "known_org:org_code: GX 2, door 1" in message
    assert raw_count(con) == 0


def test_relaxing_a_rule_judges_the_held_rows_again(workspace, clean_month, tmp_path):
    """A false alarm: the owner relaxes the rule, and the rows it held are loaded, once."""
    import json

    from dagster_project.defs.ingest.rules.suite import load_suite

    raw, con = workspace
    body = next_month(rows_of(clean_month))
    amount = body[0].index("claimed_amount")
    body[1][amount] = "25000000.00"  # a genuine 25 million claim, above the plausible range
    (raw / "claims" / BAD_NAME).write_bytes(to_csv(body).encode())
    load(con, raw, "claims", tmp_path)
    assert ledger(con)[5] == 1

    document = json.loads(SUITES["claims"].path.read_text(encoding="utf-8"))
    for expectation in document["expectations"]:
        if (
            expectation["kwargs"].get("column") == "claimed_amount"
            and "max_value" in (expectation["kwargs"])
        ):
            expectation["kwargs"]["max_value"] = 100_000_000
    relaxed = tmp_path / "suites" / "claims.json"
    relaxed.parent.mkdir()
    relaxed.write_text(json.dumps(document), encoding="utf-8")
    suite = load_suite(relaxed)
    gate = Gate(suite, resolve_parameters(con, suite.parameters, NOW), CONTRACT["claims"].key)
    columns = [c.name for c in CONTRACT["claims"].columns]
    report = ingest_source(con, "claims", raw / "claims", raw, columns, gate=gate)
    assert {f.path: (f.status, f.replaces) for f in report.batches} == {
        f"claims/{BAD_NAME}": ("loaded", True)
    }
    key = body[1][0]
    assert (
        con.execute("select count(*) from raw.claims where claim_id = ?", [key]).fetchone()[0] == 1
    )
    assert con.execute(
        "select _release_reason from quarantine.claims where claim_id = ?", [key]
    ).fetchall() == [("suite changed",)]
