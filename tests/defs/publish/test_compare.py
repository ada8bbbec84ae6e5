"""The rebuild's proof on small databases: equal passes, every kind of difference is found."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.ingest import ledger
from dagster_project.defs.publish.compare import prove
from dagster_project.defs.publish.restore import attached

AT = datetime(2026, 5, 1, 8)


def entry(path: str, status: str = "loaded", batch: str = "b1") -> ledger.LedgerEntry:
    return ledger.LedgerEntry(
        "claims", path, "h", 10, 1, 2, status, None, batch, "r", AT, 2, 2, 0, 0, 0, None, None, "s"
    )


def make(path: Path) -> Path:
    """A database with the published tables the proof reads, one row or two each."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_kpi_values as select * from (values "
            "('nps', date '2026-04-01', 'group', 'GRP', 30.0, 100.0, 0.3, 1, 'green', 'x'), "
            "('nps', date '2026-04-01', 'branch', 'LIF-JS', 3.0, 9.0, 1.0 / 3, 1, 'red', 'x')) "
            "as t(metric_name, period_start, org_level, org_code, numerator, denominator, "
            "value, definition_version, status, _dbt_invocation_id)"
        )
        con.execute(
            "create table marts.metric_definition_history as select * from (values "
            "('nps', 1, 'h1', timestamp '2026-01-01', 'first published'), "
            "('nps', 2, 'h2', timestamp '2026-03-01', 'changed: parts')) "
            "as t(metric_name, definition_version, definition_hash, changed_at, change_summary)"
        )
        con.execute(
            "create table marts.fct_claims as select * from (values ('c1', 'b1', 'i'), "
            "('c2', 'b1', 'i')) as t(claim_id, _batch_id, _dbt_invocation_id)"
        )
        ledger.ensure_ledger(con)
        ledger.record(con, entry("claims/a.csv"))
    return path


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    return make(tmp_path / "snapshot.duckdb"), make(tmp_path / "work.duckdb")


def proof_of(work: Path, snapshot: Path):
    with duckdb.connect(str(work)) as con, attached(con, snapshot) as alias:
        return prove(con, alias)


def change(path: Path, sql: str, *params) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql, list(params))


def test_prove_equal_databases_has_no_problems(pair):
    snapshot, work = pair
    # a sum in another order differs in the last bits: still equal
    change(work, "update marts.fct_kpi_values set value = value * (1 + 1e-13)")
    proof = proof_of(work, snapshot)
    assert proof.problems(strict=True) == {}
    assert (proof.kpis_compared, proof.versions_compared, proof.ledger_compared) == (2, 2, 1)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("update marts.fct_kpi_values set value = 0.31 where value = 0.3", "KPI values changed"),
        ("update marts.fct_kpi_values set definition_version = 2", "KPI values changed"),
        ("delete from marts.fct_kpi_values where org_level = 'branch'", "KPI values gone"),
        ("delete from marts.metric_definition_history where definition_version = 2",
         "definition versions changed or gone"),
        ("update marts.metric_definition_history set changed_at = now()",
         "definition versions changed or gone"),
        ("update meta.file_ledger set status = 'rejected'", "ledger entries changed or gone"),
        ("delete from marts.fct_claims where claim_id = 'c2'",
         "batches of the detail facts changed or gone"),
    ],
)  # fmt: skip
def test_prove_finds_each_kind_of_difference(pair, sql, kind):
    snapshot, work = pair
    change(work, sql)
    assert kind in proof_of(work, snapshot).problems(strict=True)


def test_prove_lets_a_new_delivery_move_kpis_but_never_the_past(pair):
    snapshot, work = pair
    with duckdb.connect(str(work)) as con:
        ledger.record(con, entry("claims/b.csv", batch="b2"))
        con.execute("update marts.fct_kpi_values set value = 0.5 where org_level = 'group'")
    proof = proof_of(work, snapshot)
    assert set(proof.problems(strict=True)) == {"KPI values changed", "ledger entries new"}
    assert proof.problems(strict=False) == {}, "a new delivery explains it"
    change(work, "delete from marts.metric_definition_history where definition_version = 1")
    assert "definition versions changed or gone" in proof_of(work, snapshot).problems(False)


def add_metric(path: Path, metric: str, version: int = 1) -> None:
    """A metric's KPI row and definition version, as a build of a dbt project declaring it
    writes them."""
    change(
        path,
        "insert into marts.fct_kpi_values values "
        "(?, date '2026-04-01', 'group', 'GRP', 5.0, 10.0, 0.5, ?, 'green', 'y')",
        metric,
        version,
    )
    change(
        path,
        "insert into marts.metric_definition_history values "
        "(?, ?, 'h9', timestamp '2026-05-01', 'first published')",
        metric,
        version,
    )


def test_prove_lists_a_metric_never_published_as_new_not_as_a_difference(pair):
    """An upgrade adds a metric: nothing published differs, so a rebuild proves it as it is."""
    snapshot, work = pair
    add_metric(work, "claims_new_rate")
    proof = proof_of(work, snapshot)
    assert proof.problems(strict=True) == {}
    assert proof.metrics_new == {"claims_new_rate": 1}
    assert (proof.kpis_new, proof.versions_new) == ([], [])


def test_prove_a_new_metric_excuses_nothing_else(pair):
    """A published metric's new row or version is still a difference beside a new metric, and a
    new metric's version does not explain moved KPIs the way a new definition does."""
    snapshot, work = pair
    add_metric(work, "claims_new_rate")
    change(
        work,
        "insert into marts.fct_kpi_values values "
        "('nps', date '2026-04-01', 'branch', 'LIF-SH', 1.0, 2.0, 0.5, 2, 'red', 'y')",
    )
    change(work, "update marts.fct_kpi_values set value = 0.31 where value = 0.3")
    proof = proof_of(work, snapshot)
    assert proof.kpis_new == ["nps 2026-04-01 branch LIF-SH: 0.5 (v2)"]
    assert set(proof.problems(strict=True)) == {"KPI values new", "KPI values changed"}
    assert set(proof.problems(strict=False)) == {"KPI values new", "KPI values changed"}
    add_metric(work, "nps", version=3)  # a published metric's new version
    assert "definition versions new" in proof_of(work, snapshot).problems(strict=True)
    # a metric published before, taken out of the catalog and back: its rows are not new
    change(snapshot, "delete from marts.fct_kpi_values where metric_name = 'nps'")
    assert proof_of(work, snapshot).metrics_new == {"claims_new_rate": 1}


def test_prove_lets_new_metrics_move_only_the_kpis_computed_from_the_catalog(pair):
    """Governance coverage counts the published metrics: a new metric moves it (its source is
    the catalog, not a delivery); with no new metric it is a difference like any KPI, and a KPI
    of a delivered source never moves with the catalog."""
    snapshot, work = pair
    for path in (snapshot, work):
        change(
            path,
            "insert into marts.fct_kpi_values values "
            "('governance_coverage_rate', date '2026-04-01', 'group', 'GRP', 46.0, 46.0, 1.0, 1, "
            "'green', 'x')",
        )
        change(
            path,
            "create table marts.dim_metric_catalog as select * from (values "
            "('governance_coverage_rate', 'metric_catalog'), ('nps', 'contacts')) "
            "as t(metric_name, source_systems)",
        )
    moved = "update marts.fct_kpi_values set numerator = 47.0, denominator = 47.0 where {}"
    change(work, moved.format("metric_name = 'governance_coverage_rate'"))
    assert set(proof_of(work, snapshot).problems(strict=True)) == {"KPI values changed"}
    add_metric(work, "claims_new_rate")
    proof = proof_of(work, snapshot)
    assert proof.problems(strict=True) == {}
    assert proof.kpis_moved_by_catalog == [
        "governance_coverage_rate 2026-04-01 group GRP: 1.0 -> 1.0"
    ]
    change(work, moved.format("metric_name = 'nps' and org_level = 'group'"))
    assert set(proof_of(work, snapshot).problems(strict=True)) == {"KPI values changed"}


def test_published_files_are_what_raw_holds(tmp_path):
    with duckdb.connect(str(tmp_path / "l.duckdb")) as con:
        ledger.ensure_ledger(con)
        ledger.record(con, entry("claims/a.csv", batch="b1"))
        ledger.record(con, entry("claims/a.csv", "rejected", batch="b2"))
        ledger.record(con, entry("claims/b.csv", batch="b3"))
        ledger.record(con, entry("claims/b.csv", "withdrawn", batch="b4"))
        ledger.record(con, entry("claims/c.csv", "rejected", batch="b5"))
        ledger.record(con, entry("claims/d.csv", batch="b6"))
        ledger.record(con, entry("claims/d.csv", "replaced", batch="b7"))
        published = [(f.path, f.batch_id) for f in ledger.published_files(con)]
    assert published == [("claims/a.csv", "b1"), ("claims/d.csv", "b7")]
