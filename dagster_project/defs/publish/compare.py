"""The proof of a rebuild: what a database would publish against what the snapshot published.

Compared, with the snapshot attached to the rebuilt database:

- the KPIs: every (metric, month, org level, org unit) with its numerator, denominator and value
  (equal within 1e-9, relative: DuckDB's parallel sums may differ in the last bits), definition
  version and status; a pair only on one side is a difference;
- the definition history: every version of every metric, with its hash, time and summary;
- the file ledger: every entry, every column but the modification time of the file;
- the detail facts: the rows each batch has in each table carrying batches.

A metric the snapshot never published (no definition version, no KPI row: one an upgrade of the
dbt project adds) has nothing published to differ from: its version and KPI rows are listed as
new metrics, not as differences, so a rebuild after such an upgrade needs no
--accept-differences (which would also accept lost deliveries and moved values), and a new
metric's first version does not count as a new definition that explains moved KPIs. The KPIs
computed from the catalog itself (source system `metric_catalog`: governance coverage counts the
published metrics) take the dbt project as their input, not a delivery: when there are new
metrics, their moves are listed with them, not as differences.

`Proof.problems(strict=True)` demands equality (a rebuild before it publishes);
`strict=False` allows what a later delivery explains (new ledger entries and what they move)
but never that an entry, a version or a batch published before changed or went away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from dagster_project.core.sql import ident
from dagster_project.core.warehouse import table_exists
from dagster_project.defs.ingest import ledger
from dagster_project.defs.transform import definition_history

KPI_KEY = ("metric_name", "period_start", "org_level", "org_code")
KPI_NUMBERS = ("numerator", "denominator", "value")
KPI_LABELS = ("definition_version", "status")
# the source system of the metrics computed from the catalog itself
# (dbt/models/owners/transformation/fct_metric_governance.sql)
CATALOG_SOURCE = "metric_catalog"
TOLERANCE = 1e-9
SHOWN = 10


@dataclass
class Proof:
    kpis_changed: list[str] = field(default_factory=list)
    kpis_gone: list[str] = field(default_factory=list)
    kpis_new: list[str] = field(default_factory=list)
    versions_changed: list[str] = field(default_factory=list)
    versions_new: list[str] = field(default_factory=list)
    ledger_changed: list[str] = field(default_factory=list)
    ledger_new: list[str] = field(default_factory=list)
    batches_changed: list[str] = field(default_factory=list)
    metrics_new: dict[str, int] = field(default_factory=dict)  # metric -> its KPI rows
    kpis_moved_by_catalog: list[str] = field(default_factory=list)  # by the new metrics
    kpis_compared: int = 0
    versions_compared: int = 0
    ledger_compared: int = 0

    def problems(self, strict: bool) -> dict[str, list[str]]:
        """What contradicts the snapshot, by kind (empty when the proof holds)."""
        never = {
            "definition versions changed or gone": self.versions_changed,
            "ledger entries changed or gone": self.ledger_changed,
        }
        explained = {
            "KPI values changed": self.kpis_changed,
            "KPI values gone": self.kpis_gone,
            "KPI values new": self.kpis_new,
            "definition versions new": self.versions_new,
            "ledger entries new": self.ledger_new,
            "batches of the detail facts changed or gone": self.batches_changed,
        }
        # without strictness, what a new ledger entry or definition explains is allowed
        if not strict and (self.ledger_new or self.versions_new):
            explained = {}
        return {kind: items for kind, items in {**never, **explained}.items() if items}


def _close(column: str) -> str:
    before, after = f"before.{ident(column)}", f"after.{ident(column)}"
    return (
        f"(({before} is null and {after} is null) or abs({before} - {after}) <= "
        f"{TOLERANCE} * greatest(abs({before}), abs({after}), 1))"
    )


def _metrics(con: duckdb.DuckDBPyConnection, alias: str = "") -> set[str]:
    """Every metric a database holds: a definition version or a KPI row (`alias`: attached)."""
    versions = {metric for metric, _ in definition_history.versions(con, alias)}
    table = f"{ident(alias)}.marts.fct_kpi_values" if alias else "marts.fct_kpi_values"
    rows = con.execute(f"select distinct metric_name from {table}").fetchall()
    return versions | {metric for (metric,) in rows}


def _catalog_metrics(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The metrics computed from the catalog alone (every source system is the catalog)."""
    if not table_exists(con, "marts", "dim_metric_catalog"):
        return set()
    rows = con.execute("select metric_name, source_systems from marts.dim_metric_catalog")
    return {
        m
        for m, systems in rows.fetchall()
        if systems and set(systems.split(",")) == {CATALOG_SOURCE}
    }


def _kpis(
    con: duckdb.DuckDBPyConnection,
    alias: str,
    proof: Proof,
    published: set[str],
    moved_by_catalog: set[str],
) -> None:
    columns = ", ".join(ident(c) for c in (*KPI_KEY, *KPI_NUMBERS, *KPI_LABELS))
    same = " and ".join(
        [_close(c) for c in KPI_NUMBERS]
        + [f"before.{ident(c)} is not distinct from after.{ident(c)}" for c in KPI_LABELS]
    )
    key = ", ".join(ident(c) for c in KPI_KEY)
    rows = con.execute(
        f"""
        with
        before as (select {columns} from {ident(alias)}.marts.fct_kpi_values),
        after as (select {columns} from marts.fct_kpi_values)
        select
            {key},
            before.metric_name is null as is_new,
            after.metric_name is null as is_gone,
            coalesce({same}, false) as is_same,
            before.value,
            after.value,
            before.definition_version,
            after.definition_version
        from before full outer join after using ({key})
        order by all
        """
    ).fetchall()
    proof.kpis_compared = len(rows)
    for metric, month, level, code, is_new, is_gone, is_same, was, now, v_was, v_now in rows:
        name = f"{metric} {month} {level} {code}"
        if metric in moved_by_catalog and (is_new or is_gone or not is_same):
            proof.kpis_moved_by_catalog.append(f"{name}: {was!r} -> {now!r}")
        elif is_new and metric not in published:
            proof.metrics_new[metric] = proof.metrics_new.get(metric, 0) + 1
        elif is_new:
            proof.kpis_new.append(f"{name}: {now!r} (v{v_now})")
        elif is_gone:
            proof.kpis_gone.append(f"{name}: was {was!r} (v{v_was})")
        elif not is_same:
            proof.kpis_changed.append(f"{name}: {was!r} (v{v_was}) -> {now!r} (v{v_now})")


def _changes(before: dict[str, Any], after: dict[str, Any] | None) -> str:
    """`column: old -> new` for each column that differs, or that the row is gone."""
    if after is None:
        return "gone"
    return "; ".join(
        f"{column}: {_shown(value)} -> {_shown(after.get(column))}"
        for column, value in before.items()
        if after.get(column) != value
    )


def _shown(value: Any) -> str:
    """Text quoted (so 'None' is not None), times and numbers as they read."""
    return repr(value) if isinstance(value, str) else str(value)


def _versions(
    con: duckdb.DuckDBPyConnection, alias: str, proof: Proof, published: set[str]
) -> None:
    before, after = definition_history.versions(con, alias), definition_history.versions(con)
    proof.versions_compared = len(before)
    for (metric, version), row in before.items():
        if after.get((metric, version)) != row:
            change = _changes(row, after.get((metric, version)))
            proof.versions_changed.append(f"{metric} v{version}: {change}")
    proof.versions_new += [
        f"{metric} v{version}: {row['change_summary']}"
        for (metric, version), row in after.items()
        if (metric, version) not in before and metric in published
    ]
    for metric, _ in after:
        if metric not in published:
            proof.metrics_new.setdefault(metric, 0)


def _ledger(con: duckdb.DuckDBPyConnection, alias: str, proof: Proof) -> None:
    before, after = ledger.history(con, alias), ledger.history(con)
    proof.ledger_compared = len(before)

    def name(row: dict[str, Any]) -> str:
        return f"#{row['ledger_id']} {row['path']} {row['status']}"

    # a ledger written before `replaced` meant the superseded version is settled by the next
    # run (ledger.settle_versions): the same rows with loaded/replaced swapped is no change
    def settled(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None or row.get("status") not in ("loaded", "replaced"):
            return row
        return {**row, "status": "loaded"}

    for ledger_id, row in before.items():
        if settled(after.get(ledger_id)) != settled(row):
            proof.ledger_changed.append(f"{name(row)}: {_changes(row, after.get(ledger_id))}")
    proof.ledger_new += [name(row) for key, row in after.items() if key not in before]


def _batch_tables(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    rows = con.execute(
        "select table_name from duckdb_columns() where database_name = ? and schema_name = "
        "'marts' and column_name = '_batch_id'",
        [database],
    ).fetchall()
    return {name for (name,) in rows}


def _batches(con: duckdb.DuckDBPyConnection, alias: str, proof: Proof) -> None:
    here = con.execute("select current_database()").fetchone()[0]
    mine = _batch_tables(con, here)
    for table in sorted(_batch_tables(con, alias)):
        if table not in mine:
            proof.batches_changed.append(f"marts.{table}: gone")
            continue
        rows = con.execute(
            f"""
            with
            before as (select _batch_id, count(*) as n
                from {ident(alias)}.marts.{ident(table)} group by _batch_id),
            after as (select _batch_id, count(*) as n from marts.{ident(table)} group by _batch_id)
            select _batch_id, before.n, after.n
            from before left join after using (_batch_id)
            where after.n is distinct from before.n
            order by _batch_id
            """
        ).fetchall()
        proof.batches_changed += [f"marts.{table} {b}: {n} -> {m or 0} rows" for b, n, m in rows]


def prove(con: duckdb.DuckDBPyConnection, alias: str) -> Proof:
    """What `con`'s database would publish against the snapshot attached as `alias`."""
    proof = Proof()
    published = _metrics(con, alias)
    new = _metrics(con) - published
    _kpis(con, alias, proof, published, _catalog_metrics(con) - new if new else set())
    _versions(con, alias, proof, published)
    _ledger(con, alias, proof)
    _batches(con, alias, proof)
    return proof
