"""Ingestion into a real DuckDB file: idempotent by file, lineage kept, nothing duplicated."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.ingest.files import list_extract_files
from dagster_project.defs.ingest.load import ingest_source

COLUMNS = ["claim_id", "org_code", "paid_amount"]


def write(path: Path, text: str, mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    write(root / "claims" / "claims_2025-01.csv", "claim_id,org_code,paid_amount\nA,X,1\nB,Y,2\n")
    write(root / "claims" / "claims_2025-02.csv", "claim_id,org_code,paid_amount\nC,X,3\n")
    return root


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield connection
    connection.close()


def load(con, raw: Path):
    return ingest_source(con, "claims", raw / "claims", raw, COLUMNS, run_id="t")


def table(con) -> list[tuple]:
    return con.execute(
        "select claim_id, org_code, paid_amount, _source_file, _row_number "
        "from raw.claims order by _source_file, _row_number"
    ).fetchall()


def test_ingest_source_loads_rows_with_lineage(con, raw):
    report = load(con, raw)
    assert report.count("loaded") == 2
    assert table(con) == [
        ("A", "X", "1", "claims/claims_2025-01.csv", 1),
        ("B", "Y", "2", "claims/claims_2025-01.csv", 2),
        ("C", "X", "3", "claims/claims_2025-02.csv", 1),
    ]
    batches = con.execute("select count(distinct _batch_id) from raw.claims").fetchone()[0]
    assert batches == 2


def test_ingest_source_same_file_twice_changes_nothing(con, raw):
    load(con, raw)
    before = table(con)
    ledger_before = con.execute("select count(*) from meta.file_ledger").fetchone()[0]
    report = load(con, raw)
    assert report.count("unchanged") == 2 and not report.changed
    assert table(con) == before
    assert con.execute("select count(*) from meta.file_ledger").fetchone()[0] == ledger_before


def test_ingest_source_touched_file_with_same_content_is_not_reloaded(con, raw):
    load(con, raw)
    path = raw / "claims" / "claims_2025-01.csv"
    os.utime(path, ns=(1, 1))
    report = load(con, raw)
    assert not report.changed
    assert len(table(con)) == 3


def test_ingest_source_changed_file_replaces_its_rows_without_duplicates(con, raw):
    load(con, raw)
    write(raw / "claims" / "claims_2025-01.csv", "claim_id,org_code,paid_amount\nA,X,10\n")
    report = load(con, raw)
    assert [(f.status, f.replaces) for f in report.files] == [
        ("loaded", True),
        ("unchanged", False),
    ]
    assert table(con) == [
        ("A", "X", "10", "claims/claims_2025-01.csv", 1),
        ("C", "X", "3", "claims/claims_2025-02.csv", 1),
    ]
    statuses = con.execute(
        "select status from meta.file_ledger where path like '%2025-01%' order by ledger_id"
    ).fetchall()
    assert statuses == [("replaced",), ("loaded",)]  # the old version says it was replaced


def test_ingest_source_missing_column_is_rejected_and_keeps_published_rows(con, raw):
    load(con, raw)
    write(raw / "claims" / "claims_2025-02.csv", "claim_id,paid_amount\nC,3\n")
    report = load(con, raw)
    rejected = [f for f in report.files if f.status == "rejected"]
    assert len(rejected) == 1
    assert "claims/claims_2025-02.csv" in rejected[0].message
    assert "org_code" in rejected[0].message
    # the earlier version of the file stays loaded; the rejection is in the ledger
    assert ("C", "X", "3", "claims/claims_2025-02.csv", 1) in table(con)
    status = con.execute(
        "select status, message from meta.file_ledger order by ledger_id desc limit 1"
    ).fetchone()
    assert status[0] == "rejected" and "org_code" in status[1]


def test_ingest_source_extra_column_is_kept(con, raw):
    write(raw / "claims" / "claims_2025-03.csv", "claim_id,org_code,paid_amount,note\nD,X,4,hi\n")
    load(con, raw)
    assert con.execute("select note from raw.claims where claim_id = 'D'").fetchone() == ("hi",)


def test_list_extract_files_skips_underscore_and_other_suffixes(tmp_path):
    for name in ["a.csv", "b.parquet", "_manifest.csv", ".hidden.csv", "notes.txt"]:
        write(tmp_path / name, "x\n")
    assert [p.name for p in list_extract_files(tmp_path)] == ["a.csv", "b.parquet"]


def test_ingest_source_without_files_creates_empty_table(con, tmp_path):
    report = ingest_source(con, "claims", tmp_path / "none", tmp_path, COLUMNS)
    assert report.files == []
    cols = [r[0] for r in con.execute("describe raw.claims").fetchall()]
    assert cols[:3] == COLUMNS and "_source_file" in cols
