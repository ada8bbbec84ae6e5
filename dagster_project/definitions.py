"""The opsvalue code location: raw extracts (gated) -> dbt -> KPI checks -> publication -> site.

Each concern's `defs/<concern>/definitions.py` holds its own assets, checks, sensors and
resources; this module only merges them and adds the policy that spans them all.
"""

import dagster as dg

from dagster_project.core.resources import WAREHOUSE, Warehouse
from dagster_project.defs.checks import definitions as checks
from dagster_project.defs.ingest import definitions as ingest
from dagster_project.defs.publish import definitions as publish
from dagster_project.defs.site import definitions as site
from dagster_project.defs.transform import definitions as transform

refresh_job = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all(),
    description="Load new extracts, build and test the dbt models, rebuild the dashboards.",
)

defs = dg.Definitions.merge(
    ingest.defs,
    transform.defs,
    checks.defs,
    publish.defs,
    site.defs,
    dg.Definitions(
        jobs=[refresh_job],
        # every step writes the working database under one lock, held for the whole run
        resources={WAREHOUSE: Warehouse()},
        # DuckDB allows one writing process per file: steps run one after another in one process
        executor=dg.in_process_executor,
    ),
)
