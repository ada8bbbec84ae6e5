"""Publish the working database as an immutable snapshot for readers, by an atomic rename.

The pipeline writes only its working database. Once the dbt build and the blocking checks
passed, the reader-facing schemas are copied into a new DuckDB file beside the published one;
the new file is checkpointed, synced, made read-only on disk and renamed over
`data/warehouse/opsvalue.duckdb`. rename(2) is atomic: a reader holding the old file open keeps
reading the old inode (a consistent view until it reconnects), a new connection opens the new
file, and a crash at any moment leaves either the old or the new snapshot, never a mix.
Temporary files a crash left behind are removed by the next publication.

DuckDB has no snapshot or shadow-copy command that writes a second file while leaving out the
raw layer, so the copy is a `create table ... as` per table over an ATTACH: DuckDB's own
parallel scan and write, no rows through Python.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.lib.freshness import record_publication
from dagster_project.lib.settings import Settings
from dagster_project.lib.warehouse import STATE_DDL, table_exists

LOG = logging.getLogger(__name__)

# What readers get: the marts (KPIs, catalog, detail facts behind them), the pipeline's metadata
# (ledger, gate state, publications) and the quarantined rows with their reasons. The raw text
# layer and the staging views over it stay in the working database.
PUBLISHED_SCHEMAS = ("marts", "meta", "quarantine")
STATE_TABLE = "meta.pipeline_state"
PUBLISHED_KEY = "published_fingerprint"
SNAPSHOT_ALIAS = "snapshot"
TMP_PREFIX = ".publishing-"


@dataclass(frozen=True)
class Publication:
    path: Path
    published: bool
    tables: int
    seconds: float
    fingerprint: str


def content_fingerprint(con: duckdb.DuckDBPyConnection, build_watermark: str) -> str:
    """What the readers would see: the dbt build's inputs plus the gate and freshness state."""
    digest = hashlib.sha256(build_watermark.encode())
    if table_exists(con, "meta", "source_gate_state"):
        rows = con.execute("select * from meta.source_gate_state order by all").fetchall()
        digest.update(repr(rows).encode())
    return digest.hexdigest()


def published_fingerprint(path: Path) -> str | None:
    """The fingerprint stored in the published snapshot, None without one."""
    if not path.is_file():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            if not table_exists(con, "meta", "pipeline_state"):
                return None
            row = con.execute(
                f"select state_value from {STATE_TABLE} where state_key = ?", [PUBLISHED_KEY]
            ).fetchone()
    except duckdb.Error as exc:  # damaged or foreign file: publish over it
        LOG.warning("could not read the published snapshot %s: %s", path, exc)
        return None
    return row[0] if row else None


def remove_leftovers(target: Path) -> list[Path]:
    """Delete temporary snapshots an interrupted publication left beside the target."""
    removed = []
    for path in target.parent.glob(f"{TMP_PREFIX}*"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _reader_relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str | None]]:
    """(schema, name, comment) of every table and view in the published schemas."""
    placeholders = ", ".join("?" for _ in PUBLISHED_SCHEMAS)
    return con.execute(
        f"""
        select schema_name, table_name, comment from duckdb_tables()
        where database_name = current_database() and schema_name in ({placeholders})
        union all
        select schema_name, view_name, comment from duckdb_views()
        where database_name = current_database() and schema_name in ({placeholders})
            and not internal
        order by 1, 2
        """,
        [*PUBLISHED_SCHEMAS, *PUBLISHED_SCHEMAS],
    ).fetchall()


def _column_comments(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    placeholders = ", ".join("?" for _ in PUBLISHED_SCHEMAS)
    return con.execute(
        f"""
        select schema_name, table_name, column_name, comment from duckdb_columns()
        where database_name = current_database() and schema_name in ({placeholders})
            and comment is not null and comment <> ''
        """,
        list(PUBLISHED_SCHEMAS),
    ).fetchall()


def write_snapshot(
    con: duckdb.DuckDBPyConnection, target: Path, fingerprint: str, publication: list
) -> int:
    """Copy the reader-facing schemas of `con`'s database into a new file `target`.

    Views become tables: the snapshot never changes, so a view would only cost readers time.
    Table and column descriptions (dbt's persist_docs) are carried over as DuckDB comments.
    """
    con.execute(STATE_DDL)
    relations = _reader_relations(con)
    columns = _column_comments(con)
    con.execute(f"attach {_literal(str(target))} as {SNAPSHOT_ALIAS}")
    try:
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema if not exists {SNAPSHOT_ALIAS}.{_ident(schema)}")
        for schema, name, comment in relations:
            qualified = f"{_ident(schema)}.{_ident(name)}"
            con.execute(f"create table {SNAPSHOT_ALIAS}.{qualified} as select * from {qualified}")
            if comment:
                con.execute(f"comment on table {SNAPSHOT_ALIAS}.{qualified} is {_literal(comment)}")
        for schema, name, column, comment in columns:
            con.execute(
                f"comment on column {SNAPSHOT_ALIAS}.{_ident(schema)}.{_ident(name)}."
                f"{_ident(column)} is {_literal(comment)}"
            )
        con.execute(
            f"create or replace table {SNAPSHOT_ALIAS}.{STATE_TABLE} as "
            f"select * from {STATE_TABLE} where state_key <> ?",
            [PUBLISHED_KEY],
        )
        con.execute(
            f"insert into {SNAPSHOT_ALIAS}.{STATE_TABLE} values (?, ?, localtimestamp)",
            [PUBLISHED_KEY, fingerprint],
        )
        # the snapshot lists itself; the working database records it once the rename is done
        record_publication(con, publication, SNAPSHOT_ALIAS)
        # everything in the main file, no write-ahead log: read-only readers need nothing else
        con.execute(f"checkpoint {SNAPSHOT_ALIAS}")
    finally:
        con.execute(f"detach {SNAPSHOT_ALIAS}")
    return len(relations)


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, settings: Settings, fingerprint: str, publication: list
) -> Publication:
    """Write a new snapshot from `con` (the working database) and rename it into place."""
    started = time.perf_counter()
    target = settings.warehouse_path
    target.parent.mkdir(parents=True, exist_ok=True)
    for path in remove_leftovers(target):
        LOG.info("removed %s, left by an interrupted publication", path)
    tmp = target.with_name(f"{TMP_PREFIX}{secrets.token_hex(4)}-{target.name}")
    try:
        tables = write_snapshot(con, tmp, fingerprint, publication)
        _sync(tmp)
        # read-only on disk too: nobody writes into a published snapshot by accident
        tmp.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        # a write-ahead log beside the target (left by a writer of an older layout) would be
        # replayed into the new snapshot by the next writer that opened it: never leave one
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        os.replace(tmp, target)
        _sync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        raise
    record_publication(con, publication)
    seconds = time.perf_counter() - started
    LOG.info("published %d tables to %s in %.1f s", tables, target, seconds)
    return Publication(target, True, tables, seconds, fingerprint)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    # the rename is durable only once the directory entry is on disk
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
