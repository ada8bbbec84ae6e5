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
# The weight profiles' versions (dbt/models/marts/scorecards/score_profile_history.sql) are kept
# the same way and restored with the metric definitions.
HISTORY_TABLES = (HISTORY_TABLE, "marts.score_profile_history")
COLUMNS = ("metric_name", "definition_version", "definition_hash", "changed_at", "change_summary")


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> int:
    """The histories an attached database (a published snapshot) holds, as dbt built them (the
    metric definitions' and the weight profiles'); metric versions restored (0 when it has none:
    dbt then starts the history)."""
    for table in HISTORY_TABLES:
        schema, name = table.split(".")
        if not table_exists(con, schema, name, database):
            continue
        if table_exists(con, schema, name):
            raise RuntimeError(f"{table} exists already: restored only into a new database")
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create table {table} as select * from {ident(database)}.{table}")
    if not table_exists(con, "marts", "metric_definition_history"):
        return 0
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


def latest_versions(
    con: duckdb.DuckDBPyConnection, database: str = ""
) -> dict[str, dict[str, Any]]:
    """Each metric's latest recorded version: metric -> column -> value (every column the table
    has; a history recorded before change notes existed has none)."""
    if not table_exists(con, "marts", "metric_definition_history", database or None):
        return {}
    table = f"{ident(database)}.{HISTORY_TABLE}" if database else HISTORY_TABLE
    cursor = con.execute(
        f"select * from {table} qualify row_number() over "
        "(partition by metric_name order by definition_version desc) = 1"
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {row["metric_name"]: row for row in rows}
