"""`meta.withdrawals`: files taken back on request, and taking their rows out at the next run.

A delivered file whose data must no longer count (sent by mistake, the wrong month, a system's
test extract) is withdrawn explicitly: `opsvalue withdraw <source>/<file> --reason "..."` records a
request here, with who asked and why. The next run applies it before it loads the source's files,
in one transaction: the file's rows leave `raw.<source>`, its open quarantined rows are released
('file withdrawn'), its row flags go, and the ledger records the withdrawal (status `withdrawn`,
the message naming who, when and why). dbt then drops the rows of the batch that left raw from
the detail facts, and the KPI months they fed are recomputed (their input digest changes).

The bytes withdrawn are not loaded again while they lie in the delivery folder: the ledger's
newest version of the path is the withdrawal, with their hash. A new version delivered under the
same name later is a new delivery and is loaded.

A file simply deleted from `data/raw` is not a withdrawal: its rows stay published (a deletion
may be a clean-up or an accident), and `opsvalue status` and every run report it as missing until
it is restored or withdrawn (`missing_files`).

This module owns `meta.withdrawals`: its DDL and every query on it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.core.sql import ident
from dagster_project.core.warehouse import table_exists
from dagster_project.defs.ingest import ledger, quarantine, results
from dagster_project.defs.ingest.door import RAW_SCHEMA

WITHDRAWALS_TABLE = "meta.withdrawals"
RELEASE_REASON = "file withdrawn"
REASON_MAX_CHARS = 500

DDL = f"""
create schema if not exists meta;
create table if not exists {WITHDRAWALS_TABLE} (
    withdrawal_id varchar primary key,
    source varchar not null,
    path varchar not null,
    content_hash varchar not null,   -- the version withdrawn (the ledger's newest at the request)
    reason varchar not null,
    requested_by varchar not null,
    requested_at timestamp not null,
    applied_at timestamp,            -- null while the request waits for the next run
    batch_id varchar,                -- the ledger entry of the withdrawal
    run_id varchar,
    rows_removed bigint,
    quarantined_rows_released bigint
);
"""


class WithdrawalRefused(ValueError):
    """A withdrawal that cannot be requested; the message says why and what to do instead."""


@dataclass(frozen=True)
class Withdrawal:
    withdrawal_id: str
    source: str
    path: str
    content_hash: str
    reason: str
    requested_by: str
    requested_at: datetime
    applied_at: datetime | None
    batch_id: str | None
    run_id: str | None
    rows_removed: int | None
    quarantined_rows_released: int | None


COLUMNS = tuple(Withdrawal.__dataclass_fields__)


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def _select(where: str) -> str:
    columns = ", ".join(COLUMNS)
    return f"select {columns} from {WITHDRAWALS_TABLE} where {where} order by requested_at"


def pending(con: duckdb.DuckDBPyConnection, source: str | None = None) -> list[Withdrawal]:
    """Requests not applied yet, of one source or of all, oldest first."""
    if not table_exists(con, "meta", "withdrawals"):
        return []
    rows = con.execute(
        _select("applied_at is null and (? is null or source = ?)"), [source, source]
    ).fetchall()
    return [Withdrawal(*row) for row in rows]


def applied(con: duckdb.DuckDBPyConnection) -> list[Withdrawal]:
    """Every withdrawal done, oldest first."""
    if not table_exists(con, "meta", "withdrawals"):
        return []
    return [Withdrawal(*row) for row in con.execute(_select("applied_at is not null")).fetchall()]


def split_path(path: str, sources: Iterable[str]) -> tuple[str, str]:
    """`<source>/<file>` as the ledger spells it: (source, path), or WithdrawalRefused."""
    text = path.strip().replace("\\", "/")
    parts = text.split("/")
    known = sorted(sources)
    if len(parts) != 2 or not all(parts) or ".." in parts:
        raise WithdrawalRefused(
            f"{path!r} is not <source>/<file> as under data/raw (e.g. claims/claims_2026-05.csv)"
        )
    if parts[0] not in known:
        raise WithdrawalRefused(f"no source named {parts[0]!r}; the sources: {', '.join(known)}")
    return parts[0], text


def request(
    con: duckdb.DuckDBPyConnection,
    source: str,
    path: str,
    reason: str,
    requested_by: str,
    at: datetime,
) -> tuple[Withdrawal, ledger.PublishedFile]:
    """Record a request to withdraw `path`, whose rows must be published now.

    Refused (WithdrawalRefused, nothing written) when the ledger does not know the file, when
    nothing of it is published (never loaded, only rejected, or withdrawn already) or when a
    request for it is waiting already. Returns the request and the version it takes out.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise WithdrawalRefused("a withdrawal needs a reason (--reason): it is kept with it")
    if len(reason) > REASON_MAX_CHARS:
        raise WithdrawalRefused(f"the reason is longer than {REASON_MAX_CHARS} characters")
    ensure_table(con)
    ledger.ensure_ledger(con)
    newest = ledger.current_versions(con, source).get(path)
    if newest is None:
        raise WithdrawalRefused(
            f"{path} is not in the file ledger: it was never delivered, or it is new and not "
            "loaded yet (then remove it from the delivery folder instead)"
        )
    published = {f.path: f for f in ledger.published_files(con, source)}.get(path)
    if published is None:
        what = "withdrawn already" if newest.status == ledger.WITHDRAWN else "never loaded"
        raise WithdrawalRefused(
            f"nothing of {path} is published ({what}); a file held back by the gate is released "
            "by removing it from the delivery folder or delivering a corrected version"
        )
    if any(w.path == path for w in pending(con, source)):
        raise WithdrawalRefused(f"a withdrawal of {path} is already waiting for the next run")
    withdrawal = Withdrawal(
        withdrawal_id=f"{at:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
        source=source,
        path=path,
        content_hash=newest.content_hash,
        reason=reason,
        requested_by=requested_by,
        requested_at=at,
        applied_at=None,
        batch_id=None,
        run_id=None,
        rows_removed=None,
        quarantined_rows_released=None,
    )
    placeholders = ", ".join("?" for _ in COLUMNS)
    con.execute(
        f"insert into {WITHDRAWALS_TABLE} ({', '.join(COLUMNS)}) values ({placeholders})",
        [getattr(withdrawal, c) for c in COLUMNS],
    )
    return withdrawal, published


def apply_pending(
    con: duckdb.DuckDBPyConnection, source: str, run_id: str, at: datetime
) -> list[Withdrawal]:
    """Take out the rows of the source's requested withdrawals, each in one transaction."""
    done = []
    for withdrawal in pending(con, source):
        con.execute("begin transaction")
        try:
            done.append(_apply(con, withdrawal, run_id, at))
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return done


def _apply(
    con: duckdb.DuckDBPyConnection, withdrawal: Withdrawal, run_id: str, at: datetime
) -> Withdrawal:
    source, path = withdrawal.source, withdrawal.path
    newest = ledger.current_versions(con, source)[path]
    batch_id = f"{at:%Y%m%dT%H%M%S}-withdrawn-{secrets.token_hex(2)}"
    raw_table = f"{RAW_SCHEMA}.{ident(source)}"
    removed = 0
    if table_exists(con, RAW_SCHEMA, source):
        row = con.execute(f"delete from {raw_table} where _source_file = ?", [path]).fetchone()
        removed = int(row[0]) if row else 0
    released = 0
    if table_exists(con, quarantine.SCHEMA, source):
        released = quarantine.release_file(con, source, path, batch_id, at, RELEASE_REASON)
    results.drop_flags(con, source, path)
    when = f"{withdrawal.requested_at:%Y-%m-%d %H:%M}"
    ledger.record(
        con,
        ledger.LedgerEntry(
            source=source,
            path=path,
            content_hash=newest.content_hash,
            size_bytes=newest.size_bytes,
            mtime_ns=newest.mtime_ns,
            row_count=0,
            status=ledger.WITHDRAWN,
            message=(
                f"withdrawn by {withdrawal.requested_by} (asked {when}): {withdrawal.reason}; "
                f"{removed:,} row(s) taken out, {released:,} quarantined row(s) released"
            ),
            batch_id=batch_id,
            run_id=run_id or None,
            loaded_at=at,
            # nothing delivered: the rows were counted when the file was loaded
            rows_delivered=0,
            rows_loaded=0,
            rows_quarantined=0,
            rows_rejected=0,
            rows_flagged=0,
            rejection_rule=None,
            kept_copy=None,
            suite_fingerprint=newest.suite_fingerprint,
        ),
    )
    con.execute(
        f"update {WITHDRAWALS_TABLE} set applied_at = ?, batch_id = ?, run_id = ?, "
        "rows_removed = ?, quarantined_rows_released = ? where withdrawal_id = ?",
        [at, batch_id, run_id or None, removed, released, withdrawal.withdrawal_id],
    )
    return Withdrawal(
        **{
            **{c: getattr(withdrawal, c) for c in COLUMNS},
            "applied_at": at,
            "batch_id": batch_id,
            "run_id": run_id or None,
            "rows_removed": removed,
            "quarantined_rows_released": released,
        }
    )


@dataclass(frozen=True)
class MissingFile:
    """A published file no longer in the delivery folder (deleted, not withdrawn)."""

    source: str
    path: str
    rows_loaded: int | None
    loaded_at: datetime


def missing_files(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, source: str | None = None
) -> list[MissingFile]:
    """Files whose rows are published but which are gone from `raw_dir`, unless a withdrawal
    of them is waiting: they stay published until they are restored or withdrawn."""
    waiting = {w.path for w in pending(con, source)}
    return [
        MissingFile(f.source, f.path, f.rows_loaded, f.loaded_at)
        for f in ledger.published_files(con, source)
        if f.path not in waiting and not (raw_dir / f.path).is_file()
    ]


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> int:
    """The withdrawals recorded in an attached database (a published snapshot), if it has any."""
    ensure_table(con)
    con.execute(f"delete from {WITHDRAWALS_TABLE}")
    if not table_exists(con, "meta", "withdrawals", database):
        return 0
    kept = f"{ident(database)}.{WITHDRAWALS_TABLE}"
    con.execute(f"insert into {WITHDRAWALS_TABLE} by name select * from {kept}")
    return con.execute(f"select count(*) from {WITHDRAWALS_TABLE}").fetchone()[0]
