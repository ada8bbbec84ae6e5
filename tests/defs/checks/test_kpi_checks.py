"""The KPI checks on a small published table: each check finds its fault and nothing else."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from dagster_project.core.settings import get_settings
from dagster_project.defs.checks import kpi_checks

CONFIG = kpi_checks.load_config(get_settings().expectations_dir)
ROWS = [
    # metric, month, level, org, numerator, denominator, value
    ("claims_auto_rate", "2026-01-01", "group", "GRP", 60.0, 100.0, 0.6),
    ("claims_auto_rate", "2026-01-01", "subsidiary", "LIF", 20.0, 40.0, 0.5),
    ("claims_auto_rate", "2026-01-01", "subsidiary", "PNC", 40.0, 60.0, 0.6667),
    ("claims_auto_rate", "2026-02-01", "group", "GRP", 62.0, 100.0, 0.62),
    ("claims_auto_rate", "2026-02-01", "subsidiary", "LIF", 22.0, 40.0, 0.55),
    ("claims_auto_rate", "2026-02-01", "subsidiary", "PNC", 40.0, 60.0, 0.6667),
    ("claims_cycle_time_days", "2026-01-01", "group", "GRP", 500.0, 100.0, 5.0),
    ("claims_cycle_time_days", "2026-01-01", "subsidiary", "LIF", 500.0, 100.0, 5.0),
    ("claims_cycle_time_days", "2026-02-01", "group", "GRP", 600.0, 100.0, 6.0),
    ("claims_cycle_time_days", "2026-02-01", "subsidiary", "LIF", 600.0, 100.0, 6.0),
]


@pytest.fixture
def con(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "k.duckdb"))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_kpi_values (metric_name varchar, period_start date, "
        "org_level varchar, org_code varchar, numerator double, denominator double, "
        "value double)"
    )
    con.executemany("insert into marts.fct_kpi_values values (?, ?, ?, ?, ?, ?, ?)", ROWS)
    con.execute(
        "create table marts.dim_metric_catalog as select * from (values "
        "('claims_auto_rate', 'percent', 'claims'), ('claims_cycle_time_days', 'days', 'claims')"
        ") t(metric_name, unit, source_systems)"
    )
    yield con
    con.close()


def test_a_consistent_table_passes_every_blocking_check(con):
    assert kpi_checks.reconciliation(con, CONFIG) == []
    assert kpi_checks.rates(con) == []
    assert kpi_checks.bounds(con, CONFIG) == []


def test_reconciliation_finds_a_group_total_that_is_not_the_sum(con):
    con.execute(
        "update marts.fct_kpi_values set numerator = 61 where org_level = 'group' "
        "and metric_name = 'claims_auto_rate' and period_start = '2026-01-01'"
    )
    found = kpi_checks.reconciliation(con, CONFIG)
    assert [(f.metric_name, f.period_start) for f in found] == [
        ("claims_auto_rate", str(date(2026, 1, 1)))
    ]


def test_reconciliation_skips_sources_owned_at_any_tier(con):
    con.execute(
        "update marts.fct_kpi_values set numerator = 61 where org_level = 'group' "
        "and metric_name = 'claims_auto_rate'"
    )
    config = {"reconciliation": {"skip_source_systems": ["claims"]}}
    assert kpi_checks.reconciliation(con, config) == []


def test_rates_outside_0_1_are_found(con):
    con.execute("update marts.fct_kpi_values set value = 1.2 where org_code = 'LIF'")
    found = kpi_checks.rates(con)
    assert {(f.metric_name, f.org_code) for f in found} == {("claims_auto_rate", "LIF")}


def test_values_beyond_plausible_bounds_are_found(con):
    con.execute(
        "update marts.fct_kpi_values set value = 400 where metric_name = 'claims_cycle_time_days' "
        "and org_level = 'group' and period_start = '2026-02-01'"
    )
    found = kpi_checks.bounds(con, CONFIG)
    assert len(found) == 1 and "400" in found[0].problem and "metric" in found[0].problem


def test_month_over_month_jumps_are_flagged(con):
    assert kpi_checks.month_over_month(con, CONFIG) == []
    con.execute(
        "update marts.fct_kpi_values set value = 12 where metric_name = 'claims_cycle_time_days' "
        "and org_level = 'group' and period_start = '2026-02-01'"
    )
    found = kpi_checks.month_over_month(con, CONFIG)
    assert [(f.metric_name, f.org_level) for f in found] == [("claims_cycle_time_days", "group")]


def test_sums_get_only_the_lower_bound_of_their_unit(con):
    con.execute("alter table marts.dim_metric_catalog add column rollup_kind varchar")
    con.execute(
        "insert into marts.dim_metric_catalog values "
        "('hours_released', 'hours', 'rpa_runs', 'additive'), "
        "('turnaround_hours', 'hours', 'endorsements', 'mean')"
    )
    con.execute(
        "insert into marts.fct_kpi_values values "
        "('hours_released', '2026-01-01', 'group', 'GRP', 20000, null, 20000), "
        "('turnaround_hours', '2026-01-01', 'group', 'GRP', 20000, 1, 20000)"
    )
    found = kpi_checks.bounds(con, CONFIG)
    assert [f.metric_name for f in found] == ["turnaround_hours"]
