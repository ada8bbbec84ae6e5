"""Running the pipeline in-process: the Dagster instance opsvalue sets up, and one full run.

The CLI, the tests and the benchmarks start runs through `run_pipeline`; `dagster dev` reads the
same `dagster.yaml` (written by `prepare_instance`) and the same definitions.
"""

from __future__ import annotations

import os

from dagster_project.core import state
from dagster_project.core.settings import Settings
from dagster_project.core.state import refuse_lost_working_database
from dagster_project.core.warehouse import connect, pipeline_lock

# Instance settings for runs started by `dagster dev` (sensor, schedule, UI): one run at a time,
# the others queue, because DuckDB allows one writing process per file. Telemetry would try the
# network, which these machines do not have. The storage is Dagster's SQLite default with its
# connections kept open (core/dagster_storage.py): same files, a fraction of the cost per event.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 1
storage:
  custom:
    module: dagster_project.core.dagster_storage
    class: PooledSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""


# What earlier versions wrote as dagster.yaml: upgraded in place. Any other file is the user's own.
EARLIER_DAGSTER_YAMLS = (
    "telemetry:\n  enabled: false\n",
    "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 1\n",
    # the storage module's path before the package was cut by concern (it was under lib/)
    DAGSTER_YAML.replace("dagster_project.core.", "dagster_project.lib."),
)


def prepare_instance(settings: Settings) -> None:
    """DAGSTER_HOME with opsvalue's dagster.yaml, paths exported and the dbt manifest current."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists() or config.read_text() in EARLIER_DAGSTER_YAMLS:
        config.write_text(DAGSTER_YAML)
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    settings.export_env()

    # imported here: loading the dbt project is not free, and `opsvalue status` needs none of it
    from dagster_project.defs.transform.project import ensure_manifest

    ensure_manifest()


def forget_changed_products(settings: Settings) -> None:
    """The state's records of what the snapshot and the site show, put right before a run.

    The dbt step decides from `meta.pipeline_state` alone whether a run has work to do; it never
    opens the files downstream of it. When the published snapshot or the site is no longer what
    that state says (deleted, damaged, replaced by hand, or the settings point elsewhere), the
    record is dropped here, so the run publishes and builds them again.
    """
    if not settings.work_db_path.is_file():
        return
    from dashboards import site_version  # the site's own record of the build it shows

    published = state.published_fingerprint(settings.warehouse_path)
    shown = site_version(settings.site_dir)
    with connect(settings) as con:
        if state.read_existing(con, state.PUBLISHED) not in (None, published):
            state.forget(con, state.PUBLISHED)
        if state.read_existing(con, state.SITE) not in (None, shown):
            state.forget(con, state.SITE)


# What a rebuild leaves out while it proves the rebuilt marts (cli/rebuild.py): it loads nothing
# new and publishes nothing until the proof holds.
NOT_BUILT_ONLY = ("ingest", "publish", "dashboards")


def run_pipeline(settings: Settings, build_only: bool = False) -> bool:
    """Materialise every asset in-process, with the definitions `dagster dev` shows.

    `build_only`: only the dbt models and the KPI checks, on the working database as it is.
    Raises WorkingDatabaseLost (before anything is written) when the working database is gone
    but a snapshot was published: that takes `opsvalue rebuild`."""
    prepare_instance(settings)
    import dagster as dg

    from dagster_project.definitions import defs

    job = defs.resolve_job_def("refresh")
    selection = None
    if build_only:
        graph = defs.resolve_asset_graph()
        selection = sorted(
            (
                key
                for key in graph.materializable_asset_keys
                if graph.get(key).group_name not in NOT_BUILT_ONLY
            ),
            key=lambda key: key.to_user_string(),
        )
    # held for the whole run, so no other run (CLI, sensor, schedule) writes in between
    with pipeline_lock(settings):
        refuse_lost_working_database(settings)
        forget_changed_products(settings)
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                raise_on_error=False,
                asset_selection=selection,
            )
    return result.success
