"""dbt models (staging, owner folders, marts) as Dagster assets through dagster-dbt."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project.lib.dbt_project import (
    DBT_PROJECT,
    TRANSLATOR,
    WATERMARK_KEY,
    build_args,
    build_watermark,
)
from dagster_project.lib.publish import content_fingerprint, published_fingerprint
from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import (
    connect,
    pipeline_lock,
    read_state,
    write_state,
)
from dashboards import site_version


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_models",
)
def dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    run_lock: dg.ResourceParam[None],  # the run-long lock (lib/run_lock.py), by its key
) -> Iterator[Any]:
    """Builds and tests every dbt model in the working database; skipped when nothing changed."""
    settings = get_settings()
    # dbt runs in a child process and finds both databases through profiles.yml's env_var
    settings.export_env()
    with pipeline_lock(settings):
        with connect(settings) as con:
            watermark = build_watermark(con)
            previous = read_state(con, WATERMARK_KEY)
            fingerprint = content_fingerprint(con, previous or "")
        # Skipping dbt skips everything downstream in this run, so skip only when the published
        # snapshot and the site already show this build (not after a crash before publishing).
        published = published_fingerprint(settings.warehouse_path)
        if (
            not context.is_subset
            and previous == watermark
            and published == fingerprint
            and site_version(settings.site_dir) == published
        ):
            context.log.info("no new raw data and no dbt change since the last build: dbt skipped")
            return
        args = build_args(previous, watermark)
        context.log.info(f"dbt {' '.join(args)}")
        yield from dbt.cli(args, context=context).stream()
        if not context.is_subset:
            with connect(settings) as con:
                write_state(con, WATERMARK_KEY, watermark)
