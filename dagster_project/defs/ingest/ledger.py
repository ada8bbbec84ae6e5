"""`meta.file_ledger`: every file version the gate has seen, its hash, its rows and its status.

This module owns the table: its DDL and every query on it. Other modules (the gate state, the
dbt build planning, the publication, `opsvalue status`) call the functions below and get named
fields back; none of them writes SQL against the ledger. dbt reads it through its `meta` source.

A row is one version of one file (unchanged versions are not recorded), with its status:
- `loaded`: its rows are in raw (and quarantine) now, unless a later `withdrawn` row of the path
  took them out;
- `replaced`: its rows were in raw until a later version of the same path was loaded, which
  replaced them; the later version's row says `loaded`;
- `rejected`: held back whole (an earlier loaded version of the path stays `loaded`);
- `withdrawn`: its rows taken out on request (`withdrawals.py`).
Rows are appended; the one change made to a recorded row is `loaded` becoming `replaced`, in
the transaction that records the version replacing it (`settle_versions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

import duckdb

from dagster_project.core.sql import ident
from dagster_project.core.warehouse import table_exists

LEDGER_TABLE = "meta.file_ledger"
LEDGER_SEQUENCE = "meta.file_ledger_seq"
# the statuses under which a version's rows are in raw, and the one that takes them out
LOADED = ("loaded", "replaced")
WITHDRAWN = "withdrawn"

LEDGER_DDL = f"""
create schema if not exists meta;
create sequence if not exists {LEDGER_SEQUENCE};
create table if not exists {LEDGER_TABLE} (
    ledger_id bigint primary key default nextval('{LEDGER_SEQUENCE}'),
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
-- the quality gate's accounting: delivered = loaded + quarantined + rejected, per file version
alter table {LEDGER_TABLE} add column if not exists rows_delivered bigint;
alter table {LEDGER_TABLE} add column if not exists rows_loaded bigint;
alter table {LEDGER_TABLE} add column if not exists rows_quarantined bigint;
alter table {LEDGER_TABLE} add column if not exists rows_rejected bigint;
alter table {LEDGER_TABLE} add column if not exists rows_flagged bigint;
alter table {LEDGER_TABLE} add column if not exists rejection_rule varchar;
alter table {LEDGER_TABLE} add column if not exists kept_copy varchar;
alter table {LEDGER_TABLE} add column if not exists suite_fingerprint varchar;
"""


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LEDGER_DDL)


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, "meta", "file_ledger")


@dataclass(frozen=True)
class FileVersion:
    """The newest ledger row of a path: what the gate last decided about that file."""

    path: str
    content_hash: str
    size_bytes: int
    mtime_ns: int
    status: str
    suite_fingerprint: str | None

    @property
    def is_loaded(self) -> bool:
        return self.status in LOADED


def settle_versions(con: duckdb.DuckDBPyConnection, source: str, path: str | None = None) -> None:
    """Of the versions of each path whose rows were loaded, the newest says `loaded` and the
    earlier ones `replaced` (of one path, or of every path of the source).

    Ledgers written before this rule marked the newer version `replaced` and left the older one
    `loaded`; the same statement puts them right the first time it runs on a source. Row counts
    are not touched, so every published number stays the same."""
    con.execute(
        f"""
        update {LEDGER_TABLE} as entry
        set status = settled.status
        from (
            select ledger_id,
                case when ledger_id = max(ledger_id) over (partition by path)
                    then 'loaded' else 'replaced' end as status
            from {LEDGER_TABLE}
            where source = ? and (path = ? or ? is null) and status in ('loaded', 'replaced')
        ) as settled
        where entry.ledger_id = settled.ledger_id and entry.status <> settled.status
        """,
        [source, path, path],
    )


def current_versions(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, FileVersion]:
    """The newest version of every path of a source, by path."""
    rows = con.execute(
        f"""
        select path, content_hash, size_bytes, mtime_ns, status, suite_fingerprint
        from {LEDGER_TABLE}
        where source = ?
        qualify row_number() over (partition by path order by ledger_id desc) = 1
        """,
        [source],
    ).fetchall()
    return {row[0]: FileVersion(*row) for row in rows}


def refresh_mtime(con: duckdb.DuckDBPyConnection, path: str, digest: str, mtime_ns: int) -> None:
    """A file touched but not changed: only its modification time moves."""
    con.execute(
        f"update {LEDGER_TABLE} set mtime_ns = ? where path = ? and content_hash = ?",
        [mtime_ns, path, digest],
    )


@dataclass(frozen=True)
class LedgerEntry:
    """One new ledger row, in the table's column order (ledger_id is assigned)."""

    source: str
    path: str
    content_hash: str
    size_bytes: int
    mtime_ns: int
    row_count: int | None
    status: str
    message: str | None
    batch_id: str
    run_id: str | None
    loaded_at: datetime
    rows_delivered: int | None
    rows_loaded: int | None
    rows_quarantined: int | None
    rows_rejected: int | None
    rows_flagged: int | None
    rejection_rule: str | None
    kept_copy: str | None
    suite_fingerprint: str | None


LEDGER_COLUMNS = tuple(LedgerEntry.__dataclass_fields__)


def record(con: duckdb.DuckDBPyConnection, entry: LedgerEntry) -> None:
    """Append one file version."""
    placeholders = ", ".join("?" for _ in LEDGER_COLUMNS)
    con.execute(
        f"insert into {LEDGER_TABLE} ({', '.join(LEDGER_COLUMNS)}) values ({placeholders})",
        list(astuple(entry)),
    )


@dataclass(frozen=True)
class BatchAccounting:
    rows_delivered: int | None
    rows_loaded: int
    rows_quarantined: int
    rows_rejected: int | None


def batch_accounting(
    con: duckdb.DuckDBPyConnection, batch_id: str, path: str
) -> BatchAccounting | None:
    """The rows the ledger accounts for one batch, None when it has no entry."""
    row = con.execute(
        f"select rows_delivered, rows_loaded, rows_quarantined, rows_rejected "
        f"from {LEDGER_TABLE} where batch_id = ? and path = ?",
        [batch_id, path],
    ).fetchone()
    return BatchAccounting(*row) if row else None


@dataclass(frozen=True)
class PathHistory:
    """The newest version of a path, and since when it has been rejected without a break."""

    path: str
    status: str
    rejection_rule: str | None
    message: str | None
    loaded_at: datetime
    ledger_id: int
    held_since: datetime | None


def path_histories(con: duckdb.DuckDBPyConnection, source: str) -> list[PathHistory]:
    """Every path of a source with its newest version and the start of its current rejections."""
    rows = con.execute(
        f"""
        select path, status, rejection_rule, message, loaded_at, ledger_id,
            -- the first rejection of the current run of rejections of this path
            min(loaded_at) filter (where status = 'rejected') over (
                partition by path, grp) as held_since
        from (
            select *, sum(case when status = 'rejected' then 0 else 1 end) over (
                partition by path order by ledger_id) as grp
            from {LEDGER_TABLE} where source = ?
        )
        qualify row_number() over (partition by path order by ledger_id desc) = 1
        """,
        [source],
    ).fetchall()
    return [PathHistory(*row) for row in rows]


def last_loaded_at(con: duckdb.DuckDBPyConnection, source: str) -> datetime | None:
    """When data of the source last entered raw."""
    return con.execute(
        f"select max(loaded_at) from {LEDGER_TABLE} where source = ? "
        "and status in (select unnest(?))",
        [source, list(LOADED)],
    ).fetchone()[0]


@dataclass(frozen=True)
class PublishedFile:
    """A file version whose rows raw holds now, as the ledger recorded its loading."""

    source: str
    path: str
    content_hash: str
    batch_id: str
    loaded_at: datetime
    rows_loaded: int | None
    ledger_id: int


def published_files(
    con: duckdb.DuckDBPyConnection, source: str | None = None
) -> list[PublishedFile]:
    """The file versions whose rows are in raw, in the order they were loaded.

    Per path, the newest entry that loaded or withdrew it, unless that is a withdrawal: a
    rejected later version holds its data back and leaves the earlier version's rows in place.
    """
    if not _exists(con):
        return []
    rows = con.execute(
        f"""
        select source, path, content_hash, batch_id, loaded_at, rows_loaded, ledger_id
        from {LEDGER_TABLE}
        where status in (select unnest(?)) and (? is null or source = ?)
        qualify row_number() over (partition by path order by ledger_id desc) = 1
            and status <> ?
        order by ledger_id
        """,
        [[*LOADED, WITHDRAWN], source, source, WITHDRAWN],
    ).fetchall()
    return [PublishedFile(*row) for row in rows]


def newest_mtime_ns(
    con: duckdb.DuckDBPyConnection, source: str, paths: Sequence[str]
) -> int | None:
    """The newest modification time the ledger recorded for these paths of a source."""
    if not paths:
        return None
    return con.execute(
        f"select max(mtime_ns) from {LEDGER_TABLE} where source = ? and path in (select unnest(?))",
        [source, list(paths)],
    ).fetchone()[0]


def max_ledger_id(
    con: duckdb.DuckDBPyConnection, sources: Iterable[str] | None = None
) -> int | None:
    """The newest ledger entry, of every source or of the ones named."""
    if not _exists(con):
        return None
    if sources is None:
        return con.execute(f"select max(ledger_id) from {LEDGER_TABLE}").fetchone()[0]
    return con.execute(
        f"select max(ledger_id) from {LEDGER_TABLE} where source in (select unnest(?))",
        [list(sources)],
    ).fetchone()[0]


def changes_since(
    con: duckdb.DuckDBPyConnection, since_ledger_id: int | None
) -> list[tuple[str, str]]:
    """(source, batch_id) of every file version recorded after `since_ledger_id`, in order."""
    if not _exists(con):
        return []
    return con.execute(
        f"select source, batch_id from {LEDGER_TABLE} where ledger_id > ? order by ledger_id",
        [since_ledger_id if since_ledger_id is not None else -1],
    ).fetchall()


def row_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"select count(*) from {LEDGER_TABLE}").fetchone()[0]


def history(con: duckdb.DuckDBPyConnection, database: str = "") -> dict[int, dict[str, Any]]:
    """Every entry by ledger id, as column -> value for every column but `mtime_ns` (it moves
    when a file is only touched: bookkeeping for skipping unchanged files, not history);
    `database` names an attached database."""
    table = f"{ident(database)}.{LEDGER_TABLE}" if database else LEDGER_TABLE
    result = con.execute(f"select * exclude (mtime_ns) from {table} order by ledger_id")
    names = [d[0] for d in result.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in result.fetchall()}


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> int:
    """The ledger of an attached database (a published snapshot) into this empty one, ids and
    all; new entries are numbered after them. Returns the entries restored."""
    source = f"{ident(database)}.{LEDGER_TABLE}"
    top = con.execute(f"select coalesce(max(ledger_id), 0) from {source}").fetchone()[0]
    con.execute("create schema if not exists meta")
    con.execute(f"create sequence if not exists {LEDGER_SEQUENCE} start with {int(top) + 1}")
    ensure_ledger(con)
    if row_count(con):
        raise RuntimeError(f"{LEDGER_TABLE} is not empty: the ledger is restored only once")
    con.execute(f"insert into {LEDGER_TABLE} by name select * from {source}")
    return row_count(con)
