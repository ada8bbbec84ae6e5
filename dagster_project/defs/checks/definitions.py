"""Checks on the published KPIs after every dbt build."""

import dagster as dg

from dagster_project.defs.checks.checks import kpi_value_checks

defs = dg.Definitions(asset_checks=[kpi_value_checks])
