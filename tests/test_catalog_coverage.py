"""fct_kpi_values holds every governed KPI at every month and tier its records reach."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.catalog import load_manifest, metrics_from_manifest

ORG_LEVELS = ("group", "subsidiary", "branch", "sub_branch")


@pytest.fixture(scope="module")
def published(built):
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        rows = con.execute(
            "select metric_name, org_level, list(distinct period_start order by period_start) "
            "from marts.fct_kpi_values group by all"
        ).fetchall()
        months = [
            r[0]
            for r in con.execute(
                "select month_start_date from marts.dim_months order by 1"
            ).fetchall()
        ]
        catalog = con.execute(
            "select metric_name, rollup_kind, definition_version, owner_email "
            "from marts.dim_metric_catalog where is_kpi"
        ).fetchall()
    by_metric: dict[str, dict[str, list]] = {}
    for metric, level, periods in rows:
        by_metric.setdefault(metric, {})[level] = periods
    return by_metric, months, catalog


def test_every_kpi_of_the_catalog_is_published(published, dbt_manifest):
    by_metric, months, catalog = published
    kpis = {
        m.name
        for m in metrics_from_manifest(load_manifest(get_settings().dbt_project_dir)).values()
        if m.is_kpi
    }
    assert {c[0] for c in catalog} == kpis
    assert all(c[2] == 1 and c[3] for c in catalog)
    # 13th-month persistency and the retention value need a cohort 13 months old; the test data
    # spans fewer months
    cohort_metrics = ("persistency_13m", "retention_value_cny")
    expect = {k for k in kpis if k not in cohort_metrics or len(months) > 14}
    assert expect - set(by_metric) == set()


def test_every_kpi_has_every_month_at_every_tier_it_reaches(published):
    by_metric, months, _ = published
    for metric, levels in by_metric.items():
        # fraud loss avoided counts confirmed-fraud claims closed: a handful a month for the whole
        # group at test scale, so not every tier has one every month
        if metric == "fraud_loss_avoided_cny":
            continue
        group_months = levels["group"]
        for level, periods in levels.items():
            assert periods == group_months, f"{metric} at {level}: months differ from group"
        if metric in ("governance_coverage_rate",):
            continue
        if "subsidiary" in levels or metric.startswith(("bot_", "hours_released")):
            # monthly event metrics cover the whole calendar at group level
            assert len(group_months) >= len(months) - 1, f"{metric}: {group_months}"


def test_org_metrics_reach_the_org_tiers_and_center_metrics_the_centers(published):
    by_metric, _, _ = published
    assert set(ORG_LEVELS) <= set(by_metric["claims_cycle_time_p90_days"])
    assert set(ORG_LEVELS) | {"center"} <= set(by_metric["task_sla_rate"])
    assert set(by_metric["bot_exception_rate"]) == {"group", "center"}
    assert {"group", "subsidiary", "branch"} <= set(by_metric["milestone_on_time_rate"])
