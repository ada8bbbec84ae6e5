"""dbt models (staging, owner folders, marts) as Dagster assets through dagster-dbt."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from dagster_project.core import state
from dagster_project.core.resources import Warehouse
from dagster_project.defs.transform.planning import (
    UNIT_TESTS,
    BuildPlan,
    build_watermark,
    content_fingerprint,
    ledger_changes,
    plan_build,
)
from dagster_project.defs.transform.project import (
    DBT_PROJECT,
    TRANSLATOR,
    keep_partial_parse,
    load_manifest,
)


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
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    """Builds and tests every dbt model in the working database; skipped when nothing changed."""
    # dbt runs in a child process and finds both databases through profiles.yml's env_var
    warehouse.settings.export_env()
    with warehouse.connect() as con:
        watermark = build_watermark(con, warehouse.settings.kpi_checks_path)
        previous = state.read_state(con, state.BUILD_WATERMARK)
        since = json.loads(previous)["ledger_max_id"] if previous else None
        changed_sources, new_batches = ledger_changes(con, since)
        # Skipping dbt skips everything downstream in this run, so skip only when the steps
        # after it recorded that they show this build (not after a crash before publishing).
        settled = (
            previous == watermark
            and state.read_state(con, state.PUBLISHED) == content_fingerprint(con, watermark)
            and state.read_state(con, state.SITE) == state.read_state(con, state.PUBLISHED)
        )
    if not context.is_subset and settled:
        context.log.info("no new raw data and no dbt change since the last build: dbt skipped")
        return
    plan = plan_build(load_manifest(), previous, watermark, changed_sources, new_batches)
    if context.is_subset and not plan.rebuild:
        # a selection made in the UI: dagster-dbt selects it, every row is tested
        args, env = ["build", "--exclude", UNIT_TESTS], BuildPlan(args=[], reason="").env()
        context.log.info("dbt build of the selected models")
    else:
        args, env = plan.args, plan.env()
        context.log.info(f"dbt build, {plan.reason}")
    with _environ(env):  # dagster-dbt hands dbt a copy of this process's environment
        invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    keep_partial_parse(Path(invocation.target_path))
    if not context.is_subset:
        with warehouse.connect() as con:
            state.write_state(con, state.BUILD_WATERMARK, watermark)
