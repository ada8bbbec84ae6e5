"""The opsvalue code location: raw extracts -> dbt models -> dashboard site."""

import dagster as dg

from dagster_project.defs.dbt.assets import dbt_models
from dagster_project.defs.ingest.assets import raw_extracts
from dagster_project.defs.site.assets import site
from dagster_project.lib.dbt_project import dbt_resource

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    description="Load new extracts, build and test the dbt models, rebuild the dashboards.",
)

defs = dg.Definitions(
    assets=[raw_extracts, dbt_models, site],
    jobs=[refresh_job],
    resources={"dbt": dbt_resource()},
    # DuckDB allows one writing process per file: steps run one after another in one process.
    executor=dg.in_process_executor,
)
