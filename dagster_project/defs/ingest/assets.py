"""Ingestion: one asset per source, loading data/raw/<source>/ into DuckDB schema `raw`.

Each source asset carries the quality gate's checks, evaluated on the batches of the run:

- `expectation_suite` (blocking): the source's expectation suite on each new or changed file.
  Rows breaking it are quarantined and a batch breaking a file rule or the failure threshold is
  held back: an ordinary day, so the check warns (severity WARN) and the run goes on, while the
  held data never reaches `raw`, so nothing downstream is built from it.
- `accounting` (blocking): for every batch, rows delivered = loaded + quarantined (+ rejected),
  the table holds exactly those rows and one row per record key. A failure means the gate itself
  is broken: the check fails with ERROR and stops everything downstream.
- `freshness`: the source delivered within its cadence (warning only).
"""

from collections.abc import Iterator
from datetime import datetime

import dagster as dg
import duckdb

from dagster_project.lib.contract import SourceContract, load_contract
from dagster_project.lib.freshness import (
    assess_freshness,
    compute_gate_state,
    ensure_tables,
    refresh_stale_metrics,
    source_deliveries,
    write_freshness,
    write_gate_state,
)
from dagster_project.lib.ingest import (
    FileOutcome,
    Gate,
    SourceLoadReport,
    ensure_ledger,
    ingest_source,
    list_extract_files,
)
from dagster_project.lib.settings import Settings, get_settings
from dagster_project.lib.validation import (
    Suite,
    ident,
    load_order,
    load_suites,
    resolve_parameters,
)
from dagster_project.lib.warehouse import RUN_LOCK, connect, pipeline_lock

CONTRACT = load_contract()
SUITE_CHECK = "expectation_suite"
ACCOUNTING_CHECK = "accounting"
FRESHNESS_CHECK = "freshness"
# The pipeline's own tables the ingestion writes and the data-quality scorecard (dbt) reads.
META_TABLES = {
    "file_ledger": "Every file version seen: hash, rows delivered/loaded/quarantined/rejected.",
    "batch_rule_counts": "Rows per rule and outcome (quarantined, flagged, normalised, rejected).",
    "source_gate_state": "One row per source: gate ok/held, why and since when, freshness.",
}


def raw_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source])


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

CHECK_SPECS = [
    spec
    for source in CONTRACT.values()
    for spec in (
        dg.AssetCheckSpec(
            SUITE_CHECK,
            asset=raw_key(source.name),
            blocking=True,
            description=(
                f"Each new or changed file passes expectations/{source.name}.json: failing rows "
                "quarantined, a bad batch held back (WARN, downstream keeps the earlier data)."
            ),
        ),
        dg.AssetCheckSpec(
            ACCOUNTING_CHECK,
            asset=raw_key(source.name),
            blocking=True,
            description=(
                "Rows delivered = loaded + quarantined (+ rejected) for every batch, and one row "
                "per record key in raw: nothing lost, nothing doubled."
            ),
        ),
        dg.AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=raw_key(source.name),
            blocking=False,
            description=f"Delivered within its cadence ({source.delivery_cadence}) plus grace.",
        ),
    )
]


def reference_now(settings: Settings) -> datetime:
    """The moment "not in the future" is judged against: OPSVALUE_NOW or the clock."""
    if settings.now_override:
        return datetime.fromisoformat(settings.now_override)
    return datetime.now().replace(microsecond=0)


def _batches_markdown(report: SourceLoadReport) -> str:
    lines = [
        "| file | status | delivered | loaded | quarantined | note |",
        "|---|---|---|---|---|---|",
    ]
    for f in report.batches:
        note = (f.message or "").replace("|", "/")[:300]
        lines.append(
            f"| {f.path} | {f.status} | {f.rows_delivered if f.rows_delivered is not None else '?'}"
            f" | {f.rows} | {f.rows_quarantined} | {note} |"
        )
    return "\n".join(lines)


def accounting_problems(
    con: duckdb.DuckDBPyConnection, source: SourceContract, report: SourceLoadReport
) -> list[str]:
    """Each batch of the run balances, raw and quarantine hold exactly its rows, keys are unique."""
    problems = []
    table = f"raw.{ident(source.name)}"
    for f in report.batches:
        row = con.execute(
            "select rows_delivered, rows_loaded, rows_quarantined, rows_rejected "
            "from meta.file_ledger where batch_id = ? and path = ?",
            [f.batch_id, f.path],
        ).fetchone()
        if row is None:
            problems.append(f"{f.path}: no ledger entry for batch {f.batch_id}")
            continue
        delivered, loaded, quarantined, rejected = row
        if delivered is not None and delivered != loaded + quarantined + (rejected or 0):
            problems.append(
                f"{f.path}: delivered {delivered} != loaded {loaded} + quarantined {quarantined}"
                f" + rejected {rejected}"
            )
        in_raw = con.execute(
            f"select count(*) from {table} where _batch_id = ?", [f.batch_id]
        ).fetchone()[0]
        in_quarantine = con.execute(
            f"select count(*) from quarantine.{ident(source.name)} where _batch_id = ?",
            [f.batch_id],
        ).fetchone()[0]
        if in_raw != loaded or in_quarantine != quarantined:
            problems.append(
                f"{f.path}: ledger says {loaded} loaded / {quarantined} quarantined, tables hold "
                f"{in_raw} / {in_quarantine}"
            )
    batch_ids = [f.batch_id for f in report.batches if f.batch_id]
    if report.changed and batch_ids:
        # The keys of this run's rows against the whole table, not every key of the history:
        # a key doubled by this run has a row in one of its batches. A duplicate an earlier run
        # already reported (this check failed, the rows stayed in raw) is not reported again
        # here; the run that reported it stopped before dbt, so dbt's unique tests, which cover
        # every batch since the last successful build, still fail on it until it is fixed.
        keys = ", ".join(ident(k) for k in source.key)
        matches = " and ".join(
            f"doubled.{ident(k)} is not distinct from new_keys.{ident(k)}" for k in source.key
        )
        doubled = con.execute(
            f"""
            select count(*) from (
                select {keys} from {table} as doubled
                semi join (
                    select distinct {keys} from {table} where _batch_id in (select unnest(?))
                ) as new_keys on {matches}
                group by all having count(*) > 1
            )
            """,
            [batch_ids],
        ).fetchone()[0]
        if doubled:
            problems.append(f"{doubled} record key(s) appear more than once in {table}")
    return problems


def _gx_summary(con: duckdb.DuckDBPyConnection, report: SourceLoadReport) -> dict:
    """GX's official result over the run's batches: rules judged, agreeing with the door."""
    batch_ids = [f.batch_id for f in report.batches if f.status != "rejected"]
    if not batch_ids:
        return {}
    judged, agreeing, failing, rows = con.execute(
        "select count(*) filter (where gx_evaluated), "
        "count(*) filter (where gx_evaluated and gx_unexpected_count = door_failed "
        "and gx_error is null), "
        "count(*) filter (where gx_evaluated and not gx_success), "
        "coalesce(sum(rows_judged_by_gx) filter (where rule_rank = 1), 0) "
        "from (select *, row_number() over (partition by validation_id order by rule) "
        "as rule_rank from meta.validation_results where list_has_any(batch_ids, ?))",
        [batch_ids],
    ).fetchone()
    return {
        "gx_rules_judged": int(judged),
        "gx_rules_agreeing_with_door": int(agreeing),
        "gx_rules_with_failing_rows": int(failing),
        "gx_rows_judged": int(rows),
    }


def _suite_check(
    con: duckdb.DuckDBPyConnection,
    source: SourceContract,
    report: SourceLoadReport,
    state_row: tuple,
) -> dg.AssetCheckResult:
    held, check_name, reason, since = state_row
    quarantined = report.rows_quarantined
    rules: dict[str, int] = {}
    for f in report.batches:
        if f.status != "rejected":
            for rule, rows in f.rule_counts.items():
                if not rule.startswith("normalised:"):
                    rules[rule] = rules.get(rule, 0) + rows
    passed = held == "ok" and quarantined == 0
    metadata = {
        "gate_state": held,
        "batches": len(report.batches),
        "batches_rejected": report.count("rejected"),
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": quarantined,
        "rows_by_rule": dg.MetadataValue.json(rules),
        "data_owner": source.data_owner,
        **_gx_summary(con, report),
    }
    if report.batches:
        metadata["batch_results"] = dg.MetadataValue.md(_batches_markdown(report))
    if held == "held":
        metadata["held_by"] = f"{check_name}: {reason}"
        metadata["held_since"] = str(since)
    return dg.AssetCheckResult(
        asset_key=raw_key(source.name),
        check_name=SUITE_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=None if passed else (reason or f"{quarantined} row(s) quarantined"),
    )


@dg.multi_asset(
    specs=INGEST_SPECS,
    check_specs=CHECK_SPECS,
    can_subset=True,
    name="raw_extracts",
    required_resource_keys={RUN_LOCK},
)
def raw_extracts(
    context: dg.AssetExecutionContext,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Loads every new or changed extract file through the quality gate; one DuckDB connection.

    One multi-asset rather than fifteen assets: DuckDB allows a single writing process per file,
    so the sources are loaded one after another over one connection, the masters first (the
    other suites check codes against them).
    """
    settings = get_settings()
    now = reference_now(settings)
    suites: dict[str, Suite] = load_suites(settings.expectations_dir)
    selected = {k.path[-1] for k in context.selected_asset_keys if k.path[0] == "raw"}
    checks = context.selected_asset_check_keys
    with pipeline_lock(settings), connect(settings) as con:
        ensure_ledger(con)
        ensure_tables(con)
        reports: dict[str, SourceLoadReport] = {}
        for name in load_order(selected):
            source = CONTRACT[name]
            suite = suites.get(name)
            if suite is None:
                context.log.warning(f"{name}: no expectation suite in {settings.expectations_dir}")

            def log_file(outcome: FileOutcome) -> None:
                if outcome.status == "rejected":
                    context.log.warning(f"rejected {outcome.message}")
                elif outcome.status != "unchanged":
                    extra = f" ({outcome.message})" if outcome.message else ""
                    context.log.info(f"{outcome.status} {outcome.path}: {outcome.rows} rows{extra}")

            gate = Gate(
                suite=suite,
                parameters=resolve_parameters(con, suite.parameters, now) if suite else {},
                key=source.key,
                rejected_dir=settings.rejected_dir,
                gx_sample_rows=settings.gx_sample_rows,
                gx_chunk_rows=settings.gx_chunk_rows,
            )
            report = ingest_source(
                con,
                source=name,
                folder=settings.raw_dir / name,
                raw_root=settings.raw_dir,
                columns=[c.name for c in source.columns],
                run_id=context.run.run_id,
                on_file=log_file,
                gate=gate,
            )
            reports[name] = report
            state = compute_gate_state(
                con,
                name,
                source.data_owner,
                [f.path for f in report.files],
                suite.event_time_column if suite else None,
            )
            write_gate_state(con, state, now)
            total = con.execute(f"select count(*) from {report.table}").fetchone()[0]
            context.log.info(
                f"{name}: {report.count('loaded') + report.count('replaced')} file(s) loaded, "
                f"{report.count('unchanged')} unchanged, {report.count('rejected')} rejected, "
                f"{report.rows_quarantined} row(s) quarantined; gate {state.state}"
            )
            yield dg.MaterializeResult(
                asset_key=raw_key(name),
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(int(total)),
                    "files_loaded": report.count("loaded"),
                    "files_replaced": report.count("replaced"),
                    "files_unchanged": report.count("unchanged"),
                    "files_rejected": report.count("rejected"),
                    "rows_loaded": report.rows_loaded,
                    "rows_quarantined": report.rows_quarantined,
                    "gate_state": state.state,
                    "rejections": dg.MetadataValue.md(
                        "\n".join(f"- {f.message}" for f in report.files if f.status == "rejected")
                        or "none"
                    ),
                },
            )
            suite_key = dg.AssetCheckKey(raw_key(name), SUITE_CHECK)
            if suite_key in checks:
                row = (state.state, state.check_name, state.reason, state.since)
                yield _suite_check(con, source, report, row)
            accounting_key = dg.AssetCheckKey(raw_key(name), ACCOUNTING_CHECK)
            if accounting_key in checks:
                problems = accounting_problems(con, source, report)
                yield dg.AssetCheckResult(
                    asset_key=raw_key(name),
                    check_name=ACCOUNTING_CHECK,
                    passed=not problems,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "batches": len(report.batches),
                        "problems": dg.MetadataValue.md(
                            "\n".join(f"- {p}" for p in problems) or "none"
                        ),
                    },
                )

        # freshness is relative to every source's deliveries, so it is judged for all of them
        present = {
            name: [
                p.relative_to(settings.raw_dir).as_posix()
                for p in list_extract_files(settings.raw_dir / name)
            ]
            for name in CONTRACT
        }
        reference, freshness = assess_freshness(
            source_deliveries(con, present),
            {name: c.delivery_cadence for name, c in CONTRACT.items()},
            now=datetime.now(),
            reference=datetime.fromisoformat(settings.now_override)
            if settings.now_override
            else None,
        )
        write_freshness(con, freshness)
        refresh_stale_metrics(con)
        for item in freshness:
            key = dg.AssetCheckKey(raw_key(item.source), FRESHNESS_CHECK)
            if item.source in selected and key in checks:
                yield dg.AssetCheckResult(
                    asset_key=raw_key(item.source),
                    check_name=FRESHNESS_CHECK,
                    passed=not item.is_stale,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "delivered_at": str(item.delivered_at),
                        "reference": str(reference),
                        "cadence": CONTRACT[item.source].delivery_cadence,
                    },
                    description=item.reason,
                )
        for table in META_TABLES:
            key = dg.AssetKey(["meta", table])
            if key in context.selected_asset_keys:
                rows = con.execute(f"select count(*) from meta.{table}").fetchone()[0]
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"dagster/row_count": dg.MetadataValue.int(int(rows))}
                )
