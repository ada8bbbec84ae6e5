"""Ingestion: one asset per source, loading data/raw/<source>/ into DuckDB schema `raw`.

Each source asset carries the quality gate's checks (`checks.py`), evaluated on the run's batches.
The work is done by `load.py` (which files, the door, the ledger) and `gate_state.py` (what people
see of the gates); this module only wires them into Dagster.
"""

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.core.resources import Warehouse
from dagster_project.core.settings import Settings
from dagster_project.defs.ingest import checks, gate_state, ledger, results, unread, withdrawals
from dagster_project.defs.ingest.checks import CHECK_SPECS, CONTRACT, raw_key
from dagster_project.defs.ingest.files import list_extract_files
from dagster_project.defs.ingest.load import ingest_source, prepare_source
from dagster_project.defs.ingest.outcomes import FileOutcome, Gate, SourceLoadReport
from dagster_project.defs.ingest.rules.suite import (
    PARAMETER_PROVIDERS,
    load_order,
    load_suites,
    resolve_parameters,
)

# The pipeline's own tables the ingestion writes and the data-quality scorecard (dbt) reads.
META_TABLES = {
    "file_ledger": "Every file version seen: hash, rows delivered/loaded/quarantined/rejected.",
    "batch_rule_counts": "Rows per rule and outcome (quarantined, flagged, normalised, rejected).",
    "source_gate_state": "One row per source: gate ok/held, why and since when, freshness.",
}

INGEST_SPECS = [
    dg.AssetSpec(
        key=raw_key(source.name),
        description=f"Extracts of {source.system}, loaded as delivered: {source.description}",
        group_name="ingest",
        kinds={"duckdb", "csv"},
        owners=[f"team:{source.data_owner}"],
        skippable=True,
        metadata={
            "dagster/table_name": f"raw.{source.name}",
            "delivery_folder": f"data/raw/{source.name}/",
            "delivery_cadence": source.delivery_cadence,
            "key_columns": ", ".join(source.key),
            "expectation_suite": f"expectations/{source.name}.json",
            "quarantine_table": f"quarantine.{source.name}",
        },
    )
    for source in CONTRACT.values()
] + [
    dg.AssetSpec(
        key=dg.AssetKey(["meta", table]),
        description=description,
        group_name="ingest",
        kinds={"duckdb"},
        skippable=True,
        metadata={"dagster/table_name": f"meta.{table}"},
    )
    for table, description in META_TABLES.items()
]


def reference_now(settings: Settings) -> datetime:
    """The moment "not in the future" is judged against: OPSVALUE_NOW or the clock."""
    if settings.now_override:
        return datetime.fromisoformat(settings.now_override)
    return datetime.now().replace(microsecond=0)


def _clock() -> datetime:
    """When the pipeline records something it did (as the ledger's loaded_at: the clock)."""
    return datetime.now().replace(microsecond=0)


def source_gate(
    con: duckdb.DuckDBPyConnection, settings: Settings, name: str, suite, now: datetime
) -> Gate:
    """The gate one source's files pass: its suite, with the parameters resolved now (the
    masters' codes must be loaded first, see `load_order`), and the settings' GX sampling."""
    return Gate(
        suite=suite,
        parameters=resolve_parameters(con, suite.parameters, now) if suite else {},
        key=CONTRACT[name].key,
        rejected_dir=settings.rejected_dir,
        gx_sample_rows=settings.gx_sample_rows,
        gx_chunk_rows=settings.gx_chunk_rows,
    )


def _file_logger(log: dg.DagsterLogManager):
    def log_file(outcome: FileOutcome) -> None:
        if outcome.status == "rejected":
            log.warning(f"rejected {outcome.message}")
        elif outcome.status != "unchanged":
            extra = f" ({outcome.message})" if outcome.message else ""
            what = "loaded, replacing its earlier version," if outcome.replaces else "loaded"
            log.info(f"{what} {outcome.path}: {outcome.rows} rows{extra}")

    return log_file


def _load_source(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    name: str,
    suite,
    now: datetime,
) -> tuple[SourceLoadReport, gate_state.GateState]:
    """One source through the gate, and its gate state afterwards."""
    source = CONTRACT[name]
    if suite is None:
        context.log.warning(f"{name}: no expectation suite in {settings.expectations_dir}")
    gate = source_gate(con, settings, name, suite, now)
    # before the files: the bytes a withdrawal names are then never loaded again
    for done in withdrawals.apply_pending(con, name, context.run.run_id, _clock()):
        context.log.warning(
            f"withdrew {done.path} as {done.requested_by} asked ({done.reason}): "
            f"{done.rows_removed:,} row(s) out of raw.{name}, "
            f"{done.quarantined_rows_released:,} quarantined row(s) released"
        )
    report = ingest_source(
        con,
        source=name,
        folder=settings.raw_dir / name,
        raw_root=settings.raw_dir,
        columns=[c.name for c in source.columns],
        run_id=context.run.run_id,
        on_file=_file_logger(context.log),
        gate=gate,
    )
    state = gate_state.compute_gate_state(
        con,
        name,
        source.data_owner,
        [f.path for f in report.files],
        suite.event_time_column if suite else None,
    )
    gate_state.write_gate_state(con, state, now)
    for missing in withdrawals.missing_files(con, settings.raw_dir, name):
        rows = missing.rows_loaded or 0
        context.log.warning(
            f"{missing.path} is missing from {settings.raw_dir} but its {rows:,} row(s) are "
            "still published: restore the file, or withdraw it with "
            f'`opsvalue withdraw {missing.path} --reason "..."`'
        )
    context.log.info(
        f"{name}: {report.count('loaded')} file(s) loaded ({report.replaced} replacing an "
        f"earlier version), "
        f"{report.count('unchanged')} unchanged, {report.count('rejected')} rejected, "
        f"{report.rows_quarantined} row(s) quarantined; gate {state.state}"
    )
    return report, state


def _load_sources(
    context: dg.AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    order: Sequence[str],
    suites: Mapping,
    now: datetime,
) -> Iterator[tuple[str, SourceLoadReport, gate_state.GateState]]:
    """Each source of `order` through the gate: the masters in that order, then the others as
    they finish (started the largest first, `largest_first`).

    The masters come first, one by one: the other suites' parameters read their codes. The
    others are loaded `settings.ingest_workers` at a time, each on its own DuckDB connection to
    the same database. One source at a time kept about 1.3 of the 2 cores busy (the ingest stage
    at scale 1: 178 s of CPU in 133 s): GX, the file scan and DuckDB's single-threaded steps
    (the commit, the checkpoint) leave a core idle, which a second source fills. Measured with
    the gate alone (`ingest_source`): scale 3, every source, 241.5 s one at a time, 203.6 s two
    at a time; scale 1, the four largest, 75.3 s and 54.3 s. DuckDB's memory limit is shared,
    so the peak does not double (4.34 and 4.44 GB at scale 3).

    DuckDB allows this within one process: the sources write tables of their own, and the
    shared meta tables only by inserts and by rows of their own source, which do not conflict.
    Ledger ids are taken as rows are written, so two sources' ids interleave and may commit out
    of order; the dbt planning's watermark (`ledger.max_ledger_id`) is read only after this
    asset has returned, when every source has committed.
    """
    masters = [n for n in order if n in PARAMETER_PROVIDERS]
    others = [n for n in order if n not in PARAMETER_PROVIDERS]
    for name in masters:
        yield name, *_load_source(context, con, settings, name, suites.get(name), now)
    workers = min(settings.ingest_workers, len(others))
    if workers <= 1:
        for name in others:
            yield name, *_load_source(context, con, settings, name, suites.get(name), now)
        return
    # made here, on the thread that owns `con`: a connection is not for two threads at once
    cursors = {name: con.cursor() for name in others}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="opsvalue-ingest")
    try:
        futures = {
            pool.submit(
                _load_source, context, cursors[name], settings, name, suites.get(name), now
            ): name
            for name in largest_first(settings.raw_dir, others)
        }
        # as each source finishes: its checks then run on this thread while the others load
        for future in as_completed(futures):
            yield futures[future], *future.result()
    finally:
        # after an error, or when the run is stopped: no further source starts, the ones under
        # way finish (each source's files commit or roll back whole, as one after another)
        pool.shutdown(wait=True, cancel_futures=True)
        for cursor in cursors.values():
            cursor.close()


def largest_first(raw_dir: Path, names: Sequence[str]) -> list[str]:
    """`names` by the bytes of their extract files, the largest first (then by name).

    The pool takes sources in this order, so the longest loads start first and the small ones
    fill the gaps; in name order the largest source (tasks) started last and loaded alone on a
    core and a half for the last 25 s of a full load at scale 1 (README, "Benchmarks"). The
    bytes of every extract file, not only the new ones: the largest sources also bring the
    largest daily files, and this listing costs only a stat per file.
    """

    def size(name: str) -> int:
        total = 0
        for path in list_extract_files(raw_dir / name):
            with contextlib.suppress(OSError):  # removed while listed, or a dangling link
                total += path.stat().st_size
        return total

    sizes = {name: size(name) for name in names}
    return sorted(names, key=lambda name: (-sizes[name], name))


def _materialization(
    con: duckdb.DuckDBPyConnection, report: SourceLoadReport, state: gate_state.GateState
) -> dg.MaterializeResult:
    total = con.execute(f"select count(*) from {report.table}").fetchone()[0]
    rejections = "\n".join(f"- {f.message}" for f in report.files if f.status == "rejected")
    return dg.MaterializeResult(
        asset_key=raw_key(report.source),
        metadata={
            "dagster/row_count": dg.MetadataValue.int(int(total)),
            # as before: new files, and files loaded over an earlier version of themselves
            "files_loaded": report.count("loaded") - report.replaced,
            "files_replaced": report.replaced,
            "files_unchanged": report.count("unchanged"),
            "files_rejected": report.count("rejected"),
            "rows_loaded": report.rows_loaded,
            "rows_quarantined": report.rows_quarantined,
            "gate_state": state.state,
            "rejections": dg.MetadataValue.md(rejections or "none"),
        },
    )


def _assess_freshness(
    con: duckdb.DuckDBPyConnection, settings: Settings
) -> tuple[datetime, list[gate_state.Freshness]]:
    """Freshness is relative to every source's deliveries, so it is judged for all of them."""
    present = {
        name: [
            p.relative_to(settings.raw_dir).as_posix()
            for p in list_extract_files(settings.raw_dir / name)
        ]
        for name in CONTRACT
    }
    reference, freshness = gate_state.assess_freshness(
        gate_state.source_deliveries(con, present),
        {name: c.delivery_cadence for name, c in CONTRACT.items()},
        now=datetime.now(),
        reference=datetime.fromisoformat(settings.now_override) if settings.now_override else None,
    )
    gate_state.write_freshness(con, freshness)
    gate_state.refresh_stale_metrics(con)
    return reference, freshness


def _record_unread(
    context: dg.AssetExecutionContext, con: duckdb.DuckDBPyConnection, settings: Settings
) -> None:
    """List what data/raw holds that the door does not read; warn of each newcomer."""
    entries = unread.unread_entries(settings.raw_dir, CONTRACT)
    for entry in unread.record(con, entries, datetime.now().replace(microsecond=0)):
        if not entry.by_design:
            context.log.warning(f"not read: data/raw/{entry.path}: {entry.reason}")


@dg.multi_asset(specs=INGEST_SPECS, check_specs=CHECK_SPECS, can_subset=True, name="raw_extracts")
def raw_extracts(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Loads every new or changed extract file through the quality gate; one DuckDB connection.

    One multi-asset rather than fifteen assets: DuckDB allows a single writing process per file,
    so the sources are loaded by this one process, the masters first (the other suites check
    codes against them), then the others `OPSVALUE_INGEST_WORKERS` (2) at a time on
    connections of their own (`_load_sources`).
    """
    settings = warehouse.settings
    now = reference_now(settings)
    suites = load_suites(settings.expectations_dir)
    selected = {k.path[-1] for k in context.selected_asset_keys if k.path[0] == "raw"}
    wanted = context.selected_asset_check_keys
    with warehouse.connect() as con:
        ledger.ensure_ledger(con)
        results.ensure_tables(con)
        gate_state.ensure_tables(con)
        withdrawals.ensure_table(con)
        order = load_order(selected)
        for name in order:  # before any source loads: see prepare_source
            prepare_source(con, name, [c.name for c in CONTRACT[name].columns])
        for name, report, state in _load_sources(context, con, settings, order, suites, now):
            yield _materialization(con, report, state)
            if dg.AssetCheckKey(raw_key(name), checks.SUITE_CHECK) in wanted:
                yield checks.suite_check(con, CONTRACT[name], report, state)
            if dg.AssetCheckKey(raw_key(name), checks.ACCOUNTING_CHECK) in wanted:
                yield checks.accounting_check(con, CONTRACT[name], report)
        reference, freshness = _assess_freshness(con, settings)
        _record_unread(context, con, settings)
        for item in freshness:
            key = dg.AssetCheckKey(raw_key(item.source), checks.FRESHNESS_CHECK)
            if item.source in selected and key in wanted:
                yield checks.freshness_check(item, reference)
        counts = {
            "file_ledger": ledger.row_count,
            "batch_rule_counts": results.rule_count_rows,
            "source_gate_state": gate_state.row_count,
        }
        for table in META_TABLES:
            key = dg.AssetKey(["meta", table])
            if key in context.selected_asset_keys:
                rows = counts[table](con)
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"dagster/row_count": dg.MetadataValue.int(int(rows))}
                )
