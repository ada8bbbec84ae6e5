"""Running the pipeline in-process: the Dagster instance opsvalue sets up, and one full run.

The CLI, the tests and the benchmarks start runs through `run_pipeline`; `dagster dev` reads the
same `dagster.yaml` (written by `prepare_instance`) and the same definitions.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dagster_project.core import state
from dagster_project.core.faults import check_pipeline_paths
from dagster_project.core.settings import Settings
from dagster_project.core.state import refuse_lost_working_database
from dagster_project.core.warehouse import connect, pipeline_lock

if TYPE_CHECKING:
    from dagster import EventLogEntry

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


@dataclass(frozen=True)
class RunOutcome:
    """What run_pipeline did: whether it succeeded, its Dagster run id and its full log."""

    success: bool
    run_id: str
    log_path: Path | None = None

    def __bool__(self) -> bool:
        return self.success


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Everything the process and its children print goes to `path` for the body.

    Both levels: the file descriptors 1 and 2 (dbt's child process, Dagster's compute-log tail,
    C libraries) and Python's sys.stdout and sys.stderr (dagster-dbt echoes dbt's lines to
    sys.stdout; Dagster's console logger writes to sys.stderr; under pytest those are not fds
    1 and 2).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    with open(path, "a", buffering=1, encoding="utf-8", errors="replace") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved_streams
            log.flush()
            for fd, saved in zip((1, 2), saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)


def run_pipeline(
    settings: Settings,
    build_only: bool = False,
    *,
    log_path: Path | None = None,
    on_event: Callable[[EventLogEntry], None] | None = None,
    run_id: str | None = None,
) -> RunOutcome:
    """Materialise every asset in-process, with the definitions `dagster dev` shows.

    `build_only`: only the dbt models and the KPI checks, on the working database as it is.
    With `log_path`, everything the run prints (Dagster's log at INFO, dbt's node lines) goes
    to that file instead of the terminal; `on_event` receives each event of the run's event
    log as it is written (the CLI's progress and summary). The outcome is true on success.

    Raises core.faults.Fault, before anything is written, when a folder the run writes is not
    writable or a database it reads is damaged; WorkingDatabaseLost (before anything is
    written) when the working database is gone but a snapshot was published: that takes
    `opsvalue rebuild`.
    """
    restorable = state.published_fingerprint(settings.warehouse_path) is not None
    check_pipeline_paths(settings, restorable)
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
    run_id = run_id or str(uuid.uuid4())
    quiet = output_to(log_path) if log_path else nullcontext()
    # held for the whole run, so no other run (CLI, sensor, schedule) writes in between
    with pipeline_lock(settings):
        refuse_lost_working_database(settings)
        forget_changed_products(settings)
        with dg.DagsterInstance.get() as instance:
            if on_event:
                instance.add_event_listener(run_id, on_event)
            with quiet:
                result = job.execute_in_process(
                    instance=instance,
                    run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                    raise_on_error=False,
                    run_id=run_id,
                    asset_selection=selection,
                )
    return RunOutcome(result.success, run_id, log_path)
