"""The published KPIs equal an independent computation straight from the raw files."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.reference_kpis import reference_kpis

SPINE_METRICS = [
    "claims_cycle_time_days",
    "claims_cycle_time_p90_days",
    "claims_auto_rate",
    "service_level_20s",
    "abandonment_rate",
    "nps",
    "complaints_per_10k_policies",
    "task_sla_rate",
]
KEY = ["metric_name", "period_start", "org_level", "org_code"]


@pytest.fixture(scope="module")
def published(built) -> pd.DataFrame:
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        frame = con.execute("select * from marts.fct_kpi_values").df()
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


@pytest.fixture(scope="module")
def expected(built) -> pd.DataFrame:
    frame = reference_kpis(built.raw_dir)
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    return frame


@pytest.fixture(scope="module")
def compared(published, expected) -> pd.DataFrame:
    return expected.merge(
        published, on=KEY, how="outer", suffixes=("_expected", "_published"), indicator=True
    )


def test_fct_kpi_values_has_the_same_rows_as_the_reference(compared):
    spine = compared[compared["metric_name"].isin(SPINE_METRICS)]
    only = spine[spine["_merge"] != "both"]
    assert only.empty, f"rows only on one side:\n{only[KEY + ['_merge']].head(20)}"


@pytest.mark.parametrize("metric", SPINE_METRICS)
def test_fct_kpi_values_equals_reference_at_every_level(compared, metric):
    rows = compared[(compared["metric_name"] == metric) & (compared["_merge"] == "both")]
    levels = set(rows["org_level"])
    assert {"group", "subsidiary", "branch", "sub_branch"} <= levels
    assert rows["period_start"].nunique() >= 2, "need at least two months"
    for column in ("value", "numerator", "denominator"):
        np.testing.assert_allclose(
            rows[f"{column}_published"].to_numpy(dtype=float),
            rows[f"{column}_expected"].to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            equal_nan=True,
            err_msg=f"{metric}.{column}",
        )


def test_center_rows_exist_only_for_records_with_a_center(published):
    centers = set(published.loc[published["org_level"] == "center", "metric_name"])
    assert {"claims_auto_rate", "service_level_20s", "task_sla_rate"} <= centers
    assert not {"nps", "complaints_per_10k_policies"} & centers


def test_reorganisation_moves_history_to_the_structure_valid_at_the_time(built, published):
    """The moved sub-branch counts under its old branch before the move and its new one after."""
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        moves = con.execute(
            """
            select org_code, branch_code, valid_from, valid_to
            from marts.dim_org
            where org_level = 'sub_branch'
              and org_code in (
                  select org_code from marts.dim_org where org_level = 'sub_branch'
                  group by org_code having count(distinct branch_code) > 1
              )
            order by valid_from
            """
        ).fetchall()
    assert len(moves) >= 2, "the generator must include a reorganisation"
    moved, old_branch, _, move_date = moves[0]
    new_branch = moves[1][1]
    rows = published[published["metric_name"] == "task_sla_rate"]
    before = rows[rows["period_start"] < pd.Timestamp(move_date)]["period_start"].max()
    after = rows[rows["period_start"] >= pd.Timestamp(move_date)]["period_start"].min()
    assert pd.notna(before) and pd.notna(after), "the test period must straddle the move"

    def denominator(code, period):
        hit = rows[(rows["org_code"] == code) & (rows["period_start"] == period)]
        return float(hit["denominator"].iloc[0]) if len(hit) else 0.0

    def branch_children_total(branch, period):
        with duckdb.connect(str(built.warehouse), read_only=True) as con:
            children = [
                r[0]
                for r in con.execute(
                    "select distinct org_code from marts.dim_org where org_level = 'sub_branch' "
                    "and branch_code = ? and valid_from <= ? "
                    "and coalesce(valid_to, date '9999-12-31') > ?",
                    [branch, period.date(), period.date()],
                ).fetchall()
            ]
        return children, sum(denominator(c, period) for c in children)

    for period, branch, other in (
        (before, old_branch, new_branch),
        (after, new_branch, old_branch),
    ):
        children, total = branch_children_total(branch, period)
        assert moved in children
        assert denominator(branch, period) == pytest.approx(total)
        other_children, _ = branch_children_total(other, period)
        assert moved not in other_children
