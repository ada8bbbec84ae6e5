"""Schema `quarantine`: the rows the door held back, one table per source, nothing ever deleted.

A quarantined row keeps every column as delivered (text, before normalisation), where it came
from (`_source_file`, `_row_number`, `_batch_id`), the rules it broke (`_failed_rules`) and when.
It is released, never deleted, when the correction arrives:

- the file is re-delivered under the same name: all open rows of its earlier version are released
  (`_release_reason = 'file re-delivered'`), and the new version is judged afresh;
- the source's suite changes (a rule relaxed after a false alarm): the files with open rows are
  judged again (`'suite changed'`);
- a row with the same record key is loaded from any later batch (a correction file under a new
  name): the open rows with that key are released (`'corrected row loaded'`);
- the file is withdrawn (`withdrawals.py`): all its open rows are released (`'file withdrawn'`).

Open rows are `where _released_at is null`; `quarantine.<source>` minus released rows is what is
still waiting for its owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from dagster_project.core.sql import ident, literal
from dagster_project.core.warehouse import ensure_text_table, table_exists
from dagster_project.defs.ingest.rules.types import normalised_sql

SCHEMA = "quarantine"
TRACKING_COLUMNS = (
    ("_raw_line", "varchar"),  # the line as delivered when it could not be split into columns
    ("_source_file", "varchar"),
    ("_row_number", "bigint"),
    ("_batch_id", "varchar"),
    ("_failed_rules", "varchar[]"),
    ("_quarantined_at", "timestamp"),
    ("_released_at", "timestamp"),
    ("_released_by_batch_id", "varchar"),
    ("_release_reason", "varchar"),
)
MALFORMED_RULE = "file:malformed_row"
TRUNCATED_RULE = "file:truncated_last_line"


def table_name(source: str) -> str:
    return f"{SCHEMA}.{ident(source)}"


def ensure_table(con: duckdb.DuckDBPyConnection, source: str, columns: Sequence[str]) -> None:
    """Create `quarantine.<source>` or add the columns a new file brings (all text)."""
    ensure_text_table(con, SCHEMA, source, columns, TRACKING_COLUMNS)


def open_rows(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """How many rows of a source are still waiting in quarantine (0 before its first load)."""
    if not table_exists(con, SCHEMA, source):
        return 0
    return con.execute(
        f"select count(*) from {table_name(source)} where _released_at is null"
    ).fetchone()[0]


def files_with_open_rows(con: duckdb.DuckDBPyConnection, source: str) -> set[str]:
    """The files of a source that still have rows waiting in quarantine."""
    rows = con.execute(
        f"select distinct _source_file from {table_name(source)} where _released_at is null"
    ).fetchall()
    return {r[0] for r in rows}


def release_file(
    con: duckdb.DuckDBPyConnection,
    source: str,
    rel_path: str,
    batch_id: str,
    at: datetime,
    reason: str = "file re-delivered",
) -> int:
    """Release the open rows of an earlier version of a file that is judged again (re-delivered,
    or its suite changed)."""
    row = con.execute(
        f"update {table_name(source)} set _released_at = ?, _released_by_batch_id = ?, "
        "_release_reason = ? "
        "where _source_file = ? and _released_at is null and _batch_id <> ?",
        [at, batch_id, reason, rel_path, batch_id],
    ).fetchone()
    return int(row[0]) if row else 0


def release_loaded_keys(
    con: duckdb.DuckDBPyConnection,
    source: str,
    key: Sequence[str],
    types: dict[str, str],
    uppercase: Sequence[str],
    loaded: str,
    batch_id: str,
    at: datetime,
) -> int:
    """Release open rows of earlier batches whose record key was just loaded from `loaded`.

    Quarantined values are kept as delivered, so they are normalised the way the door normalises
    before they are compared with the loaded (normalised) keys.
    """
    table = table_name(source)
    is_open = con.execute(
        f"select count(*) from {table} where _released_at is null and _batch_id <> ?", [batch_id]
    ).fetchone()[0]
    if not is_open or not key:
        return 0
    keys = ", ".join(ident(k) for k in key)
    on = " and ".join(
        f"k.{ident(k)} = {normalised_sql(f'q.{ident(k)}', types.get(k, 'varchar'), k in uppercase)}"
        for k in key
    )
    row = con.execute(
        f"update {table} as q set _released_at = ?, _released_by_batch_id = ?, "
        f"_release_reason = 'corrected row loaded' "
        f"from (select distinct {keys} from {loaded}) as k "
        f"where {on} and q._released_at is null and q._batch_id <> {literal(batch_id)}",
        [at, batch_id],
    ).fetchone()
    return int(row[0]) if row else 0


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    """Every quarantine table as an attached database (a published snapshot) has it, with the
    release of each row, replacing what is here. Rows from file versions no longer delivered
    cannot be judged again, so they are kept from there. Returns rows per source."""
    tables = con.execute(
        "select table_name, list(column_name order by column_index) from duckdb_columns() "
        "where database_name = ? and schema_name = ? group by table_name order by table_name",
        [database, SCHEMA],
    ).fetchall()
    tracking = {name for name, _ in TRACKING_COLUMNS}
    mine = con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() "
        "and schema_name = ?",
        [SCHEMA],
    ).fetchall()
    restored = {}
    for (source,) in mine:
        con.execute(f"delete from {table_name(source)}")
    for source, columns in tables:
        ensure_table(con, source, [c for c in columns if c not in tracking])
        con.execute(f"delete from {table_name(source)}")
        con.execute(
            f"insert into {table_name(source)} by name "
            f"select * from {ident(database)}.{table_name(source)}"
        )
        restored[source] = con.execute(f"select count(*) from {table_name(source)}").fetchone()[0]
    return restored
