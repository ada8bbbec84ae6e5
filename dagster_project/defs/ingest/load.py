"""Load one source's extract folder into DuckDB schema `raw` through the quality gate, by file.

DuckDB reads the files itself (read_csv / read_parquet); Python only decides which files to load
and sniffs their first bytes. Each new or changed file is one batch, handled in one transaction,
so a crash never leaves half a file:

1. file rules: an empty file, a non-CSV file, a file that is not UTF-8, a file whose header lacks
   a required column, or the same bytes already loaded under another name is rejected whole;
2. the file is staged as text (`door._stage`), rows DuckDB cannot split are set aside as malformed;
3. values are normalised and every rule of the source's expectation suite is applied as a SQL
   predicate (`door._check`, see `rules/`);
4. too many failing rows (the suite's `max_failed_share`) rejects the batch whole;
5. GX re-judges the failing rows and a sample of the passing ones; it must agree with the door;
6. passing rows go to `raw.<source>`, failing rows to `quarantine.<source>` (`quarantine.py`),
   and `meta.file_ledger` records the file with rows delivered = loaded + quarantined (+ rows of
   a rejected file, which is kept whole under the rejected-files folder).

Every value lands as text: typing happens in dbt staging. Each row carries lineage columns.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.core.sql import ident
from dagster_project.defs.ingest import ledger, quarantine
from dagster_project.defs.ingest import results as results_table
from dagster_project.defs.ingest.door import RAW_SCHEMA, ensure_raw_table, through_door
from dagster_project.defs.ingest.files import (
    NOT_KEPT_RULES,
    copy_file,
    link_digest,
    link_refusal,
    list_extract_files,
    scan_file,
)
from dagster_project.defs.ingest.outcomes import (
    DeliveryFailed,
    FileOutcome,
    Gate,
    Pending,
    RejectedFile,
    SourceLoadReport,
)
from dagster_project.defs.ingest.rules.gx import RuleResult, judge_with_gx, judged_rows_sql
from dagster_project.defs.ingest.rules.suite import Suite

LOG = logging.getLogger(__name__)


def _rejected_copy(
    gate: Gate, source: str, path: Path, batch_id: str, rule: str | None
) -> Path | None:
    """Where a rejected file is kept: a later delivery under the same name must not erase it.
    A refused link is not kept: what it points to was never read and is none of the gate's."""
    if gate.rejected_dir is None or rule in NOT_KEPT_RULES:
        return None
    return gate.rejected_dir / source / f"{batch_id}__{path.name}"


def _keep(path: Path, target: Path | None) -> None:
    if target is None:
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_file(path, target)
    except (OSError, RejectedFile) as exc:  # the file went, or became a link, since
        target.unlink(missing_ok=True)
        LOG.warning("could not keep a copy of rejected %s: %s", path, exc)


def prepare_source(con: duckdb.DuckDBPyConnection, source: str, columns: Sequence[str]) -> str:
    """The tables one source's load writes, made if missing; returns its raw table's name.

    Also run by `ingest_source` itself. Callers that load several sources at once on their own
    connections run it for all of them first, one after another: two connections creating the
    same schema at the same moment conflict in DuckDB's catalog, while creating what exists is
    a no-op that conflicts with nothing."""
    ledger.ensure_ledger(con)
    ledger.settle_versions(con, source)  # a ledger of the earlier convention, once
    results_table.ensure_tables(con)
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    table = f"{RAW_SCHEMA}.{ident(source)}"
    # the tables exist even before the first delivery, so staging views always compile
    ensure_raw_table(con, table, columns, [])
    quarantine.ensure_table(con, source, columns)
    return table


def ingest_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    folder: Path,
    raw_root: Path,
    columns: Sequence[str],
    run_id: str = "",
    on_file: Callable[[FileOutcome], None] | None = None,
    gate: Gate | None = None,
) -> SourceLoadReport:
    """Load every new or changed file of one source through the gate; unchanged files are skipped.

    A file is unchanged when its size and modification time match the ledger (no read at all),
    or when its content hash matches (then only the ledger's mtime is refreshed). A rejected file
    is judged again when its suite changed since.

    The new files are committed together, in one transaction, after GX confirmed the door on
    them (one GX validation per source and run, not per file). When that fails, each file is
    loaded in a transaction of its own, so one file's trouble is that file's rejection only.
    """
    gate = gate or Gate()
    table = prepare_source(con, source, columns)
    report = SourceLoadReport(source=source, table=table)
    listing, todo = _pending_files(con, gate, source, folder, raw_root)
    outcomes: dict[str, FileOutcome] = {}
    if todo:
        try:
            outcomes = _load_delivery(con, gate, source, table, columns, run_id, todo)
        except DeliveryFailed as exc:
            LOG.warning(
                "%s: loading the new files together failed (%s); one by one now", source, exc
            )
            for item in todo:
                try:
                    outcomes.update(
                        _load_delivery(con, gate, source, table, columns, run_id, [item])
                    )
                except DeliveryFailed as single:
                    outcomes[item.rel_path] = _hold(con, gate, source, run_id, item, single)
    for rel_path, outcome in listing:
        outcome = outcome or outcomes[rel_path]
        report.files.append(outcome)
        if on_file:
            on_file(outcome)
    return report


def _pending_files(
    con: duckdb.DuckDBPyConnection, gate: Gate, source: str, folder: Path, raw_root: Path
) -> tuple[list[tuple[str, FileOutcome | None]], list[Pending]]:
    """Every file of the folder in order, unchanged ones with their outcome, and the new or
    changed ones waiting for the door."""
    known = ledger.current_versions(con, source)
    fingerprint = gate.suite.fingerprint if gate.suite else None
    open_files = quarantine.files_with_open_rows(con, source)
    listing: list[tuple[str, FileOutcome | None]] = []
    todo: list[Pending] = []
    new_digests: dict[str, str] = {}  # content hash -> first new file with it, this delivery
    for path in list_extract_files(folder):
        rel_path = path.relative_to(raw_root).as_posix()
        try:
            stat = path.lstat()  # a link's own: its target is never looked at
        except FileNotFoundError:  # removed since listed
            continue
        previous = known.get(rel_path)
        # a changed suite judges again the files it held back, whole or in part
        rejudge = bool(
            previous
            and previous.suite_fingerprint != fingerprint
            and (previous.status == "rejected" or rel_path in open_files)
        )
        same_stat = previous and (previous.size_bytes, previous.mtime_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
        )
        if same_stat and not rejudge:
            listing.append((rel_path, FileOutcome(rel_path, "unchanged")))
            continue
        if path.is_symlink():
            refusal = link_refusal(path, raw_root)
            todo.append(Pending(path, rel_path, link_digest(path), stat, previous, None, refusal))
            listing.append((rel_path, None))
            continue
        try:
            # the hash and the text rules (NUL bytes, UTF-8) in one read of the whole file
            scan = scan_file(path, text=path.suffix.lower() == ".csv")
        except RejectedFile as exc:  # became a link or a pipe since listed: judged next run
            LOG.warning("%s: %s; left for the next run", rel_path, exc)
            continue
        digest = scan.digest
        if previous and not rejudge and previous.content_hash == digest:
            ledger.refresh_mtime(con, rel_path, digest, stat.st_mtime_ns)
            listing.append((rel_path, FileOutcome(rel_path, "unchanged")))
            continue
        twin = next(
            (
                p
                for p, version in known.items()
                if p != rel_path and version.content_hash == digest and version.is_loaded
            ),
            # the same bytes twice in one delivery: the later file is the duplicate
            new_digests.get(digest),
        )
        new_digests.setdefault(digest, rel_path)
        todo.append(Pending(path, rel_path, digest, stat, previous, twin, scan=scan))
        listing.append((rel_path, None))
    return listing, todo


def _batch_id(item: Pending, at: datetime) -> str:
    """When, which bytes, and a nonce: the same bytes judged twice are two batches."""
    return f"{at:%Y%m%dT%H%M%S}-{item.digest[:12]}-{secrets.token_hex(2)}"


def _rejected_outcome(
    item: Pending, batch_id: str, exc: RejectedFile | DeliveryFailed
) -> FileOutcome:
    rows = exc.rows if isinstance(exc, RejectedFile) else None
    if rows is None and isinstance(exc, DeliveryFailed) and item.path.suffix.lower() == ".csv":
        rows = item.scan.data_rows if item.scan else None
    return FileOutcome(
        item.rel_path,
        "rejected",
        0,
        f"{item.rel_path}: {exc}",
        rows_delivered=rows,
        rows_rejected=rows,
        rule=exc.rule,
        batch_id=batch_id,
    )


def _load_delivery(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    source: str,
    table: str,
    columns: Sequence[str],
    run_id: str,
    items: Sequence[Pending],
) -> dict[str, FileOutcome]:
    """The files of `items` through the door in one transaction, confirmed by one GX run."""
    suite = gate.suite
    outcomes: dict[str, FileOutcome] = {}
    keep: list[tuple[Path, Path | None]] = []
    door_failed: dict[str, int] = {}
    judged = False
    con.execute("begin transaction")
    try:
        for item in items:
            loaded_at = datetime.now().replace(microsecond=0)
            batch_id = _batch_id(item, loaded_at)
            try:
                outcome, counts = through_door(
                    con, gate, source, table, columns, item, batch_id, loaded_at
                )
            except RejectedFile as exc:
                if isinstance(exc.__cause__, duckdb.Error):
                    # the failed statement aborted the transaction: start over file by file
                    raise DeliveryFailed(exc.rule, str(exc)) from exc
                outcome = _rejected_outcome(item, batch_id, exc)
                counts = {"rejected": {exc.rule: exc.rows or 0}}
                counts.update({f"evidence:{k}": v for k, v in exc.evidence.items()})
                LOG.warning("rejected %s", outcome.message)
            kept = (
                _rejected_copy(gate, source, item.path, batch_id, outcome.rule)
                if outcome.status == "rejected"
                else None
            )
            if kept is not None:
                keep.append((item.path, kept))
            _record(con, gate, source, run_id, item, outcome, counts, loaded_at, kept)
            if outcome.status != "rejected" and suite is not None:
                rows = judged_rows_sql(suite, "_checked", gate.gx_sample_rows)
                con.execute(
                    f"insert into _judged {rows}"
                    if judged
                    else f"create temp table _judged as {rows}"
                )
                judged = True
                for group in ("quarantined", "flagged"):
                    for rule, n in counts[group].items():
                        door_failed[rule] = door_failed.get(rule, 0) + n
            con.execute(
                "drop view if exists _stage; drop table if exists _stage_rows; "
                "drop table if exists _stage_numbered; drop table if exists _checked; "
                "drop table if exists _unique_hits; drop table if exists _rechecked"
            )
            outcomes[item.rel_path] = outcome
        if judged and suite is not None:
            _confirm_with_gx(con, gate, suite, source, outcomes, door_failed)
        con.execute("commit")
    except DeliveryFailed:
        con.execute("rollback")
        raise
    except Exception as exc:  # noqa: BLE001 - a database or GX failure holds these files back
        con.execute("rollback")
        LOG.exception("the door failed on %s", ", ".join(i.rel_path for i in items))
        raise DeliveryFailed("gate:error", f"the gate failed: {exc}") from exc
    finally:
        con.execute("drop table if exists _judged")
    for path, target in keep:
        _keep(path, target)
    return outcomes


def _confirm_with_gx(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    suite: Suite,
    source: str,
    outcomes: Mapping[str, FileOutcome],
    door_failed: Mapping[str, int],
) -> None:
    """GX re-judges the sampled rows of the delivery; it must find what the door found."""
    results = {
        rule.name: RuleResult(
            rule.name, rule.expectation_type, rule.severity, door_failed.get(rule.name, 0)
        )
        for rule in suite.row_rules
    }
    started = time.perf_counter()
    rows = judge_with_gx(
        con, suite, "select * from _judged", gate.parameters, gate.gx_chunk_rows, results
    )
    seconds = time.perf_counter() - started
    disagreements = [r for r in results.values() if not r.agrees]
    if disagreements:
        detail = "; ".join(
            f"{r.rule}: GX {r.gx_unexpected_count}, door {r.door_failed}"
            + (f" ({r.gx_error})" if r.gx_error else "")
            for r in disagreements
        )
        raise DeliveryFailed(
            "gate:self_check",
            f"GX and the door disagree on the rows that break {detail}: held until the data "
            "platform team checks the rule",
        )
    batches = [o for o in outcomes.values() if o.status != "rejected"]
    results_table.record_validation(
        con, source, [b.batch_id for b in batches], results, rows, seconds
    )


def _hold(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    source: str,
    run_id: str,
    item: Pending,
    exc: DeliveryFailed,
) -> FileOutcome:
    """Record a file the gate could not load on its own as rejected, in its own transaction."""
    loaded_at = datetime.now().replace(microsecond=0)
    batch_id = _batch_id(item, loaded_at)
    outcome = _rejected_outcome(item, batch_id, exc)
    kept = _rejected_copy(gate, source, item.path, batch_id, outcome.rule)
    con.execute("begin transaction")
    _record(
        con,
        gate,
        source,
        run_id,
        item,
        outcome,
        {"rejected": {exc.rule: outcome.rows_delivered or 0}},
        loaded_at,
        kept,
    )
    con.execute("commit")
    _keep(item.path, kept)
    LOG.warning("rejected %s", outcome.message)
    return outcome


def _record(
    con: duckdb.DuckDBPyConnection,
    gate: Gate,
    source: str,
    run_id: str,
    item: Pending,
    outcome: FileOutcome,
    counts: Mapping[str, Mapping[str, int]],
    at: datetime,
    kept: Path | None,
) -> None:
    """The ledger row of a file version and its rows per rule and outcome."""
    ledger.record(
        con,
        ledger.LedgerEntry(
            source=source,
            path=item.rel_path,
            content_hash=item.digest,
            size_bytes=item.stat.st_size,
            mtime_ns=item.stat.st_mtime_ns,
            row_count=outcome.rows,
            status=outcome.status,
            message=outcome.message or None,
            batch_id=outcome.batch_id,
            run_id=run_id or None,
            loaded_at=at,
            rows_delivered=outcome.rows_delivered,
            rows_loaded=outcome.rows,
            rows_quarantined=outcome.rows_quarantined,
            rows_rejected=outcome.rows_rejected,
            rows_flagged=outcome.rows_flagged,
            rejection_rule=outcome.rule,
            kept_copy=str(kept) if kept else None,
            suite_fingerprint=gate.suite.fingerprint if gate.suite else None,
        ),
    )
    if outcome.status == "loaded":  # the versions it replaces say so, in the same transaction
        ledger.settle_versions(con, source, item.rel_path)
    results_table.record_rule_counts(con, outcome.batch_id, source, item.rel_path, counts, at)
    outcome.rule_counts = {
        rule: n
        for kind, group in counts.items()
        if kind in ("quarantined", "flagged", "rejected")
        for rule, n in group.items()
    }
