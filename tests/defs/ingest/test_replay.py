"""Raw replayed from the delivery folder under the batches a restored ledger recorded."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project.core.contract import Column, SourceContract
from dagster_project.defs.ingest import ledger
from dagster_project.defs.ingest.load import ingest_source
from dagster_project.defs.ingest.replay import check_deliveries, replay_published
from dagster_project.defs.publish.restore import attached, restore_ledger
from tests.defs.ingest.test_load import COLUMNS, write
from tests.defs.publish.test_compare import entry

CONTRACT = {
    "claims": SourceContract(
        "claims",
        "Claims",
        "",
        "claims",
        "daily",
        ("claim_id",),
        tuple(Column(c, "varchar") for c in COLUMNS),
    )
}
RAW_COLUMNS = "claim_id, org_code, paid_amount, _source_file, _row_number, _batch_id, _loaded_at"


@pytest.fixture
def delivered(tmp_path: Path) -> tuple[Path, Path]:
    """A working database after a load, a correction, a rejection; and its delivery folder."""
    raw = tmp_path / "raw"
    write(raw / "claims" / "a.csv", "claim_id,org_code,paid_amount\nA,X,1\nB,Y,2\n")
    write(raw / "claims" / "b.csv", "claim_id,org_code,paid_amount\nC,X,3\n")
    db = tmp_path / "first.duckdb"
    with duckdb.connect(str(db)) as con:
        ingest_source(con, "claims", raw / "claims", raw, COLUMNS, run_id="1")
        write(raw / "claims" / "b.csv", "claim_id,org_code,paid_amount\nC,X,30\nD,X,4\n")
        write(raw / "claims" / "c.csv", "claim_id,paid_amount\nE,5\n")  # rejected: no org_code
        ingest_source(con, "claims", raw / "claims", raw, COLUMNS, run_id="2")
    return db, raw


def raw_rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select {RAW_COLUMNS} from raw.claims order by all").fetchall()


def test_replay_gives_raw_back_with_the_same_batches(delivered, tmp_path):
    first, raw = delivered
    second = tmp_path / "second.duckdb"
    with duckdb.connect(str(second)) as con:
        assert restore_ledger(con, first) == 4
        replayed = replay_published(con, CONTRACT, {}, raw)
        assert ledger.history(con) == _history(first), "the ledger is not written to"
    assert [(r.path, r.rows, r.agrees) for r in replayed] == [
        ("claims/a.csv", 2, True),
        ("claims/b.csv", 2, True),
    ]
    assert raw_rows(second) == raw_rows(first)


def test_replay_skips_a_version_whose_bytes_are_gone(delivered, tmp_path):
    first, raw = delivered
    (raw / "claims" / "a.csv").write_text("claim_id,org_code,paid_amount\nA,X,9\n")
    with duckdb.connect(str(tmp_path / "second.duckdb")) as con:
        restore_ledger(con, first)
        replayed = replay_published(con, CONTRACT, {}, raw)
    assert [(r.path, r.agrees) for r in replayed] == [
        ("claims/a.csv", False),
        ("claims/b.csv", True),
    ]


def test_check_deliveries_names_missing_changed_and_held_files(delivered):
    first, raw = delivered
    with duckdb.connect(str(first)) as con:
        files = ledger.published_files(con)
        assert check_deliveries(files, ledger.current_versions(con, "claims"), raw) == []
        (raw / "claims" / "a.csv").unlink()
        write(raw / "claims" / "b.csv", "claim_id,org_code,paid_amount\nC,X,31\n")
        problems = check_deliveries(files, ledger.current_versions(con, "claims"), raw)
        assert [(p.path, p.kind) for p in problems] == [
            ("claims/a.csv", "missing"),
            ("claims/b.csv", "changed"),
        ]
        # a correction the gate rejects: the published rows are the earlier version's
        write(raw / "claims" / "b.csv", "claim_id,paid_amount\nC,32\n")
        ingest_source(con, "claims", raw / "claims", raw, COLUMNS, run_id="3")
        files = ledger.published_files(con)
        problems = check_deliveries(files, ledger.current_versions(con, "claims"), raw)
    assert [(p.path, p.kind) for p in problems] == [
        ("claims/a.csv", "missing"),
        ("claims/b.csv", "held"),
    ]


def _history(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return ledger.history(con)


def test_restore_ledger_keeps_the_ids_and_numbers_new_entries_after_them(delivered, tmp_path):
    first, _ = delivered
    with duckdb.connect(str(tmp_path / "second.duckdb")) as con:
        restore_ledger(con, first)
        with attached(con, first) as alias:
            assert ledger.history(con) == ledger.history(con, alias)
        ledger.record(con, entry("claims/d.csv", batch="new"))
        assert ledger.max_ledger_id(con) == 5
