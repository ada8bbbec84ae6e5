"""Run one stage of the `refresh` job on its own, as `opsvalue run` would run the whole job.

    python -m benchmarks.stage ingest|dbt|publication|site

The stages, in the job's order, are the job's assets grouped by the definition that computes
them; an asset check runs with the asset it checks, so the KPI checks run in the dbt stage:

- ingest:      the `raw_extracts` multi-asset (raw/<source> through the quality gate, and the
               gate's meta tables)
- dbt:         the `dbt_models` assets (dbt build: models and tests), with the KPI checks
- publication: meta/publication (the published snapshot)
- site:        the dashboard site

Each stage is one `execute_in_process` of the refresh job with that asset selection, against a
DagsterInstance in DAGSTER_HOME set up as `run_pipeline` sets it up. It exits 0 when the run
succeeded and materialised the stage's assets, 1 when the run failed, 2 when it succeeded
without materialising anything (a stage that skipped itself would otherwise be timed as fast).
"""

from __future__ import annotations

import argparse
import json
import sys

import dagster as dg

from dagster_project.core.runner import prepare_instance
from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import pipeline_lock

STAGES = ("ingest", "dbt", "publication", "site")
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def stage_assets() -> dict[str, dg.AssetsDefinition]:
    """The assets definition behind each stage (imported late: it loads the dbt manifest)."""
    from dagster_project.defs.ingest.assets import raw_extracts
    from dagster_project.defs.publish.assets import publication
    from dagster_project.defs.site.assets import site
    from dagster_project.defs.transform.assets import dbt_models

    return {"ingest": raw_extracts, "dbt": dbt_models, "publication": publication, "site": site}


def stage_selection(job: dg.JobDefinition, stage: str) -> list[dg.AssetKey]:
    """The stage's asset keys; fails when the job has assets no stage runs (the list is stale)."""
    assets = stage_assets()
    in_job = set(job.asset_layer.asset_graph.get_all_asset_keys())
    covered = {key for definition in assets.values() for key in definition.keys}
    missing = sorted(k.to_user_string() for k in in_job - covered)
    if missing:
        raise RuntimeError(f"assets of the refresh job in no benchmark stage: {missing}")
    return sorted(assets[stage].keys & in_job)


def run_stage(stage: str) -> tuple[bool, dict]:
    """Execute the refresh job restricted to one stage; returns (success, summary)."""
    settings = get_settings()
    prepare_instance(settings)
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("refresh")
    selection = stage_selection(job, stage)
    with pipeline_lock(settings), dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config=RUN_CONFIG,
            asset_selection=selection,
            raise_on_error=False,
        )
    materialised = sorted(
        {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    )
    checks = result.get_asset_check_evaluations()
    summary = {
        "stage": stage,
        "success": result.success,
        "assets_selected": len(selection),
        "assets_materialised": len(materialised),
        "checks_evaluated": len(checks),
        "checks_failed": sum(not c.passed for c in checks),
    }
    return result.success, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stage", description=__doc__)
    parser.add_argument("stage", choices=STAGES)
    args = parser.parse_args(argv)
    ok, summary = run_stage(args.stage)
    print(json.dumps(summary))
    if not ok:
        return 1
    return 0 if summary["assets_materialised"] else 2


if __name__ == "__main__":
    sys.exit(main())
