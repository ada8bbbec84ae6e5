"""The published driver attribution (marts.fct_driver_attribution) equals an independent
recomputation from the published KPI numerators and denominators (tests/reference_drivers.py),
and its dbt test of exactness fails on a broken row."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.project import dbt_executable
from tests.conftest import writable_work_copy
from tests.reference_drivers import (
    KEY,
    OUTPUT_COLUMNS,
    formula_inputs,
    lmdi_product,
    reference_drivers,
    shapley_quotient,
)

EXACT_TEST = "assert_driver_attribution_adds_up"
TABLE_COLUMNS = [
    *OUTPUT_COLUMNS[:7],
    "is_filtered",
    "formula_kind",
    "split_method",
    *OUTPUT_COLUMNS[7:],
]


# --- the reference itself, on hand-worked cases -------------------------------------------------


def test_shapley_quotient_splits_nps_as_worked_by_hand() -> None:
    # 100 x 16 / 64 = 25 -> 100 x 48 / 128 = 37.5, as in the model's dbt unit test
    numerator, denominator = shapley_quotient(100.0, 16, 64, 48, 128)
    assert numerator == pytest.approx(37.5)
    assert denominator == pytest.approx(-25.0)


def test_lmdi_product_splits_as_worked_by_hand() -> None:
    # y = 2 a b: 2 x 2 x 8 = 32 -> 2 x 4 x 2 = 16
    a, b = lmdi_product([2.0, 8.0], [4.0, 2.0], k=2.0)
    assert (a, b) == (pytest.approx(16.0), pytest.approx(-32.0))


# --- the published attribution ------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(built) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        frames = {
            "kpis": con.execute("select * from marts.fct_kpi_values").df(),
            "tree": con.execute("select * from marts.dim_indicator_tree").df(),
            "drivers": con.execute("select * from marts.fct_driver_attribution").df(),
            "comments": con.execute(
                "select column_name, comment from duckdb_columns() "
                "where schema_name = 'marts' and table_name = 'fct_driver_attribution'"
            ).df(),
            "table_comment": con.execute(
                "select comment from duckdb_tables() "
                "where schema_name = 'marts' and table_name = 'fct_driver_attribution'"
            ).df(),
        }
    for name in ["kpis", "drivers"]:
        frames[name]["period_start"] = pd.to_datetime(frames[name]["period_start"])
    frames["drivers"] = frames["drivers"].sort_values(KEY).reset_index(drop=True)
    return frames


def test_published_drivers_equal_the_independent_recomputation(published):
    kpis, drivers = published["kpis"], published["drivers"]

    expected = reference_drivers(kpis, published["tree"])

    assert len(expected) > 1000
    assert list(drivers.columns) == TABLE_COLUMNS
    assert set(map(tuple, drivers[KEY].to_numpy())) == set(map(tuple, expected[KEY].to_numpy()))
    assert (drivers["input_metric"] == expected["input_metric"]).all()
    scale = np.maximum(1.0, np.abs(drivers["parent_change"].to_numpy()))
    values = kpis.set_index(["metric_name", "period_start", "org_level", "org_code"])["value"]
    now = values.reindex(pd.MultiIndex.from_frame(drivers[KEY[:2] + KEY[3:5]])).to_numpy()
    scale = np.maximum(scale, np.abs(now))
    for column in ["input_base_value", "input_value", "contribution", "parent_change"]:
        off = np.abs(drivers[column].to_numpy() - expected[column].to_numpy()) > 1e-9 * scale
        assert not off.any(), (column, drivers.loc[off].head())


def test_every_formula_linked_metric_is_split_at_every_tier(published):
    drivers, tree, kpis = published["drivers"], published["tree"], published["kpis"]
    linked = set(formula_inputs(tree))
    # every linked metric with a unit valued in two months running (governance coverage is
    # computed for the latest month only)
    months = kpis.loc[kpis["metric_name"].isin(linked) & (kpis["denominator"] > 0)]
    before = months.assign(period_start=months["period_start"] + pd.DateOffset(months=1))
    keys = ["metric_name", "period_start", "org_level", "org_code"]
    with_values = set(months.merge(before[keys], on=keys)["metric_name"])
    assert len(with_values) > 10
    assert set(drivers["metric_name"]) == with_values
    assert {"group", "subsidiary", "branch", "sub_branch", "center"} <= set(drivers["org_level"])
    assert set(drivers["comparison"]) == {"mom"}  # the test data span less than a year
    # today's catalog has quotients only
    assert set(drivers["formula_kind"]) == {"quotient"}
    assert set(drivers["split_method"]) == {"shapley"}
    # auto-processed claims are a filtered part of claims paid (the tree says so)
    auto = drivers.loc[drivers["metric_name"] == "claims_auto_rate"].pivot_table(
        index=KEY[:5], columns="input_role", values=["input_value", "is_filtered"]
    )
    assert auto[("is_filtered", "numerator")].all()
    assert not auto[("is_filtered", "denominator")].any()
    assert (auto[("input_value", "numerator")] <= auto[("input_value", "denominator")]).all()


def test_published_drivers_are_plausible(published):
    drivers = published["drivers"]
    wide = drivers.pivot_table(
        index=KEY[:5],
        columns="input_role",
        values=["contribution", "input_base_value", "input_value"],
    )
    change_n = wide[("input_value", "numerator")] - wide[("input_base_value", "numerator")]
    change_d = wide[("input_value", "denominator")] - wide[("input_base_value", "denominator")]
    # with positive constants and denominators, more numerator raises the value and more
    # denominator lowers it; FTE sums differ in their last bits where they are equal, whose
    # reciprocals can round to the same double: those changes are float noise, not a move
    assert (wide[("input_base_value", "denominator")] > 0).all()
    moved_n = change_n.abs() > 1e-9 * wide[("input_value", "numerator")].abs()
    moved_d = change_d.abs() > 1e-9 * wide[("input_value", "denominator")]
    assert (
        np.sign(wide.loc[moved_n, ("contribution", "numerator")]) == np.sign(change_n[moved_n])
    ).all()
    assert (wide.loc[change_n == 0, ("contribution", "numerator")] == 0).all()
    positive = moved_d & (
        wide[("input_base_value", "numerator")] + wide[("input_value", "numerator")] > 0
    )
    assert (
        np.sign(wide.loc[positive, ("contribution", "denominator")]) == -np.sign(change_d[positive])
    ).all()
    assert (wide.loc[change_d == 0, ("contribution", "denominator")] == 0).all()
    # both inputs move in most unit-months: neither contribution is trivially the whole change
    both = moved_n & moved_d
    assert both.mean() > 0.5


def test_published_drivers_are_documented_for_analysts(published):
    (table_comment,) = published["table_comment"]["comment"]
    assert table_comment.startswith("One row per metric, month, comparison, org unit and formula")
    columns = published["comments"]
    comments = dict(zip(columns["column_name"], columns["comment"], strict=True))
    assert set(comments) == set(TABLE_COLUMNS)
    assert all(comment and len(comment) > 20 for comment in comments.values()), comments


# --- the dbt test of exactness can fail ---------------------------------------------------------


@pytest.fixture(scope="module")
def exact_test_sql(built, tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("compiled_drivers")
    project = get_settings().dbt_project_dir
    env = {**os.environ, "OPSVALUE_WORK_DB": str(built.work_db)}
    subprocess.run(
        [
            dbt_executable(),
            "compile",
            "--quiet",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target",
            "work",
            "--target-path",
            str(target),
            "--select",
            EXACT_TEST,
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    return (
        target / "compiled" / "opsvalue" / "tests" / "singular" / f"{EXACT_TEST}.sql"
    ).read_text()


@pytest.fixture
def work_copy(built, tmp_path: Path):
    with writable_work_copy(built.work_db, tmp_path) as con:
        yield con


@pytest.mark.parametrize(
    ("assignment", "failure"),
    [
        ("contribution = contribution + 1e-6", "contributions do not sum to parent_change"),
        ("parent_change = parent_change + 1e-6", "parent_change differs between inputs"),
    ],
)
def test_exactness_test_passes_on_the_build_and_fails_on_a_broken_row(
    work_copy, exact_test_sql, assignment, failure
):
    assert work_copy.execute(exact_test_sql).df().empty
    row = work_copy.execute(
        "select metric_name, period_start from marts.fct_driver_attribution "
        "where org_level = 'group' order by metric_name, period_start limit 1"
    ).fetchone()
    work_copy.execute(
        f"update marts.fct_driver_attribution set {assignment} "  # noqa: S608
        "where metric_name = ? and period_start = ? and org_level = 'group' "
        "and input_role = 'numerator'",
        list(row),
    )
    found = work_copy.execute(exact_test_sql).df()
    assert list(found["failure"]) == [failure], found
