"""Freshness, gate state and stale metrics on a real DuckDB file."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.ingest.gate_state import (
    assess_freshness,
    compute_gate_state,
    ensure_tables,
    refresh_stale_metrics,
    write_gate_state,
)
from dagster_project.defs.ingest.ledger import ensure_ledger

NOW = datetime(2026, 11, 25, 12, 0)
CADENCES = {"claims": "daily", "staffing": "monthly", "contacts": "daily"}


def test_a_source_behind_the_others_is_stale():
    delivered = {
        "claims": NOW - timedelta(days=3),
        "contacts": NOW - timedelta(hours=2),
        "staffing": NOW - timedelta(days=20),
    }
    reference, found = assess_freshness(delivered, CADENCES, now=NOW)
    assert reference == NOW - timedelta(hours=2)
    stale = {f.source: f.reason for f in found if f.is_stale}
    assert list(stale) == ["claims"] and "expected daily" in stale["claims"]


def test_extracts_delivered_together_are_never_stale_relative_to_each_other():
    old = NOW - timedelta(days=400)
    _, found = assess_freshness({s: old for s in CADENCES}, CADENCES, now=NOW)
    assert not any(f.is_stale for f in found)


def test_an_explicit_reference_judges_every_source_against_it():
    old = NOW - timedelta(days=40)
    _, found = assess_freshness({s: old for s in CADENCES}, CADENCES, now=NOW, reference=NOW)
    assert {f.source for f in found if f.is_stale} == {"claims", "contacts"}


@pytest.fixture
def con(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "f.duckdb"))
    ensure_ledger(con)
    ensure_tables(con)
    yield con
    con.close()


def _ledger(con, path, status, at, rule=None):
    con.execute(
        "insert into meta.file_ledger (source, path, content_hash, size_bytes, mtime_ns, status, "
        "message, batch_id, loaded_at, rejection_rule) values ('claims', ?, 'h', 1, 1, ?, ?, "
        "'b', ?, ?)",
        [path, status, f"{path}: {rule}" if rule else None, at, rule],
    )


def test_gate_is_held_since_the_first_of_the_current_rejections(con):
    day = datetime(2026, 11, 1)
    _ledger(con, "claims/a.csv", "loaded", day)
    _ledger(con, "claims/a.csv", "rejected", day + timedelta(days=1), "columns")
    _ledger(con, "claims/a.csv", "rejected", day + timedelta(days=2), "file:encoding")
    state = compute_gate_state(con, "claims", "claims", ["claims/a.csv"], None)
    assert (state.state, state.check_name) == ("held", "file:encoding")
    assert state.since == day + timedelta(days=1)
    assert state.last_loaded_at == day
    # the owner withdraws the file: nothing is held any more
    assert compute_gate_state(con, "claims", "claims", [], None).state == "ok"


def test_stale_metrics_follow_the_catalogs_source_systems(con):
    write_gate_state(con, compute_gate_state(con, "claims", "claims", [], None), NOW)
    con.execute("update meta.source_gate_state set is_stale = true, stale_reason = 'late'")
    refresh_stale_metrics(con)  # before the first dbt build: no catalog, nothing to mark
    assert con.execute("select * from meta.stale_metrics").fetchall() == []
    con.execute("create schema if not exists marts")
    con.execute(
        "create table marts.dim_metric_catalog as select * from (values "
        "('claims_paid', 'claims,policies'), ('nps', 'nps_responses')) "
        "as t(metric_name, source_systems)"
    )
    refresh_stale_metrics(con)
    assert con.execute("select * from meta.stale_metrics").fetchall() == [
        ("claims_paid", "stale source claims: late")
    ]
