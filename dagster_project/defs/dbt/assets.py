"""dbt models (staging, owner folders, marts) as Dagster assets through dagster-dbt."""

import os
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project.lib.dbt_project import (
    DBT_PROJECT,
    TRANSLATOR,
    build_watermark,
    read_state,
    write_state,
)
from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import connect

WATERMARK_KEY = "dbt_build_watermark"


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_models",
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Builds and tests every dbt model; skipped when nothing changed since the last full build."""
    settings = get_settings()
    # dbt runs in a child process and finds the warehouse through profiles.yml's env_var
    os.environ["OPSVALUE_WAREHOUSE"] = str(settings.warehouse_path)
    with connect(settings) as con:
        watermark = build_watermark(con)
        previous = read_state(con, WATERMARK_KEY)
    if not context.is_subset and previous == watermark:
        context.log.info("no new raw data and no dbt change since the last build: dbt skipped")
        return
    yield from dbt.cli(["build"], context=context).stream()
    if not context.is_subset:
        with connect(settings) as con:
            write_state(con, WATERMARK_KEY, watermark)
