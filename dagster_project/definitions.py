"""The opsvalue code location: raw extracts (gated) -> dbt -> KPI checks -> publication -> site."""

import dagster as dg

from dagster_project.defs.checks.checks import kpi_value_checks
from dagster_project.defs.dbt.assets import dbt_models
from dagster_project.defs.ingest.assets import raw_extracts
from dagster_project.defs.ingest.sensors import daily_refresh_schedule, raw_delivery_sensor
from dagster_project.defs.publish.assets import publication
from dagster_project.defs.site.assets import site
from dagster_project.lib.dbt_project import dbt_resource
from dagster_project.lib.run_lock import run_lock
from dagster_project.lib.warehouse import RUN_LOCK

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    description="Load new extracts, build and test the dbt models, rebuild the dashboards.",
)

defs = dg.Definitions(
    assets=[raw_extracts, dbt_models, publication, site],
    asset_checks=[kpi_value_checks],
    jobs=[refresh_job],
    sensors=[raw_delivery_sensor],
    schedules=[daily_refresh_schedule],
    resources={"dbt": dbt_resource(), RUN_LOCK: run_lock},
    # DuckDB allows one writing process per file: steps run one after another in one process.
    executor=dg.in_process_executor,
)
