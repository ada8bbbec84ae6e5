"""The dashboard site, built from the published snapshot only."""

import dagster as dg

from dagster_project.core import state
from dagster_project.core.resources import Warehouse
from dagster_project.defs.publish.snapshot import published_fingerprint
from dashboards import publish_site, site_version

# The site reads only the published snapshot, so the publication is its one upstream asset (the
# marts it shows reach it through the publication). Depending on the marts directly would skip
# the site whenever a refresh leaves a mart as it was (defs/transform builds only what changes
# feed).
SITE_DEPS = [dg.AssetKey(["meta", "publication"])]


@dg.asset(
    key="site",
    deps=SITE_DEPS,
    group_name="dashboards",
    kinds={"plotly", "html"},
    description=(
        "Static KPI dashboard site (data/site/index.html), built from the published snapshot "
        "beside the live one and swapped in atomically."
    ),
)
def site(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Static KPI dashboards, readable offline; rebuilt only for a new publication."""
    settings = warehouse.settings
    version = published_fingerprint(settings.warehouse_path)
    if version is None:
        raise dg.Failure(f"no published snapshot at {settings.warehouse_path} to build from")
    if site_version(settings.site_dir) == version:
        context.log.info(f"{settings.site_dir} already shows the published snapshot: not rebuilt")
        _record(warehouse, version)
        return dg.MaterializeResult(metadata={"rebuilt": False})
    result = publish_site(settings.warehouse_path, settings.site_dir, version)
    _record(warehouse, version)
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


def _record(warehouse: Warehouse, version: str) -> None:
    """The site shows this publication: the next run's dbt step may skip (core/state.py)."""
    with warehouse.connect() as con:
        state.write_state(con, state.SITE, version)
