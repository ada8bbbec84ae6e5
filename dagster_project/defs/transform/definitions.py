"""Transformation: the dbt project's models and tests, and the dbt CLI resource."""

import dagster as dg

from dagster_project.defs.transform.assets import dbt_models
from dagster_project.defs.transform.project import dbt_resource

defs = dg.Definitions(assets=[dbt_models], resources={"dbt": dbt_resource()})
