"""`marts.metric_definition_history` from the Python side: restored after a lost working database.

The dbt model (`dbt/models/marts/metric_definition_history.sql`) appends a version whenever a
metric's definition changes and ignores --full-refresh, so the history outlives rebuilds of the
marts; it cannot outlive the working database itself, as the definitions of the past are nowhere
else. A rebuild therefore creates the table from the published snapshot before dbt runs: dbt then
finds it, compares the current definitions with its latest versions and appends only real
changes.
"""

from __future__ import annotations

from typing import Any

import duckdb

from dagster_project.core.sql import ident
from dagster_project.core.warehouse import table_exists

HISTORY_TABLE = "marts.metric_definition_history"
COLUMNS = ("metric_name", "definition_version", "definition_hash", "changed_at", "change_summary")


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> int:
    """The history an attached database (a published snapshot) holds, as dbt built it; versions
    restored (0 when it has none: dbt then starts the history)."""
    if not table_exists(con, "marts", "metric_definition_history", database):
        return 0
    if table_exists(con, "marts", "metric_definition_history"):
        raise RuntimeError(f"{HISTORY_TABLE} exists already: restored only into a new database")
    con.execute("create schema if not exists marts")
    con.execute(f"create table {HISTORY_TABLE} as select * from {ident(database)}.{HISTORY_TABLE}")
    return con.execute(f"select count(*) from {HISTORY_TABLE}").fetchone()[0]


def versions(
    con: duckdb.DuckDBPyConnection, database: str = ""
) -> dict[tuple[str, int], dict[str, Any]]:
    """Every recorded version, (metric, version) -> column -> value; `database` names an
    attached database."""
    if not table_exists(con, "marts", "metric_definition_history", database or None):
        return {}
    table = f"{ident(database)}.{HISTORY_TABLE}" if database else HISTORY_TABLE
    rows = con.execute(f"select {', '.join(COLUMNS)} from {table} order by all").fetchall()
    return {row[:2]: dict(zip(COLUMNS, row, strict=True)) for row in rows}
