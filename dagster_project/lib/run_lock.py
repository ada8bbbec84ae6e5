"""The Dagster resource that holds the working database's write lock for a whole run."""

from collections.abc import Iterator

import dagster as dg

from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import pipeline_lock


@dg.resource(description="Holds the working database's write lock from a run's first step on.")
def run_lock(_context: dg.InitResourceContext) -> Iterator[None]:
    """The in-process executor initialises resources once per run, so the lock spans the run: a
    run started by the sensor or the schedule cannot interleave its steps with a CLI run."""
    with pipeline_lock(get_settings()):
        yield None
