"""Publish the working database as an immutable snapshot for readers, by an atomic rename.

The pipeline writes only its working database. Once the dbt build passed and the KPI checks
ran, the reader-facing schemas are copied into a new DuckDB file beside the published one;
the new file is checkpointed, synced, made read-only on disk and renamed over
`data/warehouse/opsvalue.duckdb`. rename(2) is atomic: a reader holding the old file open keeps
reading the old inode (a consistent view until it reconnects), a new connection opens the new
file, and a crash at any moment leaves either the old or the new snapshot, never a mix.
Temporary files a crash left behind are removed by the next publication.

DuckDB has no snapshot or shadow-copy command that writes a second file while leaving out the
raw layer, so the copy is a `create table ... as` per table over an ATTACH: DuckDB's own
parallel scan and write, no rows through Python.

A refresh changes little of what readers see, so a publication starts from a byte copy of the
current snapshot when there is one (the file readers hold open is only read) and brings it
up to date: the detail facts batch by batch (a batch's rows never change once loaded, and every
row carries the batch and the dbt run that wrote it), every other table whole (they are small).
The copy is rewritten from scratch instead when there is no usable snapshot, when most of a fact
changed (a rebuild), or when the file has grown to COMPACT_GROWTH times its size when last
written whole (DuckDB reuses but does not return the space of deleted rows).

The byte copy itself is most of what a small refresh's publication costs (0.5 GB at scale 1,
about 0.9 s with its fsync). So the snapshot a publication replaces is kept under a second name,
the spare (`.spare-<name>`), and the publication after next starts from it instead of from a
copy: it is two publications old, and the same synchronisation brings it up to date. A reader
may still hold the spare open (it was published two publications ago): DuckDB locks a database
file for every connection, so the spare is used only when a read-write open of it succeeds and
no other name links to it, else it is left alone and the current snapshot is copied. The spare
costs the disk space of one more snapshot and is readable by its owner only. A whole write (a
first publication, a rebuild, a compaction) drops it, since a spare is only kept from a snapshot
of the working database now in use, and so does a publication that carries a withdrawal: the
withdrawn rows leave every file. The spare is only a shortcut: any error in keeping or taking it
falls back to the copy.

KPIs a failed check holds back (`meta.kpi_holds`, defs/checks/holds.py) are not published from
this build: their rows of `marts.fct_kpi_values` are those of the snapshot being replaced (none
before a first publication), so readers keep what was published before the check failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core import state
from dagster_project.core.settings import Settings
from dagster_project.core.sql import ident, literal
from dagster_project.core.warehouse import skip_vacuum, table_exists
from dagster_project.defs.checks import holds
from dagster_project.defs.ingest import withdrawals
from dagster_project.defs.publish.records import record_publication

LOG = logging.getLogger(__name__)

# What readers get: the marts (KPIs, catalog, detail facts behind them), the pipeline's metadata
# (ledger, gate state, publications) and the quarantined rows with their reasons. The raw text
# layer and the staging views over it stay in the working database.
PUBLISHED_SCHEMAS = ("marts", "meta", "quarantine")
SNAPSHOT_ALIAS = "snapshot"
PREVIOUS_ALIAS = "previous_snapshot"
# The table whose held (metric, unit) rows keep their previously published values.
KPI_SCHEMA, KPI_TABLE = "marts", "fct_kpi_values"
TMP_PREFIX = ".publishing-"
SPARE_PREFIX = ".spare-"
COMPACT_GROWTH = 1.5
# a table whose rows carry these is synchronised batch by batch
BATCH_COLUMNS = ("_batch_id", "_dbt_invocation_id")
# the newest storage format the analysts' DuckDB CLI reads (duckdb-cli in pyproject.toml)
STORAGE_VERSION = "v1.5.0"


@dataclass(frozen=True)
class Publication:
    path: Path
    published: bool
    tables: int
    seconds: float
    fingerprint: str
    # how the file was made: "whole" (every table copied) or "updated" (from the previous one)
    method: str = "whole"
    batches_replaced: int = 0
    held_rows: int = 0  # KPI rows published as before, for the held KPIs


@dataclass(frozen=True)
class SnapshotWrite:
    tables: int
    method: str
    batches_replaced: int = 0
    held_rows: int = 0


def published_fingerprint(path: Path) -> str | None:
    """The fingerprint stored in the published snapshot, None without one."""
    return state.published_fingerprint(path)


def storage_version(path: Path) -> str | None:
    """The storage format DuckDB reports for a database file ("v1.5.0+"), None if unreadable."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute(
                "select tags['storage_version'] from duckdb_databases() "
                "where database_name = current_database()"
            ).fetchone()
    except duckdb.Error:
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


def _columns(con: duckdb.DuckDBPyConnection, database: str) -> dict[tuple[str, str], list]:
    rows = con.execute(
        """
        select schema_name, table_name, column_name, data_type from duckdb_columns()
        where database_name = ? order by schema_name, table_name, column_index
        """,
        [database],
    ).fetchall()
    out: dict[tuple[str, str], list] = {}
    for schema, name, column, data_type in rows:
        out.setdefault((schema, name), []).append((column, data_type))
    return out


def _comments(con: duckdb.DuckDBPyConnection, database: str) -> dict[tuple, str]:
    """(schema, table[, column]) -> comment of every commented table, view and column."""
    tables = con.execute(
        "select schema_name, table_name, comment from duckdb_tables() where database_name = ? "
        "union all select schema_name, view_name, comment from duckdb_views() "
        "where database_name = ? and not internal",
        [database, database],
    ).fetchall()
    columns = con.execute(
        "select schema_name, table_name, column_name, comment from duckdb_columns() "
        "where database_name = ?",
        [database],
    ).fetchall()
    out: dict[tuple, str] = {(s, t): c for s, t, c in tables if c}
    out.update({(s, t, col): c for s, t, col, c in columns if c})
    return out


def _batch_versions(con: duckdb.DuckDBPyConnection, qualified: str) -> dict[str, tuple[str, int]]:
    """_batch_id -> (_dbt_invocation_id, rows) of a batch table."""
    rows = con.execute(
        f"select _batch_id, any_value(_dbt_invocation_id), count(*) from {qualified} group by all"
    ).fetchall()
    return {batch: (run, count) for batch, run, count in rows}


def _sync_batches(con: duckdb.DuckDBPyConnection, qualified: str) -> int | None:
    """Bring the snapshot's copy of a batch table up to date; None when a rewrite is cheaper.

    A batch's rows are written by one dbt run and never change afterwards, so the pairs
    (_batch_id, _dbt_invocation_id) on both sides tell exactly which batches to drop and copy.
    When more than half of the rows would move (a rebuild), copying the table whole is faster.
    """
    target = f"{SNAPSHOT_ALIAS}.{qualified}"
    work, snap = _batch_versions(con, qualified), _batch_versions(con, target)
    stale = sorted(b for b, (run, _) in snap.items() if work.get(b, (None,))[0] != run)
    fresh = sorted(b for b, (run, _) in work.items() if snap.get(b, (None,))[0] != run)
    moved = sum(snap[b][1] for b in stale) + sum(work[b][1] for b in fresh)
    if moved > sum(rows for _, rows in work.values()) / 2:
        return None
    if stale:
        con.execute(f"delete from {target} where _batch_id in (select unnest(?))", [stale])
    if fresh:
        con.execute(
            f"insert into {target} select * from {qualified} where _batch_id in (select unnest(?))",
            [fresh],
        )
    return len(stale) + len(fresh)


def _sync_comments(
    con: duckdb.DuckDBPyConnection,
    wanted: dict[tuple, str],
    have: dict[tuple, str],
    published: set[tuple[str, str]],
) -> None:
    """Table and column comments of the snapshot made equal to the working database's."""
    # comments removed in the working database go too
    gone = {key: None for key in have if key not in wanted}
    for key, comment in sorted({**wanted, **gone}.items(), key=lambda kv: kv[0]):
        if have.get(key) == comment or key[:2] not in published:
            continue
        schema, name = key[0], key[1]
        if len(key) == 2:
            con.execute(
                f"comment on table {SNAPSHOT_ALIAS}.{ident(schema)}.{ident(name)} "
                f"is {literal(comment) if comment is not None else 'null'}"
            )
        else:
            con.execute(
                f"comment on column {SNAPSHOT_ALIAS}.{ident(schema)}.{ident(name)}."
                f"{ident(key[2])} is {literal(comment) if comment is not None else 'null'}"
            )


def _hold_back(con: duckdb.DuckDBPyConnection, previous: Path | None) -> int:
    """The snapshot's KPI rows of held (metric, unit) pairs replaced by those of `previous` (the
    snapshot being replaced; None or no KPI table there: the pairs are left out). Returns the
    rows kept from `previous`."""
    if not holds.current_holds(con) or not table_exists(con, KPI_SCHEMA, KPI_TABLE):
        return 0
    kpis = f"{SNAPSHOT_ALIAS}.{KPI_SCHEMA}.{KPI_TABLE}"
    con.execute(f"delete from {kpis} as kpi where {holds.held_rows_sql('kpi')}")
    if previous is None or not previous.is_file():
        return 0
    con.execute(f"attach {literal(str(previous))} as {PREVIOUS_ALIAS} (read_only)")
    try:
        columns = _columns(con, SNAPSHOT_ALIAS).get((KPI_SCHEMA, KPI_TABLE), [])
        before = {c for c, _ in _columns(con, PREVIOUS_ALIAS).get((KPI_SCHEMA, KPI_TABLE), [])}
        # a column the previous snapshot lacks (added to the model since) stays null
        shared = ", ".join(ident(c) for c, _ in columns if c in before)
        if not shared:
            return 0
        row = con.execute(
            f"insert into {kpis} ({shared}) select {shared} "
            f"from {PREVIOUS_ALIAS}.{KPI_SCHEMA}.{KPI_TABLE} as kpi "
            f"where {holds.held_rows_sql('kpi')}"
        ).fetchone()
    finally:
        con.execute(f"detach {PREVIOUS_ALIAS}")
    return int(row[0]) if row else 0


def write_snapshot(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    fingerprint: str,
    publication: list,
    base: Path | None = None,
    previous: Path | None = None,
) -> SnapshotWrite:
    """Write the reader-facing schemas of `con`'s database into the new file `target`.

    With `base` (an earlier snapshot of this working database already at `target`: a copy of the
    current one, or the spare), tables are brought up to date in place; without, every table is
    copied. Views become tables: the snapshot never
    changes, so a view would only cost readers time. Table and column descriptions (dbt's
    persist_docs) are carried over as DuckDB comments. Held KPIs keep the rows they have in
    `previous`, the snapshot being replaced (`_hold_back`).
    """
    state.ensure_table(con)
    relations = _reader_relations(con)
    database = con.execute("select current_database()").fetchone()[0]
    wanted_comments = {
        key: value for key, value in _comments(con, database).items() if key[0] in PUBLISHED_SCHEMAS
    }
    work_columns = _columns(con, database)
    # a new file is created in the readers' format; a copy of the current snapshot has it already
    con.execute(
        f"attach {literal(str(target))} as {SNAPSHOT_ALIAS} "
        f"(storage_version {literal(STORAGE_VERSION)})"
    )
    replaced = 0
    try:
        snap_columns = _columns(con, SNAPSHOT_ALIAS) if base else {}
        have_comments = _comments(con, SNAPSHOT_ALIAS) if base else {}
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema if not exists {SNAPSHOT_ALIAS}.{ident(schema)}")
        published = set()
        for schema, name, _comment in relations:
            published.add((schema, name))
            qualified = f"{ident(schema)}.{ident(name)}"
            columns = work_columns.get((schema, name), [])
            synced = None
            if (
                base
                and snap_columns.get((schema, name)) == columns
                and all(c in {col for col, _ in columns} for c in BATCH_COLUMNS)
            ):
                synced = _sync_batches(con, qualified)
            if synced is None:
                con.execute(
                    f"create or replace table {SNAPSHOT_ALIAS}.{qualified} as "
                    f"select * from {qualified}"
                )
                # a new table has no comments left
                have_comments = {k: v for k, v in have_comments.items() if k[:2] != (schema, name)}
            else:
                replaced += synced
        # relations the working database no longer has (a model removed from the project)
        for schema, name in sorted(set(snap_columns) - published):
            if schema in PUBLISHED_SCHEMAS and not state.is_state_table(schema, name):
                con.execute(f"drop table if exists {SNAPSHOT_ALIAS}.{ident(schema)}.{ident(name)}")
        _sync_comments(con, wanted_comments, have_comments, published)
        held_rows = _hold_back(con, previous)
        # the working database's own records of what was published stay there
        state.copy_state(
            con, SNAPSHOT_ALIAS, [state.PUBLISHED, state.SNAPSHOT_WHOLE_BYTES, state.SITE]
        )
        state.write_state(con, state.PUBLISHED, fingerprint, SNAPSHOT_ALIAS)
        # the snapshot lists itself; the working database records it once the rename is done
        record_publication(con, publication, SNAPSHOT_ALIAS)
        # everything in the main file, no write-ahead log: read-only readers need nothing else
        con.execute(f"checkpoint {SNAPSHOT_ALIAS}")
    finally:
        con.execute(f"detach {SNAPSHOT_ALIAS}")
    return SnapshotWrite(
        tables=len(relations),
        method="updated" if base else "whole",
        batches_replaced=replaced,
        held_rows=held_rows,
    )


def _written_whole_bytes(path: Path) -> int | None:
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            value = state.read_existing(con, state.SNAPSHOT_WHOLE_BYTES)
    except duckdb.Error:
        return None
    return int(value) if value else None


def _usable_base(target: Path) -> tuple[Path | None, str]:
    """The current snapshot when a publication may start from a copy of it, and why (not)."""
    if published_fingerprint(target) is None:
        return None, "no snapshot to start from"
    version = storage_version(target) or "unknown"
    if not version.startswith(STORAGE_VERSION):
        return None, f"the snapshot is in storage format {version}, readers need {STORAGE_VERSION}"
    whole = _written_whole_bytes(target)
    if whole is None:
        return None, "the snapshot does not record its size"
    if target.stat().st_size > COMPACT_GROWTH * whole:
        return None, f"the snapshot grew to over {COMPACT_GROWTH}x its size: compacted"
    return target, ""


def publish_snapshot(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    fingerprint: str,
    publication: list,
    incremental: bool = True,
) -> Publication:
    """Write a new snapshot from `con` (the working database) and rename it into place."""
    started = time.perf_counter()
    target = settings.warehouse_path
    target.parent.mkdir(parents=True, exist_ok=True)
    for path in remove_leftovers(target):
        LOG.info("removed %s, left by an interrupted publication", path)
    tmp = target.with_name(f"{TMP_PREFIX}{secrets.token_hex(4)}-{target.name}")
    spare = spare_path(target)
    base, why = _usable_base(target) if incremental else (None, "whole copy asked for")
    if why:
        LOG.info("snapshot written whole: %s", why)
    # a spare is kept only from snapshots of this working database, and none holds withdrawn rows
    keep_spare = base is not None and not _withdrawn_since(con, target)
    if not keep_spare:
        spare.unlink(missing_ok=True)
    # held KPIs keep what readers see now; a damaged or foreign file there offers nothing
    previous = target if published_fingerprint(target) is not None else None
    try:
        whole_bytes = None
        if base is not None:
            if keep_spare and _take_spare(spare, tmp):
                whole_bytes = _written_whole_bytes(tmp)
            else:
                # a byte copy: the file readers have open is only read
                shutil.copyfile(base, tmp)
                tmp.chmod(stat.S_IRUSR | stat.S_IWUSR)
                whole_bytes = _written_whole_bytes(base)
        written = write_snapshot(con, tmp, fingerprint, publication, base, previous)
        _record_whole_size(tmp, whole_bytes)
        _sync(tmp)
        # read-only on disk too: nobody writes into a published snapshot by accident
        tmp.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        # a write-ahead log beside the target (left by a writer of an older layout) would be
        # replayed into the new snapshot by the next writer that opened it: never leave one
        target.with_name(target.name + ".wal").unlink(missing_ok=True)
        if keep_spare:
            _keep_spare(target, spare)
        os.replace(tmp, target)
        _sync_dir(target.parent)
        if keep_spare and spare.is_file():
            with contextlib.suppress(OSError):  # no longer published: its owner's only
                spare.chmod(stat.S_IRUSR)
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        raise
    record_publication(con, publication)
    seconds = time.perf_counter() - started
    LOG.info("published %d tables to %s in %.1f s", written.tables, target, seconds)
    return Publication(
        target,
        True,
        written.tables,
        seconds,
        fingerprint,
        written.method,
        written.batches_replaced,
        written.held_rows,
    )


def spare_path(target: Path) -> Path:
    """Where the snapshot a publication replaced waits to be the base of the one after next."""
    return target.with_name(f"{SPARE_PREFIX}{target.name}")


def _keep_spare(target: Path, spare: Path) -> None:
    """Give the snapshot being replaced a second name, the spare (nothing when that fails)."""
    try:
        os.link(target, spare)
    except FileExistsError:
        pass
    except OSError as exc:  # a file system without hard links, a file of another user
        LOG.info("no spare snapshot kept: %s", exc)


def _withdrawn_since(con: duckdb.DuckDBPyConnection, target: Path) -> bool:
    """Whether a withdrawal was applied that the published snapshot at `target` does not list."""
    done = {w.withdrawal_id for w in withdrawals.applied(con)}
    if not done:
        return False
    try:
        with duckdb.connect(str(target), read_only=True) as snapshot:
            listed = {w.withdrawal_id for w in withdrawals.applied(snapshot)}
    except (duckdb.Error, OSError):
        return True
    return bool(done - listed)


def _take_spare(spare: Path, tmp: Path) -> bool:
    """Move the spare to `tmp` when a publication can write into it; False to copy instead.

    Not when another name links to its file (the published snapshot itself, after a crash
    between keeping the spare and the rename; or a copy someone made with `ln`), when a
    reader's lock keeps it, or when it is not a snapshot this code could start from
    (`_usable_base`). A spare that cannot be used is dropped: it is only a name, and a reader
    keeps what it has open. Any error here means a copy, never a failed publication.
    """
    try:
        if not spare.is_file() or spare.is_symlink():
            return False
        os.replace(spare, tmp)  # from here a crash leaves a leftover, removed by the next run
    except OSError as exc:  # deleted by hand meanwhile, or not ours to move
        LOG.info("spare snapshot not used: %s", exc)
        return False
    try:
        why = ""
        if os.stat(tmp).st_nlink != 1:
            why = "another name links to its file"
        else:
            tmp.chmod(stat.S_IRUSR | stat.S_IWUSR)
            base, why = _usable_base(tmp)
            if base is not None:
                # a reader's lock on it is tried here, before anything is written
                duckdb.connect(str(tmp)).close()
    except duckdb.IOException as exc:
        why = f"held open by a reader ({str(exc).splitlines()[0]})"
    except (OSError, duckdb.Error) as exc:
        why = str(exc).splitlines()[0]
    if why:
        LOG.info("spare snapshot not used: %s", why)
        tmp.unlink(missing_ok=True)
        return False
    return True


def _record_whole_size(path: Path, whole_bytes: int | None) -> None:
    with duckdb.connect(str(path)) as con:
        skip_vacuum(con)  # else this checkpoint rewrites the snapshot's row groups just written
        size = whole_bytes if whole_bytes is not None else path.stat().st_size
        state.write_state(con, state.SNAPSHOT_WHOLE_BYTES, str(size))
        con.execute("checkpoint")


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
