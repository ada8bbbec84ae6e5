"""The dashboard site, built from the published marts only."""

import dagster as dg

from dagster_project.lib.settings import get_settings
from dashboards.site import build_site

SITE_DEPS = [
    dg.AssetKey(["marts", "fct_kpi_values"]),
    dg.AssetKey(["marts", "dim_metric_catalog"]),
    dg.AssetKey(["marts", "dim_org"]),
]


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
            "bytes": result.bytes,
            "seconds": round(result.seconds, 2),
        }
    )
