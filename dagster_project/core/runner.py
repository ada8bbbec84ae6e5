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


def forget_missing_products(settings: Settings) -> None:
    """A snapshot or site that is gone (deleted, or set aside as damaged) is made again.

    The dbt step decides from the working database's state alone whether the run has work to
    do (it never looks at the files downstream of it); when the files that state says were
    published are gone, the state is corrected here, before the run, so the run republishes.
    """
    if not settings.work_db_path.is_file():
        return
    with connect(settings) as con:
        if not settings.warehouse_path.exists():
            state.forget(con, state.PUBLISHED)
        if not (settings.site_dir / "index.html").exists():
            state.forget(con, state.SITE)


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
    *,
    log_path: Path | None = None,
    on_event: Callable[[EventLogEntry], None] | None = None,
    run_id: str | None = None,
) -> RunOutcome:
    """Materialise every asset in-process, with the definitions `dagster dev` shows.

    With `log_path`, everything the run prints (Dagster's log at INFO, dbt's node lines) goes
    to that file instead of the terminal; `on_event` receives each event of the run's event
    log as it is written (the CLI's progress and summary). The outcome is true on success.

    Raises core.faults.Fault, before anything is written, when a folder the run writes is not
    writable or a database it reads is damaged.
    """
    check_pipeline_paths(settings)
    prepare_instance(settings)
    import dagster as dg

    from dagster_project.definitions import defs

    job = defs.resolve_job_def("refresh")
    run_id = run_id or str(uuid.uuid4())
    quiet = output_to(log_path) if log_path else nullcontext()
    # held for the whole run, so no other run (CLI, sensor, schedule) writes in between
    with pipeline_lock(settings), dg.DagsterInstance.get() as instance:
        forget_missing_products(settings)
        if on_event:
            instance.add_event_listener(run_id, on_event)
        with quiet:
            result = job.execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                raise_on_error=False,
                run_id=run_id,
            )
    return RunOutcome(result.success, run_id, log_path)
