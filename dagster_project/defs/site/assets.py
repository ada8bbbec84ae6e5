"""The dashboard site, built from the published snapshot only."""

import dagster as dg

from dagster_project.lib.publish import published_fingerprint
from dagster_project.lib.settings import Settings, get_settings
from dagster_project.lib.warehouse import RUN_LOCK, pipeline_lock
from dashboards import publish_site, site_version

# The site reads only the published snapshot, so the publication is its one upstream asset (the
# marts it shows reach it through the publication). Depending on the marts directly would skip
# the site whenever a refresh leaves a mart as it was (defs/dbt builds only what changes feed).
SITE_DEPS = [dg.AssetKey(["meta", "publication"])]


@dg.asset(
    key="site",
    deps=SITE_DEPS,
    group_name="dashboards",
    required_resource_keys={RUN_LOCK},
    kinds={"plotly", "html"},
    description=(
        "Static KPI dashboard site (data/site/index.html), built from the published snapshot "
        "beside the live one and swapped in atomically."
    ),
)
def site(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Static KPI dashboards, readable offline; rebuilt only for a new publication."""
    settings = get_settings()
    with pipeline_lock(settings):
        return _build(context, settings)


def _build(context: dg.AssetExecutionContext, settings: Settings) -> dg.MaterializeResult:
    version = published_fingerprint(settings.warehouse_path)
    if version is None:
        raise dg.Failure(f"no published snapshot at {settings.warehouse_path} to build from")
    if site_version(settings.site_dir) == version:
        context.log.info(f"{settings.site_dir} already shows the published snapshot: not rebuilt")
        return dg.MaterializeResult(metadata={"rebuilt": False})
    result = publish_site(settings.warehouse_path, settings.site_dir, version)
    context.log.info(f"site written to {settings.site_dir / 'index.html'}")
    return dg.MaterializeResult(
        metadata={
            "rebuilt": True,
            "index": dg.MetadataValue.path(str(settings.site_dir / "index.html")),
            "pages": len(result.pages),
            "pages_written": len(result.pages_written),
            "largest_page_bytes": result.largest_page_bytes,
            "bytes": result.bytes,
            "seconds": round(result.seconds, 2),
        }
    )
