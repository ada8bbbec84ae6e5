"""A definition change produces a new version and a history entry; other metrics keep theirs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.planning import REBUILD
from dagster_project.defs.transform.project import dbt_executable

DBT_DIR = get_settings().dbt_project_dir
CLAIMS = "models/owners/claims/_claims__metrics.yml"


def dbt_build(project: Path, warehouse: Path, select: str, rebuild: bool = False) -> None:
    env = {**os.environ, "OPSVALUE_WORK_DB": str(warehouse)}
    result = subprocess.run(
        [dbt_executable(), "build", "--project-dir", str(project), "--profiles-dir", str(project)]
        + ["--target", "work", "--select", select]
        + (REBUILD if rebuild else []),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def history(warehouse: Path) -> dict[str, list[tuple[int, str]]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select metric_name, definition_version, change_summary "
            "from marts.metric_definition_history order by all"
        ).fetchall()
    out: dict[str, list[tuple[int, str]]] = {}
    for name, version, summary in rows:
        out.setdefault(name, []).append((version, summary))
    return out


@pytest.fixture
def copies(built, tmp_path) -> tuple[Path, Path]:
    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    warehouse = tmp_path / "opsvalue_work.duckdb"  # a working database dbt may write
    shutil.copyfile(built.work_db, warehouse)
    return project, warehouse


def test_changing_a_definition_adds_a_version_and_keeps_the_others(copies):
    project, warehouse = copies
    before = history(warehouse)
    assert all(versions == [(1, "first published")] for versions in before.values())

    path = project / CLAIMS
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    metric = next(m for m in doc["metrics"] if m["name"] == "claims_auto_rate")
    metric["type_params"]["numerator"]["filter"] += (
        " and {{ Dimension('claim__decision') }} = 'paid'"
    )
    metric["config"]["meta"]["change_note"] = {
        "why": "Only paid decisions count",
        "requested_by": "Claims operations",
        "approved_by": "Data office",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    # fct_driver_attribution too: its test compares its changes with fct_kpi_values', and the
    # pipeline builds the two together on every run (planning.ALWAYS_BUILT)
    select = "metric_definition_history dim_metric_catalog fct_kpi_values fct_driver_attribution"
    # a project change makes the pipeline rebuild its incremental models (defs/dbt/assets.py
    # build_args): the history must survive it
    dbt_build(project, warehouse, select, rebuild=True)

    after = history(warehouse)
    assert [v for v, _ in after["claims_auto_rate"]] == [1, 2]
    assert "parts" in after["claims_auto_rate"][1][1]
    unchanged = {k: v for k, v in after.items() if k != "claims_auto_rate"}
    assert unchanged == {k: v for k, v in before.items() if k != "claims_auto_rate"}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        versions = dict(
            con.execute(
                "select metric_name, max(definition_version) from marts.fct_kpi_values group by 1"
            ).fetchall()
        )
        catalog = dict(
            con.execute(
                "select metric_name, definition_version from marts.dim_metric_catalog"
            ).fetchall()
        )
        notes = con.execute(
            "select definition_version, change_reason, change_requested_by, change_approved_by "
            "from marts.metric_definition_history where metric_name = 'claims_auto_rate' "
            "order by 1"
        ).fetchall()
    # the note is stored with the version it explains, not with the first one
    assert notes == [
        (1, None, None, None),
        (2, "Only paid decisions count", "Claims operations", "Data office"),
    ]
    assert versions["claims_auto_rate"] == 2 and catalog["claims_auto_rate"] == 2
    assert versions["nps"] == 1 and catalog["nps"] == 1

    dbt_build(project, warehouse, select)  # no change: no new history row
    assert history(warehouse) == after
