"""Raw rebuilt from the delivery folder as the restored ledger says it was loaded.

After the working database is lost, `opsvalue rebuild` restores the file ledger from the last
published snapshot and calls `replay_published`: every file version whose rows the ledger says
are in raw goes through the door again, under the batch id and load time it was recorded with,
in the order it was loaded (the masters first, whose codes the other suites check). The door
judges the same bytes with the same suite and the same reference moment, so raw gets the same
rows with the same lineage, and the facts built from them keep their batch ids.

Nothing is recorded: the ledger already holds these versions, and the quarantine, rule counts,
flags and GX results the replay would write are replaced by the snapshot's copies afterwards
(`defs/publish/restore.py`). A version whose bytes are no longer in the delivery folder (deleted,
or replaced by a newer file since) cannot be replayed; `check_deliveries` finds those before
anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core.contract import SourceContract
from dagster_project.core.sql import ident
from dagster_project.defs.ingest import ledger, quarantine, results
from dagster_project.defs.ingest.door import RAW_SCHEMA, ensure_raw_table, through_door
from dagster_project.defs.ingest.files import scan_file
from dagster_project.defs.ingest.outcomes import Gate, Pending, RejectedFile
from dagster_project.defs.ingest.rules.suite import Suite, load_order, resolve_parameters


@dataclass(frozen=True)
class DeliveryProblem:
    """A published file version the delivery folder cannot give back."""

    path: str
    kind: str  # missing | changed | held
    detail: str


def check_deliveries(
    files: Iterable[ledger.PublishedFile],
    newest: Mapping[str, ledger.FileVersion],
    raw_dir: Path,
) -> list[DeliveryProblem]:
    """The published versions whose bytes are not in `raw_dir` as they were loaded.

    `newest` is the ledger's newest version of each path: a file whose newest version was
    rejected still publishes its earlier version, whose bytes the rejected file replaced."""
    problems = []
    for published in files:
        path = raw_dir / published.path
        loaded = f"loaded {published.loaded_at:%Y-%m-%d %H:%M}, {published.rows_loaded or 0:,} rows"
        if not path.is_file():
            problems.append(DeliveryProblem(published.path, "missing", f"not there ({loaded})"))
            continue
        digest = scan_file(path, text=False).digest
        if digest == published.content_hash:
            continue
        later = newest.get(published.path)
        if later is not None and later.status == "rejected" and later.content_hash == digest:
            problems.append(
                DeliveryProblem(
                    published.path,
                    "held",
                    f"holds a later version the gate rejected; the published rows are the "
                    f"earlier version's ({loaded}), whose bytes are gone",
                )
            )
        else:
            problems.append(
                DeliveryProblem(
                    published.path,
                    "changed",
                    f"changed since it was published ({loaded}): a new version, not yet loaded",
                )
            )
    return problems


@dataclass(frozen=True)
class Replayed:
    path: str
    rows: int
    expected: int | None
    problem: str = ""

    @property
    def agrees(self) -> bool:
        return not self.problem and self.rows == (self.expected or 0)


def replay_published(
    con: duckdb.DuckDBPyConnection,
    contract: Mapping[str, SourceContract],
    suites: Mapping[str, Suite],
    raw_dir: Path,
    on_file: Callable[[Replayed], None] | None = None,
) -> list[Replayed]:
    """Load into raw, through the door, every file version the ledger says is there.

    Files whose bytes differ from the recorded version are skipped (the rebuild was told by
    `check_deliveries`); each file is one transaction. Returns what happened to each file."""
    results.ensure_tables(con)
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    for name, source in contract.items():
        columns = [c.name for c in source.columns]
        ensure_raw_table(con, f"{RAW_SCHEMA}.{ident(name)}", columns, [])
        quarantine.ensure_table(con, name, columns)
    done = []
    for name in load_order(contract):
        for published in ledger.published_files(con, name):
            gate = _gate(con, contract[name], suites.get(name), published)
            outcome = _replay(con, contract[name], gate, raw_dir, published)
            done.append(outcome)
            if on_file:
                on_file(outcome)
    return done


def _gate(
    con: duckdb.DuckDBPyConnection,
    source: SourceContract,
    suite: Suite | None,
    published: ledger.PublishedFile,
) -> Gate:
    """The gate as it stood when the version was loaded: the masters replayed so far, and the
    moment of its loading as "now" (a row in the future then still is)."""
    return Gate(
        suite=suite,
        parameters=resolve_parameters(con, suite.parameters, published.loaded_at) if suite else {},
        key=source.key,
    )


def _replay(
    con: duckdb.DuckDBPyConnection,
    source: SourceContract,
    gate: Gate,
    raw_dir: Path,
    published: ledger.PublishedFile,
) -> Replayed:
    path = raw_dir / published.path
    scan = scan_file(path, text=path.suffix.lower() == ".csv") if path.is_file() else None
    if scan is None or scan.digest != published.content_hash:
        return Replayed(published.path, 0, published.rows_loaded, "not in the delivery folder")
    item = Pending(path, published.path, published.content_hash, path.stat(), None, None, scan=scan)
    columns = [c.name for c in source.columns]
    table = f"{RAW_SCHEMA}.{ident(source.name)}"
    con.execute("begin transaction")
    try:
        outcome, _ = through_door(
            con, gate, source.name, table, columns, item, published.batch_id, published.loaded_at
        )
    except RejectedFile as exc:
        con.execute("rollback")
        return Replayed(published.path, 0, published.rows_loaded, f"the door rejects it: {exc}")
    con.execute("commit")
    return Replayed(published.path, outcome.rows, published.rows_loaded)
