"""Withdrawals on a real DuckDB file: requested, applied before the next load, and recorded."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.ingest import ledger, quarantine, withdrawals
from dagster_project.defs.ingest.load import ingest_source
from dagster_project.defs.ingest.withdrawals import WithdrawalRefused
from tests.defs.ingest.test_load import COLUMNS, table, write

AT = datetime(2026, 6, 1, 9, 30)
JAN = "claims/claims_2025-01.csv"
FEB = "claims/claims_2025-02.csv"


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    write(root / JAN, "claim_id,org_code,paid_amount\nA,X,1\nB,Y,2\n")
    write(root / FEB, "claim_id,org_code,paid_amount\nC,X,3\n")
    return root


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield connection
    connection.close()


def load(con, raw: Path):
    """What a run does for one source: the waiting withdrawals, then the files."""
    withdrawals.apply_pending(con, "claims", "run-2", AT)
    return ingest_source(con, "claims", raw / "claims", raw, COLUMNS, run_id="t")


def newest(con, path: str) -> tuple:
    return con.execute(
        "select status, message, rows_loaded, batch_id from meta.file_ledger where path = ? "
        "order by ledger_id desc limit 1",
        [path],
    ).fetchone()


def test_withdrawal_takes_the_files_rows_out_and_records_who_and_why(con, raw):
    load(con, raw)
    request, published = withdrawals.request(con, "claims", JAN, " sent  twice ", "li.wei", AT)
    assert request.reason == "sent twice" and published.rows_loaded == 2
    assert len(table(con)) == 3, "nothing happens before the next run"
    assert [w.path for w in withdrawals.pending(con)] == [JAN]

    load(con, raw)

    assert [row[3] for row in table(con)] == [FEB]
    status, message, rows, batch_id = newest(con, JAN)
    assert status == "withdrawn" and rows == 0
    assert "li.wei" in message and "sent twice" in message and "2 row(s) taken out" in message
    assert withdrawals.pending(con) == []
    (done,) = withdrawals.applied(con)
    assert (done.batch_id, done.rows_removed, done.run_id) == (batch_id, 2, "run-2")
    assert [f.path for f in ledger.published_files(con, "claims")] == [FEB]


def test_withdrawal_releases_the_files_open_quarantined_rows(con, raw):
    load(con, raw)
    for path, row in ((JAN, 3), (FEB, 2)):
        con.execute(
            "insert into quarantine.claims (claim_id, _source_file, _row_number, _batch_id, "
            "_failed_rules, _quarantined_at) values ('Z', ?, ?, 'b0', ['rule'], ?)",
            [path, row, AT],
        )
    withdrawals.request(con, "claims", JAN, "wrong month", "li.wei", AT)
    load(con, raw)
    released = con.execute(
        "select _source_file, _release_reason, _released_by_batch_id from quarantine.claims "
        "where _released_at is not null"
    ).fetchall()
    assert released == [(JAN, "file withdrawn", newest(con, JAN)[3])]
    assert quarantine.open_rows(con, "claims") == 1, "the other file's row still waits"


def test_the_withdrawn_bytes_stay_out_and_a_new_version_is_a_new_delivery(con, raw):
    load(con, raw)
    withdrawals.request(con, "claims", JAN, "test extract", "li.wei", AT)
    load(con, raw)
    os.utime(raw / JAN, ns=(1, 1))  # touched, same bytes
    report = load(con, raw)
    assert report.count("unchanged") == 2 and not report.changed
    assert newest(con, JAN)[0] == "withdrawn"

    write(raw / JAN, "claim_id,org_code,paid_amount\nA,X,10\n")
    report = load(con, raw)
    assert [f.status for f in report.files] == ["loaded", "unchanged"]
    assert ("A", "X", "10", JAN, 1) in table(con)


def test_a_deleted_file_is_missing_and_still_published_until_withdrawn(con, raw):
    load(con, raw)
    (raw / FEB).unlink()
    report = load(con, raw)
    assert not report.changed and len(table(con)) == 3, "a deletion takes nothing out"
    (missing,) = withdrawals.missing_files(con, raw)
    assert (missing.path, missing.rows_loaded) == (FEB, 1)

    withdrawals.request(con, "claims", FEB, "deleted by the sender", "li.wei", AT)
    assert withdrawals.missing_files(con, raw) == [], "the waiting withdrawal decides it"
    load(con, raw)
    assert withdrawals.missing_files(con, raw) == []
    assert [row[3] for row in table(con)] == [JAN, JAN]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("claims/nothing.csv", "not in the file ledger"),
        ("claims", "is not <source>/<file>"),
        ("claims/../x.csv", "is not <source>/<file>"),
        ("nosuch/x.csv", "no source named"),
    ],
)
def test_withdrawal_of_an_unknown_file_is_refused(con, raw, path, problem):
    load(con, raw)
    with pytest.raises(WithdrawalRefused, match=problem):
        source, text = withdrawals.split_path(path, ["claims", "tasks"])
        withdrawals.request(con, source, text, "why", "li.wei", AT)
    assert withdrawals.pending(con) == []


def test_withdrawal_is_refused_twice_without_a_reason_and_when_nothing_is_published(con, raw):
    load(con, raw)
    with pytest.raises(WithdrawalRefused, match="needs a reason"):
        withdrawals.request(con, "claims", JAN, "  ", "li.wei", AT)
    withdrawals.request(con, "claims", JAN, "why", "li.wei", AT)
    with pytest.raises(WithdrawalRefused, match="already waiting"):
        withdrawals.request(con, "claims", JAN, "why", "li.wei", AT)
    load(con, raw)
    with pytest.raises(WithdrawalRefused, match="withdrawn already"):
        withdrawals.request(con, "claims", JAN, "why", "li.wei", AT)
    # a file the gate rejected has nothing published
    write(raw / "claims" / "claims_2025-03.csv", "claim_id,paid_amount\nD,4\n")
    load(con, raw)
    with pytest.raises(WithdrawalRefused, match="never loaded"):
        withdrawals.request(con, "claims", "claims/claims_2025-03.csv", "why", "li.wei", AT)
    assert len(withdrawals.applied(con)) == 1 and withdrawals.pending(con) == []


def test_withdrawing_a_held_file_takes_out_the_earlier_version_it_still_publishes(con, raw):
    load(con, raw)
    write(raw / FEB, "claim_id,paid_amount\nC,30\n")  # a correction the gate rejects
    load(con, raw)
    assert newest(con, FEB)[0] == "rejected"
    assert [f.path for f in ledger.published_files(con, "claims")] == [JAN, FEB]
    withdrawals.request(con, "claims", FEB, "the correction is wrong too", "li.wei", AT)
    load(con, raw)
    assert [row[3] for row in table(con)] == [JAN, JAN]
    assert newest(con, FEB)[0] == "withdrawn"
    report = load(con, raw)
    assert not report.changed, "the rejected bytes are not judged again"
