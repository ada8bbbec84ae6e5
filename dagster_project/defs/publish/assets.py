"""The publication: the marts built from gated data, once the KPI checks said what to hold back."""

import dagster as dg

from dagster_project.core import state
from dagster_project.core.resources import Warehouse
from dagster_project.defs.checks import holds
from dagster_project.defs.ingest import gate_state
from dagster_project.defs.publish.records import publication_row
from dagster_project.defs.publish.snapshot import publish_snapshot, published_fingerprint
from dagster_project.defs.transform.planning import ALWAYS_BUILT, content_fingerprint

# The marts every build that runs dbt rebuilds (transform/planning.ALWAYS_BUILT): the publication
# follows them. It copies every reader-facing table of the working database, rebuilt or not.
PUBLISHED_MARTS = [dg.AssetKey(["marts", name]) for name in ALWAYS_BUILT]


@dg.asset(
    key=dg.AssetKey(["meta", "publication"]),
    deps=PUBLISHED_MARTS,
    group_name="publish",
    kinds={"duckdb"},
    description=(
        "The published snapshot data/warehouse/opsvalue.duckdb (marts, meta, quarantine), "
        "replaced atomically after the dbt build and the KPI checks; KPIs a check holds back "
        "keep their previously published values; meta.publication has one row per publication."
    ),
)
def publication(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Copies the reader-facing schemas of the working database into a new snapshot file."""
    settings = warehouse.settings
    with warehouse.connect() as con:
        gate_state.refresh_stale_metrics(con)
        # what dbt last built (not the current inputs: a file may have arrived since)
        built = state.read_state(con, state.BUILD_WATERMARK)
        if built is None:
            raise dg.Failure("dbt has not built the marts yet: nothing to publish")
        fingerprint = content_fingerprint(con, built)
        stale = len(gate_state.stale_metrics(con))
        held = gate_state.held_source_count(con)
        holds.ensure_table(con)  # published even when empty: readers look for it
        held_kpis = holds.current_holds(con)
        # a working database that never published (a rebuild's) writes the snapshot whole, even
        # when it shows the same inputs: the snapshot must come from the database now in use.
        # The holds are part of the fingerprint: the same build checked against the same
        # thresholds (both in the build watermark) holds the same KPIs back.
        first = state.read_state(con, state.PUBLISHED) is None
        if not first and published_fingerprint(settings.warehouse_path) == fingerprint:
            state.write_state(con, state.PUBLISHED, fingerprint)
            context.log.info(f"{settings.warehouse_path} already shows this build: not republished")
            return dg.MaterializeResult(metadata={"republished": False})
        published_at = con.execute("select localtimestamp::timestamp(0)").fetchone()[0]
        row = publication_row(con, published_at, context.run.run_id)
        result = publish_snapshot(con, settings, fingerprint, row, incremental=not first)
        state.write_state(con, state.PUBLISHED, fingerprint)
    context.log.info(
        f"published {settings.warehouse_path} at {published_at} ({result.tables} tables, "
        f"{result.method}, {result.batches_replaced} batch(es) replaced, {result.seconds:.1f} s): "
        f"{held} source(s) held, {stale} stale metric(s), {len(held_kpis)} KPI(s) held back by "
        f"checks ({result.held_rows} row(s) as published before)"
    )
    return dg.MaterializeResult(
        metadata={
            "republished": True,
            "path": dg.MetadataValue.path(str(settings.warehouse_path)),
            "published_at": str(published_at),
            "tables": result.tables,
            "method": result.method,
            "batches_replaced": result.batches_replaced,
            "seconds": round(result.seconds, 2),
            "sources_held": int(held),
            "stale_metrics": int(stale),
            "kpis_held": len(held_kpis),
            "kpi_rows_as_before": result.held_rows,
        }
    )
