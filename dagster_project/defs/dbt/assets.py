"""dbt models (staging, owner folders, marts) as Dagster assets through dagster-dbt."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project.lib.dbt_project import (
    DBT_PROJECT,
    TRANSLATOR,
    WATERMARK_KEY,
    BuildPlan,
    build_watermark,
    keep_partial_parse,
    ledger_changes,
    load_manifest,
    plan_build,
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


@contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the dbt process dagster-dbt starts, then restore them."""
    saved = {key: os.environ.get(key) for key in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
            since = json.loads(previous)["ledger_max_id"] if previous else None
            changed_sources, new_batches = ledger_changes(con, since)
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
        plan = plan_build(load_manifest(), previous, watermark, changed_sources, new_batches)
        if context.is_subset and not plan.rebuild:
            # a selection made in the UI: dagster-dbt selects it, every row is tested
            args, env = ["build"], BuildPlan(args=[], reason="").env()
            context.log.info("dbt build of the selected models")
        else:
            args, env = plan.args, plan.env()
            context.log.info(f"dbt build, {plan.reason}")
        with _environ(env):  # dagster-dbt hands dbt a copy of this process's environment
            invocation = dbt.cli(args, context=context)
        yield from invocation.stream()
        keep_partial_parse(Path(invocation.target_path))
        if not context.is_subset:
            with connect(settings) as con:
                write_state(con, WATERMARK_KEY, watermark)
