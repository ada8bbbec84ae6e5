"""What can be wrong on disk before a command starts, said so that a person can act on it.

A damaged database file (truncated, overwritten, a folder in its place), a folder the pipeline
cannot write, an unusable DAGSTER_HOME: each becomes a `Fault` naming the path, what is wrong
and what to do, which the CLI prints instead of a traceback. Finding a fault changes nothing:
damaged files are only read, and are moved aside (`set_aside`, never deleted) only when the user
asks for it (`opsvalue run --set-aside-damaged`; a damaged working database then goes to
`opsvalue rebuild`, which restores its history from the last snapshot).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.core.settings import Settings

# DuckDB's file header: one main header and two database headers of 4 KiB before the blocks
HEADER_BYTES = 3 * 4096
# what DuckDB says when another process holds the file: in use, not damaged
LOCK_CONFLICT = "Could not set lock"
SET_ASIDE_HINT = "`opsvalue run --set-aside-damaged`"
REBUILD_HINT = "`opsvalue rebuild`"


class Fault(RuntimeError):
    """A file or folder a command needs is unusable: what is wrong and what to do."""

    def __init__(self, what: str, todo: str) -> None:
        super().__init__(f"{what}\n{todo}")
        self.what = what
        self.todo = todo


def database_problem(path: Path) -> str | None:
    """Why `path` cannot be read as a DuckDB database, None if it can (or does not exist).

    Opens the file read-only (never creating or repairing it) and holds its size against the
    blocks in use, each of which has its own place in the file: that finds a file cut short
    without reading every block (free blocks at the end may be cut off by DuckDB itself). A
    file another process holds open for writing cannot be checked here and counts as readable.
    """
    if path.is_dir():
        return f"{path} is a folder, not a DuckDB database file"
    if not path.exists():
        return None
    size = path.stat().st_size
    if size == 0:
        return f"{path} is empty (0 bytes): it was truncated or never written"
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            blocks, block_size = con.execute(
                "select used_blocks, block_size from pragma_database_size() "
                "where database_name = current_database()"
            ).fetchone()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if LOCK_CONFLICT in message:
            return None
        return f"{path} cannot be read as a DuckDB database ({message})"
    expected = HEADER_BYTES + blocks * block_size
    # with a write-ahead log beside it, the blocks counted may not be written to the file yet
    has_wal = path.with_name(path.name + ".wal").exists()
    if size < expected and not has_wal:
        return (
            f"{path} is cut short: {size:,} bytes where its blocks in use need {expected:,} "
            "(a copy or download that did not finish, or a full disk)"
        )
    return None


def check_working_database(path: Path, restorable: bool = True) -> None:
    """Fault when the pipeline's working database exists but cannot be read.

    `restorable`: a published snapshot holds what data/raw cannot give back (definition history,
    ledger, releases), so the way out is `opsvalue rebuild`; without one, only data/raw is left.
    """
    problem = database_problem(path)
    if not problem:
        return
    if restorable:
        todo = (
            f"Run {REBUILD_HINT} (or {SET_ASIDE_HINT}, which does the same): the damaged file "
            "is moved aside (kept, never deleted) and the working database rebuilt from the "
            "extracts in data/raw and the last published snapshot, which keeps the definition "
            "and ledger history; it publishes only once it reproduces what was published."
        )
    else:
        todo = (
            f"Restore it from a backup, or run {SET_ASIDE_HINT}: it moves the file aside (kept, "
            "renamed *.damaged-<time>) and builds the working database from the extracts in "
            "data/raw; no readable snapshot was published, so there is no history to restore."
        )
    raise Fault(f"the working database is damaged: {problem}. Nothing was changed.", todo)


def check_published_snapshot(path: Path) -> None:
    """Fault when the published snapshot exists but cannot be read."""
    problem = database_problem(path)
    if problem:
        raise Fault(
            f"the published snapshot is damaged: {problem}. Nothing was changed: the "
            "dashboards still show the last good publication.",
            f"Run {SET_ASIDE_HINT}: it moves the damaged file aside (kept, renamed "
            "*.damaged-<time>) and publishes a new snapshot from the working database.",
        )


def check_writable_folder(path: Path, role: str) -> None:
    """Fault unless a file can be created in `path` (created with its parents if missing)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".opsvalue-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError | NotADirectoryError):
            reason = "a file stands where the folder should be"
        raise Fault(
            f"cannot write in {path} ({role}): {reason}. Nothing was changed.",
            "Give the user running opsvalue write access to it (e.g. `chmod u+w` on the folder "
            "and its parents), free the path, or point the setting elsewhere "
            "(OPSVALUE_WAREHOUSE, OPSVALUE_WORK_DB, OPSVALUE_SITE_DIR, DAGSTER_HOME).",
        ) from None


def set_aside(path: Path) -> Path | None:
    """Rename a damaged database (and its write-ahead log) to `<name>.damaged-<time>`."""
    if not (path.exists() or path.is_symlink()):
        return None
    aside = path.with_name(f"{path.name}.damaged-{datetime.now():%Y%m%dT%H%M%S}")
    os.replace(path, aside)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        os.replace(wal, aside.with_name(aside.name + ".wal"))
    return aside


def check_pipeline_paths(settings: Settings, restorable: bool) -> None:
    """Before a run writes anything: every folder it writes is writable, both databases readable.

    Without this, a read-only folder or a damaged file surfaces halfway through the run as a
    step failure deep in Dagster's log; here it stops the run before its first write.
    `restorable`: a snapshot is published that `opsvalue rebuild` can restore from
    (core.state.published_fingerprint; that module imports this one, so the caller asks it).
    """
    check_writable_folder(settings.dagster_home, "DAGSTER_HOME, where Dagster keeps its runs")
    check_writable_folder(settings.work_db_path.parent, "the working database's folder")
    check_writable_folder(settings.warehouse_path.parent, "where the snapshot is published")
    check_writable_folder(settings.site_dir.parent, "where the dashboards are published")
    check_working_database(settings.work_db_path, restorable)
    check_published_snapshot(settings.warehouse_path)
