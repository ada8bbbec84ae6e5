"""MetricFlow reads the same governed definitions: its answers equal the published KPI table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.project import dbt_executable

DBT_DIR = get_settings().dbt_project_dir
MF = str(Path(sys.executable).parent / "mf")
# A sample across kinds: ratio, mean, percentile, derived (NPS), cross-model derived
# (complaints per 10k), month-end snapshot, snapshot ratio, cohort-free additive.
SAMPLE = [
    "claims_auto_rate",
    "claims_cycle_time_days",
    "claims_cycle_time_p90_days",
    "nps",
    "complaints_per_10k_policies",
    "task_backlog",
    "aged_backlog_share",
    "service_level_20s",
    "ops_cost_cny",
]
CENTER_SAMPLE = ["claims_auto_rate", "claims_cycle_time_p90_days", "task_sla_rate"]
LEVELS = {
    "group": "org__group_code",
    "subsidiary": "org__subsidiary_code",
    "branch": "org__branch_code",
    "sub_branch": "org__sub_branch_code",
}


def mf(args: list[str], warehouse: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSVALUE_WAREHOUSE": str(warehouse), "DBT_PROFILES_DIR": str(DBT_DIR)}
    return subprocess.run(
        [MF, *args], cwd=DBT_DIR, env=env, capture_output=True, text=True, check=False
    )


def mf_query(metrics: list[str], group_by: str, warehouse: Path, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / f"{group_by}.csv"
    result = mf(
        ["query", "--metrics", ",".join(metrics), "--group-by", f"metric_time__month,{group_by}"]
        + ["--csv", str(out)],
        warehouse,
    )
    assert result.returncode == 0 and out.exists(), result.stdout + result.stderr
    frame = pd.read_csv(out)
    frame = frame.melt(
        id_vars=["metric_time__month", group_by], var_name="metric_name", value_name="mf_value"
    )
    frame["period_start"] = pd.to_datetime(frame["metric_time__month"])
    return frame.rename(columns={group_by: "org_code"}).dropna(subset=["org_code", "mf_value"])


@pytest.fixture(scope="module")
def warehouse_copy(built) -> Path:
    """The published snapshot itself: MetricFlow reads it through the profile's default,
    read-only target, as an analyst's `mf query` does (the file is read-only on disk too)."""
    return built.warehouse


def published(warehouse: Path, level: str, metrics: list[str]) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute(
            "select metric_name, period_start, org_code, value from marts.fct_kpi_values "
            "where org_level = ? and metric_name in (select unnest(?))",
            [level, metrics],
        ).df()
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


def test_mf_validate_configs_passes(warehouse_copy):
    result = mf(["validate-configs"], warehouse_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERRORS: 0" in result.stdout


@pytest.mark.parametrize("level", list(LEVELS))
def test_metricflow_equals_fct_kpi_values_at_every_org_level(warehouse_copy, tmp_path, level):
    answers = mf_query(SAMPLE, LEVELS[level], warehouse_copy, tmp_path)
    ours = published(warehouse_copy, level, SAMPLE)
    both = ours.merge(answers, on=["metric_name", "period_start", "org_code"], how="outer")
    missing = both[both["value"].isna() != both["mf_value"].isna()]
    assert missing.empty, f"rows on one side only:\n{missing.head(10)}"
    assert set(both["metric_name"]) == set(SAMPLE)
    np.testing.assert_allclose(both["value"], both["mf_value"], rtol=1e-9, atol=1e-9)


def test_metricflow_equals_fct_kpi_values_at_center_level(warehouse_copy, tmp_path):
    answers = mf_query(CENTER_SAMPLE, "center", warehouse_copy, tmp_path)
    ours = published(warehouse_copy, "center", CENTER_SAMPLE)
    both = ours.merge(answers, on=["metric_name", "period_start", "org_code"], how="outer")
    assert both["value"].notna().all() and both["mf_value"].notna().all(), both.head()
    np.testing.assert_allclose(both["value"], both["mf_value"], rtol=1e-9, atol=1e-9)


def test_dbt_docs_generate_shows_catalog_owners_and_exposure(warehouse_copy, tmp_path):
    env = {**os.environ, "OPSVALUE_WAREHOUSE": str(warehouse_copy)}
    result = subprocess.run(
        [dbt_executable(), "docs", "generate", "--project-dir", str(DBT_DIR)]
        + ["--profiles-dir", str(DBT_DIR), "--target-path", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    assert "model.opsvalue.fct_kpi_values" in catalog["nodes"]
    owners = {g["name"]: g["owner"]["email"] for g in manifest["groups"].values()}
    assert len(owners) >= 9 and all(owners.values())
    [exposure] = manifest["exposures"].values()
    assert any(n.startswith("metric.") for n in exposure["depends_on"]["nodes"])
