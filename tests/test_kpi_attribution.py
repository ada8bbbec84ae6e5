"""The published attribution (marts.fct_kpi_attribution) equals an independent recomputation from
the published KPI numerators and denominators, across the generator's reorganisation."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.reference_attribution import (
    KEY,
    OUTPUT_COLUMNS,
    reference_attribution,
    scale_of_parent,
)
from tests.reference_kpis import MULTIPLIERS

EFFECTS = ["rate_effect", "mix_effect", "contribution", "parent_change"]
# One of each kind the issue names (a ratio, a mean, an additive metric and NPS) and a month-end
# snapshot, among those the reorganised sub-branch has values for on both sides of its move in
# the test data (a small sub-branch has no paid claims in some months).
KINDS = {
    "service_level_20s": "ratio",
    "average_handle_time_sec": "mean",
    "ops_cost_cny": "additive",
    "policies_in_force": "additive",
    "nps": "nps",
}
JAN = pd.Timestamp("2026-01-01")
FEB = pd.Timestamp("2026-02-01")


def kpi_rows(rows: list[tuple]) -> pd.DataFrame:
    columns = ["metric_name", "period_start", "org_level", "org_code", "numerator", "denominator"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["value"] = frame["numerator"] / frame["denominator"]
    frame["target"] = np.nan
    return frame


def org_rows(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["org_code", "parent_code", "valid_from", "valid_to"])
    for column in ["valid_from", "valid_to"]:
        frame[column] = pd.to_datetime(frame[column])
    return frame


CATALOG = pd.DataFrame(
    {
        "metric_name": ["claims_auto_rate", "service_level_20s"],
        "org_attribute": ["owning_org", "handling_center"],
    }
)


def one(frame: pd.DataFrame, **keys) -> pd.Series:
    rows = frame.loc[np.logical_and.reduce([frame[k] == v for k, v in keys.items()])]
    assert len(rows) == 1, f"expected one row for {keys}: {rows}"
    return rows.iloc[0]


# --- the reference itself, on hand-worked cases -------------------------------------------------


def test_reference_attribution_simpsons_paradox_every_child_better_parent_worse() -> None:
    kpis = kpi_rows(
        [
            ("claims_auto_rate", JAN, "branch", "B", 100, 200),
            ("claims_auto_rate", JAN, "sub_branch", "SB1", 90, 100),
            ("claims_auto_rate", JAN, "sub_branch", "SB2", 10, 100),
            ("claims_auto_rate", FEB, "branch", "B", 55, 200),
            ("claims_auto_rate", FEB, "sub_branch", "SB1", 19, 20),
            ("claims_auto_rate", FEB, "sub_branch", "SB2", 36, 180),
        ]
    )
    org = org_rows([("SB1", "B", "2020-01-01", None), ("SB2", "B", "2020-01-01", None)])

    result = reference_attribution(kpis, org, CATALOG)

    assert list(result.columns) == OUTPUT_COLUMNS
    assert len(result) == 2 and set(result["comparison"]) == {"mom"}
    # 0.5 -> 0.275 while SB1 0.9 -> 0.95 and SB2 0.1 -> 0.2; mean parent 0.3875
    sb1, sb2 = (one(result, child_code=code) for code in ["SB1", "SB2"])
    assert sb1["rate_effect"] == pytest.approx(0.3 * 0.05)
    assert sb1["mix_effect"] == pytest.approx(-0.4 * (0.925 - 0.3875))
    assert sb2["rate_effect"] == pytest.approx(0.7 * 0.1)
    assert sb2["mix_effect"] == pytest.approx(0.4 * (0.15 - 0.3875))
    assert result["contribution"].sum() == pytest.approx(-0.225)
    assert result["parent_change"].tolist() == pytest.approx([-0.225, -0.225])


def test_reference_attribution_moved_child_and_the_parents_own_part() -> None:
    # SB moves from B1 to B2 on 1 February; in February B2 books 2 of 4 claims itself.
    kpis = kpi_rows(
        [
            ("claims_auto_rate", JAN, "branch", "B1", 4, 8),
            ("claims_auto_rate", JAN, "branch", "B2", 1, 4),
            ("claims_auto_rate", JAN, "sub_branch", "SB1", 3, 4),
            ("claims_auto_rate", JAN, "sub_branch", "SB", 1, 4),
            ("claims_auto_rate", JAN, "sub_branch", "SB2", 1, 4),
            ("claims_auto_rate", FEB, "branch", "B1", 2, 4),
            ("claims_auto_rate", FEB, "branch", "B2", 7, 12),
            ("claims_auto_rate", FEB, "sub_branch", "SB1", 2, 4),
            ("claims_auto_rate", FEB, "sub_branch", "SB", 3, 4),
            ("claims_auto_rate", FEB, "sub_branch", "SB2", 2, 4),
        ]
    )
    org = org_rows(
        [
            ("SB1", "B1", "2020-01-01", None),
            ("SB2", "B2", "2020-01-01", None),
            ("SB", "B1", "2020-01-01", "2026-02-01"),
            ("SB", "B2", "2026-02-01", None),
        ]
    )

    result = reference_attribution(kpis, org, CATALOG)

    left = one(result, org_code="B1", child_code="SB")
    assert (left["rate_effect"], left["mix_effect"]) == (0.0, pytest.approx(-0.5 * (0.25 - 0.5)))
    joined = one(result, org_code="B2", child_code="SB")
    # B2: 0.25 -> 7/12, mean 5/12; SB arrives with share 1/3 and rate 0.75
    assert joined["rate_effect"] == 0.0
    assert joined["mix_effect"] == pytest.approx(1 / 3 * (0.75 - 5 / 12))
    own = one(result, org_code="B2", child_code="B2")  # 2 of 4 at the branch itself: 0.5
    assert own["rate_effect"] == 0.0 and own["mix_effect"] == pytest.approx(1 / 3 * (0.5 - 5 / 12))
    for _, parent in result.groupby(["org_code"]):
        assert parent["contribution"].sum() == pytest.approx(parent["parent_change"].iloc[0])


def test_reference_attribution_against_target_every_child_beats_its_target_parent_misses() -> None:
    # The plan gives SB1 (target 0.8) three quarters of B and SB2 (target 0.4) a quarter: B's
    # target 0.7. Both beat their targets (0.9 and 0.5), but the business went to SB2: B 0.54.
    kpis = kpi_rows(
        [
            ("claims_auto_rate", FEB, "branch", "B", 54, 100),
            ("claims_auto_rate", FEB, "sub_branch", "SB1", 9, 10),
            ("claims_auto_rate", FEB, "sub_branch", "SB2", 45, 90),
        ]
    )
    kpis.loc[kpis["org_code"] == "B", "target"] = 0.7
    plan = pd.DataFrame(
        [
            ("claims_auto_rate", FEB, "SB1", "B", 0.8, 30.0),
            ("claims_auto_rate", FEB, "SB2", "B", 0.4, 10.0),
            ("claims_auto_rate", FEB, "SB3", "B", 0.7, 0.0),  # no weight: not in the plan
        ],
        columns=[
            "metric_name",
            "period_start",
            "org_code",
            "parent_code",
            "target",
            "planned_weight",
        ],
    )
    org = org_rows([("SB1", "B", "2020-01-01", None), ("SB2", "B", "2020-01-01", None)])

    result = reference_attribution(kpis, org, CATALOG, plan)

    assert set(result["comparison"]) == {"target"} and len(result) == 2
    sb1, sb2 = (one(result, child_code=code) for code in ["SB1", "SB2"])
    # mean parent (0.7 + 0.54) / 2 = 0.62; shares 0.75 -> 0.1 and 0.25 -> 0.9
    assert sb1["rate_effect"] == pytest.approx(0.425 * 0.1)
    assert sb1["mix_effect"] == pytest.approx(-0.65 * (0.85 - 0.62))
    assert sb2["rate_effect"] == pytest.approx(0.575 * 0.1)
    assert sb2["mix_effect"] == pytest.approx(0.65 * (0.45 - 0.62))
    assert (result["rate_effect"] > 0).all() and (result["mix_effect"] < 0).all()
    assert result["contribution"].sum() == pytest.approx(0.54 - 0.7)


# --- the published attribution ------------------------------------------------------------------


@pytest.fixture(scope="module")
def published(built) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        frames = {
            "kpis": con.execute("select * from marts.fct_kpi_values").df(),
            "org": con.execute("select * from marts.dim_org").df(),
            "catalog": con.execute("select * from marts.dim_metric_catalog").df(),
            "unit_targets": con.execute("select * from marts.fct_unit_targets").df(),
            "attribution": con.execute("select * from marts.fct_kpi_attribution").df(),
            "comments": con.execute(
                "select column_name, comment from duckdb_columns() "
                "where schema_name = 'marts' and table_name = 'fct_kpi_attribution'"
            ).df(),
            "table_comment": con.execute(
                "select comment from duckdb_tables() "
                "where schema_name = 'marts' and table_name = 'fct_kpi_attribution'"
            ).df(),
        }
    for name in ["kpis", "attribution", "unit_targets"]:
        frames[name]["period_start"] = pd.to_datetime(frames[name]["period_start"])
    for column in ["valid_from", "valid_to"]:
        frames["org"][column] = pd.to_datetime(frames["org"][column])
    frames["attribution"] = frames["attribution"].sort_values(KEY).reset_index(drop=True)
    return frames


@pytest.fixture(scope="module")
def reorganisation(published) -> tuple[str, str, str, pd.Timestamp]:
    """The unit the generator moves: (code, old parent, new parent, first month under the new)."""
    org = published["org"]
    moved = org.groupby("org_code")["parent_code"].nunique()
    (code,) = moved[moved > 1].index
    versions = org.loc[org["org_code"] == code].sort_values("valid_from")
    old, new = versions.iloc[0], versions.iloc[-1]
    assert new["valid_from"].day == 1, "the reorganisation takes effect on the 1st of a month"
    return code, old["parent_code"], new["parent_code"], new["valid_from"]


def test_published_attribution_equals_the_independent_recomputation(published, reorganisation):
    kpis, attribution = published["kpis"], published["attribution"]
    # the reference rates are multiplier x N / D: the published values must be that
    ratios = kpis.loc[kpis["denominator"].notna()]
    multiplier = ratios["metric_name"].map(MULTIPLIERS).fillna(1.0)
    np.testing.assert_allclose(
        ratios["value"], multiplier * ratios["numerator"] / ratios["denominator"], rtol=1e-12
    )

    expected = reference_attribution(
        kpis, published["org"], published["catalog"], published["unit_targets"]
    )

    assert len(expected) > 1000
    assert (expected["comparison"] == "target").sum() > 1000
    assert set(map(tuple, attribution[KEY].to_numpy())) == set(map(tuple, expected[KEY].to_numpy()))
    scale = scale_of_parent(kpis, attribution)
    for column in EFFECTS:
        mine, theirs = attribution[column].to_numpy(), expected[column].to_numpy()
        assert (np.isnan(mine) == np.isnan(theirs)).all(), column
        both = ~np.isnan(theirs)
        off = np.abs(mine[both] - theirs[both]) > 1e-9 * scale[both]
        assert not off.any(), (column, attribution.loc[both].loc[off].head())
    # across the reorganisation month, for each kind the issue names
    _, _, _, month = reorganisation
    for metric in KINDS:
        rows = expected.loc[
            (expected["metric_name"] == metric) & (expected["period_start"] == month)
        ]
        assert len(rows.loc[rows["comparison"] == "mom"]) > 10, metric


def test_reorganised_unit_leaves_its_old_parent_and_joins_its_new_one_all_mix(
    published, reorganisation
):
    kpis, attribution = published["kpis"], published["attribution"]
    code, old_parent, new_parent, month = reorganisation
    before = month - pd.DateOffset(months=1)

    def kpi(when, org_code):
        return one(kpis, metric_name=metric, period_start=when, org_code=org_code)

    for metric, kind in KINDS.items():
        moved = attribution.loc[
            (attribution["metric_name"] == metric)
            & (attribution["period_start"] == month)
            & (attribution["comparison"] == "mom")
            & (attribution["child_code"] == code)
        ]
        assert set(moved["org_code"]) == {old_parent, new_parent}, metric
        left = one(moved, org_code=old_parent)
        joined = one(moved, org_code=new_parent)
        if kind == "additive":
            assert left["contribution"] == pytest.approx(-kpi(before, code)["value"])
            assert joined["contribution"] == pytest.approx(kpi(month, code)["value"])
            assert np.isnan(left["rate_effect"]) and np.isnan(joined["mix_effect"])
            continue
        # share 0 in the other month, its present value as rate: no rate effect, all mix
        for row, when, parent in [(left, before, old_parent), (joined, month, new_parent)]:
            mean_parent = (kpi(before, parent)["value"] + kpi(month, parent)["value"]) / 2
            share = kpi(when, code)["denominator"] / kpi(when, parent)["denominator"]
            sign = -1 if when == before else 1
            assert row["rate_effect"] == 0.0, metric
            assert row["mix_effect"] == pytest.approx(
                sign * share * (kpi(when, code)["value"] - mean_parent)
            )
            assert row["contribution"] == pytest.approx(row["mix_effect"])
    # no other unit is under two parents in a month (a parent's own part aside)
    mom = attribution.loc[
        (attribution["comparison"] == "mom")
        & (attribution["child_code"] != attribution["org_code"])
    ]
    parents = mom.groupby(["metric_name", "period_start", "child_code"])["org_code"].nunique()
    assert set(parents[parents > 1].index.get_level_values("child_code")) == {code}


def test_published_attribution_is_plausible(published):
    kpis, catalog, attribution = published["kpis"], published["catalog"], published["attribution"]
    kinds = dict(zip(catalog["metric_name"], catalog["rollup_kind"], strict=True))
    simple = set(catalog.loc[catalog["metric_type"] == "simple", "metric_name"])
    units = dict(zip(catalog["metric_name"], catalog["unit"], strict=True))
    handled = set(catalog.loc[catalog["org_attribute"] == "handling_center", "metric_name"])
    months = sorted(kpis["period_start"].unique())

    # every KPI but the percentiles, each kind present (cohorts need 13 months of data);
    # nothing for the first month's mom and no yoy: the test data span less than a year
    published_metrics = set(attribution["metric_name"])
    assert {m for m in published_metrics if kinds[m] == "percentile"} == set()
    assert {"ratio", "mean", "additive", "semi_additive"} <= {kinds[m] for m in published_metrics}
    assert set(attribution["comparison"]) == {"mom", "target"}
    assert attribution.loc[attribution["comparison"] == "mom", "period_start"].min() == months[1]
    # centers only under the group, only for center-handled metrics
    centers = attribution.loc[attribution["child_level"] == "center"]
    assert set(centers["org_level"]) == {"group"} and set(centers["metric_name"]) <= handled
    assert len(centers) > 0
    # against target, the centers keep their actual share (no mix); the org children are
    # compared with the plan, whose shares are not the actual ones (the first year plans equal
    # shares): their mix is the share's move away from the plan
    target = attribution.loc[attribution["comparison"] == "target"]
    assert (target.loc[target["child_level"] == "center", "mix_effect"] == 0).all()
    org_children = target.loc[target["child_level"] != "center"]
    assert (org_children["mix_effect"] != 0).mean() > 0.5
    # additive metrics: own change only; ratios: both effects
    additive = attribution["mix_effect"].isna()
    assert additive.equals(attribution["rate_effect"].isna())
    assert set(attribution.loc[additive, "metric_name"]) == {
        m for m in published_metrics & simple if kinds[m] in {"additive", "semi_additive"}
    }
    # percent metrics are fractions: shares and rates within 0..1 bound every effect by 1
    percent = attribution["metric_name"].map(units) == "percent"
    assert percent.sum() > 1000
    assert (attribution.loc[percent, EFFECTS].abs() <= 1 + 1e-12).all().all()
    # the parent's own part is the exception: the spine KPIs are all in their children, month on
    # month and against target (the plan's shares and targets add up to the parent's target)
    for comparison in ["mom", "target"]:
        rows = attribution.loc[attribution["comparison"] == comparison]
        own = rows.loc[rows["child_code"] == rows["org_code"]]
        assert len(own) < 0.01 * len(rows), comparison
        assert not set(own["metric_name"]) & {"claims_auto_rate", "service_level_20s", "nps"}


def test_published_attribution_is_documented_for_analysts(published):
    (table_comment,) = published["table_comment"]["comment"]
    assert table_comment.startswith("One row per metric, month, comparison, parent unit")
    columns = published["comments"]
    comments = dict(zip(columns["column_name"], columns["comment"], strict=True))
    assert set(comments) == set(OUTPUT_COLUMNS)
    assert all(comment and len(comment) > 20 for comment in comments.values()), comments
