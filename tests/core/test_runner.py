"""The runner puts the pipeline's record of its products right before a run."""

from __future__ import annotations

import shutil

import duckdb

from tests.conftest import copy_workspace, run_on


def _state(ws, key: str) -> str | None:
    with duckdb.connect(str(ws.work_db), read_only=True) as con:
        row = con.execute(
            "select state_value from meta.pipeline_state where state_key = ?", [key]
        ).fetchone()
    return row[0] if row else None


def test_run_pipeline_rebuilds_a_deleted_site_and_snapshot(built, tmp_path):
    """dbt decides from meta.pipeline_state alone whether to skip; a site or snapshot removed by
    hand must not make the next run skip the steps that would bring them back."""
    from dagster_project.core import state

    ws = copy_workspace(built, tmp_path / "ws")
    published = _state(ws, state.PUBLISHED)
    assert published and _state(ws, state.SITE) == published

    site = ws.site_dir.resolve()
    ws.site_dir.unlink() if ws.site_dir.is_symlink() else shutil.rmtree(ws.site_dir)
    shutil.rmtree(site, ignore_errors=True)
    run_on(ws)
    assert (ws.site_dir / "index.html").is_file()
    assert _state(ws, state.SITE) == published

    ws.warehouse.unlink()
    run_on(ws)
    assert ws.warehouse.is_file()
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_kpi_values").fetchone()[0] > 0
