"""An edit of one metric's YAML republishes that metric's KPI rows and what depends on them,
and leaves every incremental detail fact as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.settings import get_settings
from tests.conftest import Workspace, copy_workspace
from tests.test_change_notes import NOTE, edit_claims_auto_rate

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

TIMEOUT_S = 1200
EDITED = "claims_auto_rate"


def run_with_project(ws: Workspace, project: Path) -> subprocess.CompletedProcess:
    """`opsvalue run` in its own process, on the workspace, with the dbt project `project`."""
    env = {
        **os.environ,
        "OPSVALUE_DBT_DIR": str(project),
        "OPSVALUE_RAW_DIR": str(ws.raw_dir),
        "OPSVALUE_WAREHOUSE": str(ws.warehouse),
        "OPSVALUE_WORK_DB": str(ws.work_db),
        "OPSVALUE_SITE_DIR": str(ws.site_dir),
        "DAGSTER_HOME": str(ws.dagster_home),
    }
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def incremental_facts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The batch-incremental detail facts: the marts whose rows carry their batch."""
    rows = con.execute(
        """
        select table_name from information_schema.columns
        where table_schema = 'marts' and column_name = '_batch_id'
        intersect
        select table_name from information_schema.columns
        where table_schema = 'marts' and column_name = '_dbt_invocation_id'
        """
    ).fetchall()
    return sorted(r[0] for r in rows)


def fact_rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    """Every row of a fact, with the invocation that wrote it, in a fixed order."""
    return con.execute(f"select * from marts.{table} order by all").fetchall()


def kpi_invocations(con: duckdb.DuckDBPyConnection) -> dict[tuple, tuple]:
    return {
        row[:4]: row[4:]
        for row in con.execute(
            "select metric_name, period_start, org_level, org_code, _dbt_invocation_id, "
            "value, status from marts.fct_kpi_values"
        ).fetchall()
    }


def test_a_one_metric_edit_republishes_only_that_metric(built, tmp_path):
    ws = copy_workspace(built, tmp_path / "ws")
    project = tmp_path / "dbt"
    shutil.copytree(
        get_settings().dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs")
    )
    with duckdb.connect(str(ws.work_db), read_only=True) as con:
        facts = incremental_facts(con)
        facts_before = {table: fact_rows(con, table) for table in facts}
        kpis_before = kpi_invocations(con)
    assert {"fct_claims", "fct_contacts", "fct_applications", "fct_tasks"} <= set(facts)

    edit_claims_auto_rate(project, NOTE)
    result = run_with_project(ws, project)
    assert result.returncode == 0, result.stderr[-3000:]

    with duckdb.connect(str(ws.work_db), read_only=True) as con:
        facts_after = {table: fact_rows(con, table) for table in facts}
        kpis_after = kpi_invocations(con)
        versions = dict(
            con.execute(
                "select metric_name, max(definition_version) from marts.fct_kpi_values group by 1"
            ).fetchall()
        )
        attribution = con.execute(
            "select count(*) from marts.fct_kpi_attribution where metric_name = ?", [EDITED]
        ).fetchone()

    # every incremental detail fact keeps its rows, each written by the invocation it was
    for table in facts:
        assert facts_after[table] == facts_before[table], table
    # the edited metric's rows are all new, and no other metric's row is
    new_invocations = {inv for inv, *_ in kpis_after.values()} - {
        inv for inv, *_ in kpis_before.values()
    }
    assert len(new_invocations) == 1
    [run_invocation] = new_invocations
    rewritten = {key for key, (inv, *_) in kpis_after.items() if inv == run_invocation}
    assert rewritten == {key for key in kpis_after if key[0] == EDITED}
    others_after = {k: v for k, v in kpis_after.items() if k[0] != EDITED}
    assert others_after == {k: v for k, v in kpis_before.items() if k[0] != EDITED}
    # the edit changed the numbers (a stricter numerator: never higher), under version 2
    edited = {k: v[1] for k, v in kpis_after.items() if k[0] == EDITED}
    assert edited.keys() == {k for k in kpis_before if k[0] == EDITED}
    assert all(edited[k] <= kpis_before[k][1] + 1e-12 for k in edited)
    assert any(edited[k] < kpis_before[k][1] - 1e-9 for k in edited)
    assert versions[EDITED] == 2 and versions["nps"] == 1
    # attribution, a table computed from the KPI table, is rebuilt by every build
    assert attribution[0] > 0
