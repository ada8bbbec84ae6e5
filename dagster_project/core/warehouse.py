"""DuckDB helpers: one way to open the warehouse, with the memory and spill settings applied."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb

from dagster_project.core.faults import Fault, check_writable_folder
from dagster_project.core.settings import Settings
from dagster_project.core.sql import ident, literal

# DuckDB's checkpoint "vacuums" by default: it rewrites adjacent row groups that are not full
# into fewer full ones. An insert of more than a row group (122,880 rows; a month's file of a
# large source) leaves row groups that are not full (each of DuckDB's threads ends its part of
# it with one), so a checkpoint after a load rewrites much of what the load wrote, and a later
# checkpoint with vacuuming on does it for any table, changed or not.
#
# Measured at scale 1 x 24 months (2026-12-06): closing the ingestion's connection took 4.7 to
# 5.0 s, and 0.1 s without vacuuming; the full build took 133.1 and 136.2 s with it, 124.7 and
# 127.5 s without (runs alternated).
#
# Row groups whose rows are all deleted (a re-delivered or withdrawn file, a batch an
# incremental model replaces) are still dropped; only the rows deleted from a row group that
# keeps others stay as tombstones until it is rewritten. So every writer of the working
# database and of the snapshot turns vacuuming off, dbt's `work` target included
# (dbt/profiles.yml, the same value; tests/core/test_warehouse.py). The setting belongs to the
# database instance: a database ATTACHed to a connection (the snapshot the publication writes)
# is checkpointed without vacuuming too.
VACUUM_TASKS = 0


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the pipeline's working database; writers get the memory limit and a spill folder.

    Only the pipeline opens this file. Readers outside it (analysts, dashboards, MetricFlow) use
    the published snapshot instead (`connect_published`), so they never contend for its lock.
    """
    path = settings.work_db_path
    if read_only and not path.exists():
        raise FileNotFoundError(f"working database {path} does not exist yet: run `opsvalue demo`")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        _configure(con, settings)
        if not read_only:
            con.execute(f"set temp_directory = {literal(str(path.parent / 'tmp'))}")
        yield con
    finally:
        con.close()


@contextmanager
def connect_published(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published snapshot (what analysts and dashboards see)."""
    path = settings.warehouse_path
    if not path.exists():
        raise FileNotFoundError(f"no published warehouse at {path}: run `opsvalue demo` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        _configure(con, settings)
        yield con
    finally:
        con.close()


def _configure(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.execute(f"set memory_limit = {literal(settings.duckdb_memory_limit)}")
    con.execute(f"set threads = {int(settings.duckdb_threads)}")
    skip_vacuum(con)


def skip_vacuum(con: duckdb.DuckDBPyConnection) -> None:
    """No row-group vacuuming at this database instance's checkpoints (see VACUUM_TASKS); a
    connection opened on a file outside `connect` calls it before writing."""
    con.execute(f"set max_vacuum_tasks = {VACUUM_TASKS}")


def table_exists(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, database: str | None = None
) -> bool:
    """Whether a table or view exists in the connection's database, or in the attached database
    `database` names (an attached snapshot's tables are not this database's)."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ? "
        "and table_catalog = coalesce(?, current_database())",
        [schema, table, database],
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
    table = f"{ident(schema)}.{ident(name)}"
    con.execute(f"create schema if not exists {ident(schema)}")
    if not table_exists(con, schema, name):
        cols = [f"{ident(c)} varchar" for c in text_columns]
        cols += [f"{ident(c)} {data_type}" for c, data_type in tracking_columns]
        con.execute(f"create table {table} ({', '.join(cols)})")
        return
    have = {r[0] for r in con.execute(f"describe {table}").fetchall()}
    for column in text_columns:
        if column not in have:
            con.execute(f"alter table {table} add column {ident(column)} varchar")


class PipelineBusy(RuntimeError):
    """Another process is running the pipeline against the same working database."""


class WorkingDatabaseLost(RuntimeError):
    """Something was published, but the working database is gone: `opsvalue rebuild` first."""


_LOCK_DEPTH = 0  # re-entrant within a process: the CLI holds it for a run, each step inside too
_LOCK_FD: int | None = None  # the held lock's descriptor


def _lock_not_inherited() -> None:
    """In a process forked from the lock's holder (the site's page workers): no copy of the
    lock. Should such a child outlive its parent, the lock still goes with the parent; closing
    a copy does not release the parent's lock, which holds until its every copy is closed."""
    global _LOCK_DEPTH, _LOCK_FD
    if _LOCK_FD is not None:
        with contextlib.suppress(OSError):
            os.close(_LOCK_FD)
    _LOCK_DEPTH, _LOCK_FD = 0, None


os.register_at_fork(after_in_child=_lock_not_inherited)


@contextmanager
def pipeline_lock(settings: Settings) -> Iterator[None]:
    """Exclusive right to write the working database, or PipelineBusy at once.

    DuckDB would also refuse a second writer, but only when it opens the file, possibly halfway
    through a run; this lock is taken before anything is read or written. It is an flock, so the
    kernel releases it when the holder dies, even by kill -9: no stale lock to clean up.
    """
    global _LOCK_DEPTH, _LOCK_FD
    if _LOCK_DEPTH:
        _LOCK_DEPTH += 1
        try:
            yield
        finally:
            _LOCK_DEPTH -= 1
        return
    path = settings.work_db_path.parent / "pipeline.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        check_writable_folder(path.parent, "the working database's folder, for its lock")
        raise Fault(f"cannot open the pipeline's lock {path}", "Check its permissions.") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise PipelineBusy(
                f"another opsvalue run (pid {holder}) is writing {settings.work_db_path}; "
                "this one stops without writing (the sensor or schedule will start the next)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _LOCK_DEPTH, _LOCK_FD = 1, fd
        try:
            yield
        finally:
            _LOCK_DEPTH, _LOCK_FD = 0, None
    finally:
        os.close(fd)  # releases the flock
