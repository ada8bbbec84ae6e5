"""A new working database from the deliveries and the last published snapshot (`opsvalue rebuild`).

What cannot be re-derived from `data/raw` is restored from the snapshot: it is the pipeline's
durable record. Every publication copies the `meta` and `quarantine` schemas and the marts whole,
writes the file beside the old one, syncs it and renames it into place, and nothing writes it
afterwards; so the snapshot holds, as they were when last published:

- the file ledger, every version of every file with its status (loaded, replaced, rejected,
  withdrawn), batch id, hash and accounting; the gate's `since` moments are derived from it;
- the quarantined rows, including those of file versions no longer delivered, with their
  release records;
- the metric definition history;
- the withdrawals, the gate state, the rule counts, row flags, GX results and publications.

Raw is then replayed from the delivery folder as the restored ledger says it was loaded
(`defs/ingest/replay.py`), and dbt builds everything else. Decisions taken after the last
publication are not in the snapshot: a delivery loaded since is loaded again by the next run (a
new batch), and a withdrawal requested since must be requested again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core.sql import literal
from dagster_project.defs.ingest import gate_state, ledger, quarantine, results, withdrawals
from dagster_project.defs.publish import records
from dagster_project.defs.transform import definition_history

PREVIOUS = "previous"  # the alias the snapshot is attached under


@contextmanager
def attached(con: duckdb.DuckDBPyConnection, snapshot: Path) -> Iterator[str]:
    """The snapshot attached read-only to `con` for the body; yields its alias."""
    con.execute(f"attach {literal(str(snapshot))} as {PREVIOUS} (read_only)")
    try:
        yield PREVIOUS
    finally:
        con.execute(f"detach {PREVIOUS}")


@dataclass(frozen=True)
class Restored:
    ledger_entries: int
    definition_versions: int
    quarantined_rows: int
    withdrawals: int
    publications: int


def restore_ledger(con: duckdb.DuckDBPyConnection, snapshot: Path) -> int:
    """The file ledger first: the replay of raw reads it."""
    with attached(con, snapshot) as alias:
        return ledger.restore_from(con, alias)


def restore_records(con: duckdb.DuckDBPyConnection, snapshot: Path) -> Restored:
    """Everything else the snapshot keeps that data/raw cannot give back, replacing what the
    replay wrote (quarantine, flags): the snapshot's copy is what was decided and published."""
    with attached(con, snapshot) as alias:
        kept = quarantine.restore_from(con, alias)
        results.restore_from(con, alias)
        gate_state.restore_from(con, alias)
        return Restored(
            ledger_entries=ledger.row_count(con),
            definition_versions=definition_history.restore_from(con, alias),
            quarantined_rows=sum(kept.values()),
            withdrawals=withdrawals.restore_from(con, alias),
            publications=records.restore_from(con, alias),
        )
