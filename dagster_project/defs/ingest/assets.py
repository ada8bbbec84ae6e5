"""Ingestion: one asset per source, loading data/raw/<source>/ into DuckDB schema `raw`."""

from collections.abc import Iterator

import dagster as dg

from dagster_project.lib.contract import load_contract
from dagster_project.lib.ingest import FileOutcome, ingest_source
from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import connect

CONTRACT = load_contract()

INGEST_SPECS = [
    dg.AssetSpec(
        key=dg.AssetKey(["raw", source.name]),
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
        },
    )
    for source in CONTRACT.values()
]


@dg.multi_asset(specs=INGEST_SPECS, can_subset=True, name="raw_extracts")
def raw_extracts(context: dg.AssetExecutionContext) -> Iterator[dg.MaterializeResult]:
    """Loads every new or changed extract file; one DuckDB connection for all sources.

    One multi-asset rather than fifteen assets: DuckDB allows a single writing process per file,
    so the sources are loaded one after another over one connection.
    """
    settings = get_settings()
    selected = [key.path[-1] for key in context.selected_asset_keys]
    with connect(settings) as con:
        for name in sorted(selected):
            source = CONTRACT[name]

            def log_file(outcome: FileOutcome) -> None:
                if outcome.status == "rejected":
                    context.log.warning(f"rejected {outcome.message}")
                elif outcome.status != "unchanged":
                    context.log.info(f"{outcome.status} {outcome.path}: {outcome.rows} rows")

            report = ingest_source(
                con,
                source=name,
                folder=settings.raw_dir / name,
                raw_root=settings.raw_dir,
                columns=[c.name for c in source.columns],
                run_id=context.run.run_id,
                on_file=log_file,
            )
            total = con.execute(f"select count(*) from {report.table}").fetchone()[0]
            context.log.info(
                f"{name}: {report.count('loaded') + report.count('replaced')} file(s) loaded, "
                f"{report.count('unchanged')} unchanged, {report.count('rejected')} rejected"
            )
            yield dg.MaterializeResult(
                asset_key=dg.AssetKey(["raw", name]),
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(int(total)),
                    "files_loaded": report.count("loaded"),
                    "files_replaced": report.count("replaced"),
                    "files_unchanged": report.count("unchanged"),
                    "files_rejected": report.count("rejected"),
                    "rows_loaded": report.rows_loaded,
                    "rejections": dg.MetadataValue.md(
                        "\n".join(f"- {f.message}" for f in report.files if f.status == "rejected")
                        or "none"
                    ),
                },
            )
