"""The publication: the moment the marts built from gated data passed every blocking check."""

import dagster as dg

from dagster_project.lib.freshness import record_publication, refresh_stale_metrics
from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import connect

PUBLISHED_MARTS = [
    dg.AssetKey(["marts", "fct_kpi_values"]),
    dg.AssetKey(["marts", "dim_metric_catalog"]),
    dg.AssetKey(["marts", "dim_org"]),
    dg.AssetKey(["marts", "data_quality_scorecard"]),
]


@dg.asset(
    key=dg.AssetKey(["meta", "publication"]),
    deps=PUBLISHED_MARTS,
    group_name="publish",
    kinds={"duckdb"},
    description=(
        "One row per publication of the marts (meta.publication): written only when the dbt "
        "build and the blocking KPI checks passed; the latest row is what the dashboards show."
    ),
)
def publication(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Records the publication and refreshes the stale-metrics view on the new metric catalog."""
    settings = get_settings()
    with connect(settings) as con:
        published_at = con.execute("select localtimestamp::timestamp(0)").fetchone()[0]
        record_publication(con, published_at, context.run.run_id)
        refresh_stale_metrics(con)
        stale = con.execute("select count(*) from meta.stale_metrics").fetchone()[0]
        held = con.execute(
            "select count(*) from meta.source_gate_state where state = 'held'"
        ).fetchone()[0]
    context.log.info(f"published at {published_at}: {held} source(s) held, {stale} stale metric(s)")
    return dg.MaterializeResult(
        metadata={
            "published_at": str(published_at),
            "sources_held": int(held),
            "stale_metrics": int(stale),
        }
    )
