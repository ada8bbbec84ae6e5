"""`meta.publication`: one row per successful publication of the marts; the newest is current.

This module owns the table: its DDL and every query on it. The new snapshot lists itself (the row
is written into it before the rename) and the working database records it once the rename is done.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from dagster_project.core.sql import ident
from dagster_project.core.warehouse import table_exists
from dagster_project.defs.ingest import ledger

PUBLICATION_TABLE = "meta.publication"

DDL = f"""
create schema if not exists meta;
create table if not exists {PUBLICATION_TABLE} (
    published_at timestamp not null,
    run_id varchar,
    kpi_rows bigint,
    ledger_max_id bigint
);
"""


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def publication_row(con: duckdb.DuckDBPyConnection, at: datetime, run_id: str | None) -> list:
    """The `meta.publication` row for publishing `con`'s marts now."""
    ensure_table(con)
    kpi_rows = (
        con.execute("select count(*) from marts.fct_kpi_values").fetchone()[0]
        if table_exists(con, "marts", "fct_kpi_values")
        else None
    )
    return [at, run_id, kpi_rows, ledger.max_ledger_id(con)]


def record_publication(con: duckdb.DuckDBPyConnection, row: list, database: str = "") -> None:
    """Append a publication row; `database` names an attached database (the new snapshot)."""
    ensure_table(con)
    prefix = f"{database}." if database else ""
    con.execute(f"insert into {prefix}{PUBLICATION_TABLE} values (?, ?, ?, ?)", row)


def last_published_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the marts were last published (None before the first publication)."""
    if not table_exists(con, "meta", "publication"):
        return None
    return con.execute(f"select max(published_at) from {PUBLICATION_TABLE}").fetchone()[0]


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> int:
    """The publications an attached database (a published snapshot) lists, itself included."""
    ensure_table(con)
    con.execute(f"delete from {PUBLICATION_TABLE}")
    if table_exists(con, "meta", "publication", database):
        con.execute(
            f"insert into {PUBLICATION_TABLE} by name "
            f"select * from {ident(database)}.{PUBLICATION_TABLE}"
        )
    return con.execute(f"select count(*) from {PUBLICATION_TABLE}").fetchone()[0]
