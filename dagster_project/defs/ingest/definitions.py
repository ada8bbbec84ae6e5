"""Ingestion: the source assets with their gate checks, the delivery sensor and the schedule."""

import dagster as dg

from dagster_project.defs.ingest.assets import raw_extracts
from dagster_project.defs.ingest.sensors import daily_refresh_schedule, raw_delivery_sensor

defs = dg.Definitions(
    assets=[raw_extracts], sensors=[raw_delivery_sensor], schedules=[daily_refresh_schedule]
)
