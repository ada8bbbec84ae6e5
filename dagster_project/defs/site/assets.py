"""The dashboard site, built from the published marts only."""

import dagster as dg

from dagster_project.lib.settings import get_settings
from dashboards.marts import SITE_TABLES
from dashboards.site import build_site

# every mart the site reads (meta.source_gate_state and meta.stale_metrics are written by the
# ingestion gates and the publication)
SITE_DEPS = [
    dg.AssetKey(table.split(".")) for table in SITE_TABLES if table.startswith("marts.")
] + [dg.AssetKey(["meta", "publication"])]  # the site shows the publication, so it comes after


@dg.asset(
    key="site",
    deps=SITE_DEPS,
    group_name="dashboards",
    kinds={"plotly", "html"},
    description="Static KPI dashboard site (data/site/index.html), built from the marts.",
)
def site(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Static KPI dashboards, written to the site folder and readable offline."""
    settings = get_settings()
    result = build_site(settings.warehouse_path, settings.site_dir)
    context.log.info(f"site written to {settings.site_dir / 'index.html'}")
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(settings.site_dir / "index.html")),
            "pages": len(result.pages),
            "pages_written": len(result.pages_written),
            "largest_page_bytes": result.largest_page_bytes,
            "bytes": result.bytes,
            "seconds": round(result.seconds, 2),
        }
    )
