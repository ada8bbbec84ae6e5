"""The warehouse as a Dagster resource: the working database and its run-long write lock.

Every asset and check that reads or writes the working database takes this resource instead of
finding the settings, the lock and the connection itself. The in-process executor initialises
resources once per run, so the lock is taken before the run's first step and held until its
last: a run started by the sensor or the schedule cannot interleave its steps with a CLI run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import dagster as dg
import duckdb

from dagster_project.core.settings import Settings, get_settings
from dagster_project.core.state import refuse_lost_working_database
from dagster_project.core.warehouse import connect, pipeline_lock

WAREHOUSE = "warehouse"  # the resource key


class Warehouse(dg.ConfigurableResource):
    """The pipeline's working database, locked for the run; paths come from the settings."""

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[Warehouse]:
        settings = get_settings()
        with pipeline_lock(settings):
            # a run started by the sensor or the schedule must not start the history again
            refuse_lost_working_database(settings)
            yield self

    @property
    def settings(self) -> Settings:
        # read at run time, not at definition time: tests and deployments point runs elsewhere
        return get_settings()

    def connect(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A connection to the working database (the run already holds its write lock)."""
        return connect(self.settings)
