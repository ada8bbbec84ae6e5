"""`core/warehouse.py`: the pipeline's writers leave DuckDB's row groups as they were written."""

from __future__ import annotations

from pathlib import Path

import duckdb
import yaml

from dagster_project.core import warehouse
from dagster_project.core.settings import get_settings
from tests.conftest import make_workspace, point_settings_at

# three appends of this many rows: each leaves a row group that is not full (DuckDB's row groups
# hold 122,880 rows), which a vacuuming checkpoint would merge
APPEND_ROWS = 130_000


def _append_three_times(con: duckdb.DuckDBPyConnection) -> int:
    """Row groups of a table filled by three appends, before any checkpoint."""
    con.execute("create table t (i bigint, s varchar)")
    for k in range(3):
        low, high = k * APPEND_ROWS, (k + 1) * APPEND_ROWS
        con.execute(f"insert into t select i, 'row ' || i from range({low}, {high}) r(i)")
    return _row_groups(con)


def _row_groups(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(
        "select count(distinct row_group_id) from pragma_storage_info('t')"
    ).fetchone()[0]


def _row_groups_on_disk(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select count(*) from t").fetchone()[0] == 3 * APPEND_ROWS
        return _row_groups(con)


def test_closing_a_writer_rewrites_no_row_group(tmp_path):
    point_settings_at(make_workspace(tmp_path))
    settings = get_settings()
    with warehouse.connect(settings) as con:
        setting = con.execute("select current_setting('max_vacuum_tasks')").fetchone()[0]
        written = _append_three_times(con)
    assert int(setting) == warehouse.VACUUM_TASKS == 0
    # the checkpoint on close kept every row group as the appends wrote it
    assert _row_groups_on_disk(settings.work_db_path) == written

    # DuckDB's default, on the same appends, merges them: what the setting saves
    default = tmp_path / "default.duckdb"
    with duckdb.connect(str(default)) as con:
        con.execute("set threads = 2")
        assert _append_three_times(con) == written
    assert _row_groups_on_disk(default) < written


def test_a_connection_opened_elsewhere_skips_vacuuming_too(tmp_path):
    path = tmp_path / "snapshot.duckdb"
    with duckdb.connect(str(path)) as con:
        warehouse.skip_vacuum(con)
        written = _append_three_times(con)
        con.execute("checkpoint")
    assert _row_groups_on_disk(path) == written


def test_dbt_writes_the_working_database_without_vacuuming_too():
    profiles = yaml.safe_load((Path(__file__).parents[2] / "dbt" / "profiles.yml").read_text())
    work = profiles["opsvalue"]["outputs"]["work"]
    assert work["settings"]["max_vacuum_tasks"] == warehouse.VACUUM_TASKS


def test_the_snapshot_is_written_without_vacuuming(tmp_path):
    """The publication writes the snapshot ATTACHed to its connection to the working database,
    and records its size in a connection of its own: neither merges its row groups."""
    from dagster_project.defs.publish import snapshot

    point_settings_at(make_workspace(tmp_path))
    path = tmp_path / "snapshot.duckdb"
    with warehouse.connect(get_settings()) as con:
        con.execute(f"attach '{path}' as snap")
        con.execute("use snap")
        written = _append_three_times(con)
        con.execute("use opsvalue_work")
        con.execute("checkpoint snap")
        con.execute("detach snap")
    assert _row_groups_on_disk(path) == written
    snapshot._record_whole_size(path, None)  # its checkpoint would merge every table's
    assert _row_groups_on_disk(path) == written
