"""`meta.pipeline_state`: the small facts the pipeline keeps about its own progress.

One key/value table, owned by this module (its DDL and every query), used by more than one
concern, which is why it lives in the shared core:

- `BUILD_WATERMARK`: what the last successful dbt build was built from (defs/transform);
- `PUBLISHED`: the content fingerprint of the last publication, written by the publication into
  the working database and into the snapshot it publishes (defs/publish);
- `SITE`: the fingerprint of the snapshot the live site was built from (defs/site);
- `SNAPSHOT_WHOLE_BYTES`: a snapshot's size when it was last written whole (defs/publish).

The dbt asset decides whether a run has anything to do from this table alone: it never looks at
the published file or the site folder, which belong to the steps after it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import duckdb

from dagster_project.core.settings import Settings
from dagster_project.core.sql import ident
from dagster_project.core.warehouse import WorkingDatabaseLost, table_exists

LOG = logging.getLogger(__name__)

STATE_TABLE = "meta.pipeline_state"
BUILD_WATERMARK = "dbt_build_watermark"
PUBLISHED = "published_fingerprint"
SITE = "site_fingerprint"
SNAPSHOT_WHOLE_BYTES = "snapshot_written_whole_bytes"

STATE_DDL = f"""
create schema if not exists meta;
create table if not exists {STATE_TABLE} (
    state_key varchar primary key,
    state_value varchar not null,
    updated_at timestamp not null default current_timestamp
);
"""


def _table(database: str) -> str:
    return f"{ident(database)}.{STATE_TABLE}" if database else STATE_TABLE


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(STATE_DDL)


def read_state(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    ensure_table(con)
    row = con.execute(
        f"select state_value from {STATE_TABLE} where state_key = ?", [key]
    ).fetchone()
    return row[0] if row else None


def read_existing(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """A value from a database that may have no state table (a read-only snapshot)."""
    if not table_exists(con, "meta", "pipeline_state"):
        return None
    row = con.execute(
        f"select state_value from {STATE_TABLE} where state_key = ?", [key]
    ).fetchone()
    return row[0] if row else None


def write_state(con: duckdb.DuckDBPyConnection, key: str, value: str, database: str = "") -> None:
    """Set one key; `database` names an attached database (a snapshot being written)."""
    if not database:
        ensure_table(con)
    # one statement, so a kill never leaves the key deleted but not written; a MERGE rather than
    # `insert or replace`, since a snapshot's copy of the table has no primary key
    table = _table(database)
    con.execute(
        f"""
        merge into {table} as target using (select ? as state_key, ? as state_value) as new
            on target.state_key = new.state_key
        when matched then update set state_value = new.state_value, updated_at = current_timestamp
        when not matched then insert (state_key, state_value, updated_at)
            values (new.state_key, new.state_value, current_timestamp)
        """,
        [key, value],
    )


def copy_state(con: duckdb.DuckDBPyConnection, database: str, leave_out: Sequence[str]) -> None:
    """The working database's state into an attached database, without the keys left out."""
    ensure_table(con)
    placeholders = ", ".join("?" for _ in leave_out) or "null"
    con.execute(
        f"create or replace table {_table(database)} as select * from {STATE_TABLE} "
        f"where state_key not in ({placeholders})",
        list(leave_out),
    )


def is_state_table(schema: str, name: str) -> bool:
    """Whether a relation is this table (the publication never drops it from a snapshot)."""
    return f"{schema}.{name}" == STATE_TABLE


def published_fingerprint(path: Path) -> str | None:
    """The fingerprint a published snapshot file records, None without one."""
    if not path.is_file():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return read_existing(con, PUBLISHED)
    except duckdb.Error as exc:  # damaged or foreign file: publish over it
        LOG.warning("could not read the published snapshot %s: %s", path, exc)
        return None


def refuse_lost_working_database(settings: Settings) -> None:
    """WorkingDatabaseLost when something was published but the working database is gone.

    A run from data/raw alone would publish a history that starts again (definition versions
    back to 1, rejected, replaced and withdrawn files and quarantine releases forgotten);
    `opsvalue rebuild` restores them from the snapshot first."""
    if settings.work_db_path.exists() or published_fingerprint(settings.warehouse_path) is None:
        return
    raise WorkingDatabaseLost(
        f"the working database {settings.work_db_path} is missing but "
        f"{settings.warehouse_path} is published: a run from data/raw alone would lose the "
        "history only the snapshot keeps; run `opsvalue rebuild`"
    )


def forget(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """Drop one key: what it recorded no longer holds."""
    if table_exists(con, "meta", "pipeline_state"):
        con.execute(f"delete from {STATE_TABLE} where state_key = ?", [key])
