"""DuckDB helpers: one way to open the warehouse, with the memory and spill settings applied."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.lib.settings import Settings


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse file; writers get the memory limit and a spill directory beside it."""
    path = settings.warehouse_path
    if read_only and not path.exists():
        raise FileNotFoundError(f"warehouse {path} does not exist yet: run `opsvalue demo` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute(f"set memory_limit = '{settings.duckdb_memory_limit}'")
        con.execute(f"set threads = {int(settings.duckdb_threads)}")
        if not read_only:
            con.execute(f"set temp_directory = '{_sql_str(path.parent / 'tmp')}'")
        yield con
    finally:
        con.close()


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def ensure_text_table(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    text_columns: Sequence[str],
    tracking_columns: Sequence[tuple[str, str]],
) -> None:
    """Create `schema.name` with text columns plus typed tracking columns, or add any text
    column it lacks: the raw and quarantine tables keep every column a file brings, as text."""
    table = f"{_ident(schema)}.{_ident(name)}"
    con.execute(f"create schema if not exists {_ident(schema)}")
    if not table_exists(con, schema, name):
        cols = [f"{_ident(c)} varchar" for c in text_columns]
        cols += [f"{_ident(c)} {data_type}" for c, data_type in tracking_columns]
        con.execute(f"create table {table} ({', '.join(cols)})")
        return
    have = {r[0] for r in con.execute(f"describe {table}").fetchall()}
    for column in text_columns:
        if column not in have:
            con.execute(f"alter table {table} add column {_ident(column)} varchar")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
