"""Load one source's extract folder into DuckDB schema `raw`, idempotently by file.

DuckDB reads the files itself (read_csv / read_parquet); Python only decides which files to load.
Every value lands as text: typing happens in dbt staging, so nothing a department sends is lost
to a failed cast at the door. Each row carries lineage columns, and `meta.file_ledger` records every
file version seen.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

LOG = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
LEDGER_TABLE = "meta.file_ledger"
LINEAGE_COLUMNS = ("_source_file", "_row_number", "_batch_id", "_loaded_at")
EXTRACT_SUFFIXES = (".csv", ".parquet")

LEDGER_DDL = f"""
create schema if not exists meta;
create sequence if not exists meta.file_ledger_seq;
create table if not exists {LEDGER_TABLE} (
    ledger_id bigint primary key default nextval('meta.file_ledger_seq'),
    source varchar not null,
    path varchar not null,
    content_hash varchar not null,
    size_bytes bigint not null,
    mtime_ns bigint not null,
    row_count bigint,
    status varchar not null,
    message varchar,
    batch_id varchar not null,
    run_id varchar,
    loaded_at timestamp not null
);
"""

# A ledger row is the current version of a file when it is the newest row for that path.
CURRENT_LEDGER_SQL = f"""
select path, content_hash, size_bytes, mtime_ns, status
from {LEDGER_TABLE}
where source = ?
qualify row_number() over (partition by path order by ledger_id desc) = 1
"""


class RejectedFile(Exception):
    """A file that breaks the contract as a whole (e.g. a missing required column)."""


@dataclass
class FileOutcome:
    path: str
    status: str  # loaded | replaced | unchanged | rejected
    rows: int = 0
    message: str = ""


@dataclass
class SourceLoadReport:
    source: str
    table: str
    files: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files if f.status in ("loaded", "replaced"))

    @property
    def changed(self) -> bool:
        return any(f.status in ("loaded", "replaced") for f in self.files)


def list_extract_files(folder: Path) -> list[Path]:
    """Extract files of one source, in name order; names starting with `_` or `.` are skipped."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in EXTRACT_SUFFIXES and p.name[0] not in "._"
    )


def file_hash(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LEDGER_DDL)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reader_sql(path: Path) -> str:
    """The DuckDB table function that reads one extract file as text columns."""
    literal = _sql_literal(str(path))
    if path.suffix.lower() == ".parquet":
        return f"(select columns(*)::varchar from read_parquet({literal}))"
    # Explicit dialect: the contract fixes comma, double quote and a header row, so DuckDB's
    # sniffer only has to find nothing; all_varchar keeps every value as delivered.
    return (
        f"read_csv({literal}, header = true, delim = ',', quote = '\"', escape = '\"', "
        "all_varchar = true, auto_detect = true)"
    )


def _file_columns(con: duckdb.DuckDBPyConnection, reader: str) -> list[str]:
    return [row[0] for row in con.execute(f"describe select * from {reader}").fetchall()]


def _ensure_raw_table(
    con: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str], file_columns: Sequence[str]
) -> None:
    """Create the raw table on first sight; add any extra column a file brings, so none is lost."""
    wanted = list(columns) + [c for c in file_columns if c not in columns]
    if not _exists(con, table):
        cols = ", ".join(f'"{c}" varchar' for c in wanted)
        con.execute(
            f"create table {table} ({cols}, _source_file varchar, _row_number bigint, "
            "_batch_id varchar, _loaded_at timestamp)"
        )
        return
    have = {r[0] for r in con.execute(f"describe {table}").fetchall()}
    for c in wanted:
        if c not in have:
            con.execute(f'alter table {table} add column "{c}" varchar')


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def load_file(
    con: duckdb.DuckDBPyConnection,
    table: str,
    path: Path,
    rel_path: str,
    columns: Sequence[str],
    batch_id: str,
    loaded_at: datetime,
) -> int:
    """Replace the rows of `rel_path` in `table` with the file's content; returns rows loaded.

    Runs inside the caller's transaction, so a failure leaves the earlier rows of the file intact.
    """
    reader = _reader_sql(path)
    try:
        file_columns = _file_columns(con, reader)
    except duckdb.Error as exc:
        raise RejectedFile(f"unreadable as {path.suffix.lstrip('.')}: {exc}") from exc
    missing = [c for c in columns if c not in file_columns]
    if missing:
        raise RejectedFile(f"missing required column(s) {', '.join(missing)}")
    _ensure_raw_table(con, table, columns, file_columns)
    con.execute(f"delete from {table} where _source_file = ?", [rel_path])
    # preserve_insertion_order (DuckDB's default) keeps the scan in file order, so
    # row_number() over () is the data row number in the file (1 = first row after the header).
    result = con.execute(
        f"insert into {table} by name "
        f"select *, ? as _source_file, row_number() over () as _row_number, "
        f"? as _batch_id, ? as _loaded_at from {reader}",
        [rel_path, batch_id, loaded_at],
    ).fetchone()
    return int(result[0]) if result else 0


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    folder: Path,
    raw_root: Path,
    columns: Sequence[str],
    run_id: str = "",
    on_file: Callable[[FileOutcome], None] | None = None,
) -> SourceLoadReport:
    """Load every new or changed file of one source; unchanged files are skipped.

    A file is unchanged when its size and modification time match the ledger (no read at all),
    or when its content hash matches (then only the ledger's mtime is refreshed).
    """
    ensure_ledger(con)
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    table = f"{RAW_SCHEMA}.{source}"
    report = SourceLoadReport(source=source, table=table)
    # the table exists even before the first delivery, so staging views always compile
    _ensure_raw_table(con, table, columns, [])
    known = {row[0]: row for row in con.execute(CURRENT_LEDGER_SQL, [source]).fetchall()}
    for path in list_extract_files(folder):
        rel_path = path.relative_to(raw_root).as_posix()
        stat = path.stat()
        previous = known.get(rel_path)
        if previous and (previous[2], previous[3]) == (stat.st_size, stat.st_mtime_ns):
            outcome = FileOutcome(rel_path, "unchanged")
        else:
            digest = file_hash(path)
            if previous and previous[1] == digest:
                con.execute(
                    f"update {LEDGER_TABLE} set mtime_ns = ? where path = ? and content_hash = ?",
                    [stat.st_mtime_ns, rel_path, digest],
                )
                outcome = FileOutcome(rel_path, "unchanged")
            else:
                outcome = _load_and_record(
                    con, table, path, rel_path, columns, digest, stat, previous, source, run_id
                )
        report.files.append(outcome)
        if on_file:
            on_file(outcome)
    return report


def _load_and_record(
    con: duckdb.DuckDBPyConnection,
    table: str,
    path: Path,
    rel_path: str,
    columns: Sequence[str],
    digest: str,
    stat,
    previous: tuple | None,
    source: str,
    run_id: str,
) -> FileOutcome:
    loaded_at = datetime.now().replace(microsecond=0)
    batch_id = f"{loaded_at:%Y%m%dT%H%M%S}-{digest[:12]}"
    status = "replaced" if previous and previous[4] in ("loaded", "replaced") else "loaded"
    con.execute("begin transaction")
    try:
        rows = load_file(con, table, path, rel_path, columns, batch_id, loaded_at)
        outcome = FileOutcome(rel_path, status, rows)
    except RejectedFile as exc:
        con.execute("rollback")
        con.execute("begin transaction")
        outcome = FileOutcome(rel_path, "rejected", 0, f"{rel_path}: {exc}")
        LOG.warning("rejected %s", outcome.message)
    con.execute(
        f"insert into {LEDGER_TABLE} (source, path, content_hash, size_bytes, mtime_ns, "
        "row_count, status, message, batch_id, run_id, loaded_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source,
            rel_path,
            digest,
            stat.st_size,
            stat.st_mtime_ns,
            outcome.rows,
            outcome.status,
            outcome.message or None,
            batch_id,
            run_id or None,
            loaded_at,
        ],
    )
    con.execute("commit")
    return outcome
