"""`core/state.py`: a run refuses to start the history again when the working database is lost."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project import cli
from dagster_project.core import state
from dagster_project.core.settings import get_settings
from dagster_project.core.warehouse import WorkingDatabaseLost
from tests.conftest import Workspace, make_workspace, point_settings_at


@pytest.fixture
def lost(tmp_path) -> Workspace:
    """A published snapshot and no working database: what runs must not build from scratch."""
    ws = make_workspace(tmp_path)
    point_settings_at(ws)
    ws.warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(ws.warehouse)) as con:
        state.write_state(con, state.PUBLISHED, "abc")
    return ws


def test_refuse_lost_working_database_only_when_something_was_published(lost):
    with pytest.raises(WorkingDatabaseLost, match="opsvalue rebuild"):
        state.refuse_lost_working_database(get_settings())
    lost.work_db.parent.mkdir(parents=True)
    lost.work_db.touch()
    state.refuse_lost_working_database(get_settings())  # a working database: fine
    lost.work_db.unlink()
    lost.warehouse.unlink()
    state.refuse_lost_working_database(get_settings())  # nothing published: a first run


def test_a_run_on_a_lost_working_database_is_refused(lost, capsys):
    assert cli.main(["run"]) == 1
    assert "opsvalue rebuild" in capsys.readouterr().err
    assert not lost.work_db.exists()
