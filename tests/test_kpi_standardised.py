"""The mix-standardised comparison (marts.fct_kpi_standardised) equals an independent recomputation
from the raw claims extracts (tests/reference_standardised.py), and its ranks follow its values."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.reference_standardised import METRICS, UNIT_KEY, reference_standardised
from tests.test_catalog_versions import DBT_DIR, dbt_build

COLUMNS = [
    *UNIT_KEY,
    "segment_dimension",
    "segments",
    "mix_coverage",
    "raw_value",
    "standardised_value",
    "mix_adjustment",
    "raw_rank",
    "standardised_rank",
    "units_ranked",
    # incremental by month, as fct_kpi_values: what a month was computed from, and by which run
    "input_digest",
    "_dbt_invocation_id",
]


@pytest.fixture(scope="module")
def published(built) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        frames = {
            "standardised": con.execute("select * from marts.fct_kpi_standardised").df(),
            "kpis": con.execute("select * from marts.fct_kpi_values").df(),
            "catalog": con.execute("select * from marts.dim_metric_catalog").df(),
            "comments": con.execute(
                "select column_name, comment from duckdb_columns() "
                "where schema_name = 'marts' and table_name = 'fct_kpi_standardised'"
            ).df(),
            "table_comment": con.execute(
                "select comment from duckdb_tables() "
                "where schema_name = 'marts' and table_name = 'fct_kpi_standardised'"
            ).df(),
        }
    for name in ["standardised", "kpis"]:
        frames[name]["period_start"] = pd.to_datetime(frames[name]["period_start"])
    return frames


def test_claims_kpis_equal_the_independent_recomputation(built, published):
    ours = published["standardised"]
    ours = ours.loc[ours["metric_name"].isin(METRICS)]
    expected = reference_standardised(built.raw_dir)

    merged = ours.merge(expected, on=UNIT_KEY, how="outer", suffixes=("", "_ref"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both"].head()
    assert len(merged) > 200
    assert {"group", "subsidiary", "branch", "sub_branch", "center"} <= set(merged["org_level"])
    assert (merged["segments"] == merged["segments_ref"]).all()
    for column in ["mix_coverage", "raw_value", "standardised_value"]:
        scale = np.maximum(1.0, merged[column].abs())
        off = (merged[column] - merged[f"{column}_ref"]).abs() > 1e-9 * scale
        assert not off.any(), (column, merged.loc[off].head())


def test_ranks_follow_the_values_in_the_metrics_direction(published):
    table = published["standardised"]
    direction = dict(
        zip(published["catalog"]["metric_name"], published["catalog"]["direction"], strict=True)
    )
    lower = table["metric_name"].map(direction) == "lower_is_better"
    tiers = table.groupby(["metric_name", "period_start", "org_level"])
    for value, rank in [("raw_value", "raw_rank"), ("standardised_value", "standardised_rank")]:
        # the model ranks values rounded to 9 decimals (equal ones share a rank)
        signed = table[value].where(lower, -table[value]).round(9)
        expected = signed.groupby([table[k] for k in tiers.keys]).rank(method="min")
        assert (table[rank] == expected).all(), rank
    assert (table["units_ranked"] == tiers["org_code"].transform("count")).all()
    # mix matters: the adjusted rank differs from the raw one for many claims sub-branches
    auto = table.loc[
        (table["metric_name"] == "claims_auto_rate") & (table["org_level"] == "sub_branch")
    ]
    assert (auto["raw_rank"] != auto["standardised_rank"]).mean() > 0.1


def test_published_standardisation_is_plausible(published):
    table, kpis = published["standardised"], published["kpis"]
    assert list(table.columns) == COLUMNS
    dimensions = dict(zip(table["metric_name"], table["segment_dimension"], strict=False))
    assert dimensions["claims_auto_rate"] == "product_line"
    assert dimensions["nb_straight_through_rate"] == "channel"
    assert dimensions["first_contact_resolution_rate"] == "channel"
    # the group is at its own mix; raw_value is the published value
    group = table.loc[table["org_level"] == "group"]
    np.testing.assert_allclose(group["standardised_value"], group["raw_value"], rtol=1e-12)
    values = table.merge(kpis, on=UNIT_KEY, how="left", validate="one_to_one")["value"]
    assert (table["raw_value"].to_numpy() == values.to_numpy()).all()
    np.testing.assert_allclose(
        table["mix_adjustment"], table["standardised_value"] - table["raw_value"], atol=1e-12
    )
    assert ((table["mix_coverage"] > 0) & (table["mix_coverage"] <= 1 + 1e-12)).all()
    # a rate at another mix stays a rate: percent metrics within 0..1
    units = dict(
        zip(published["catalog"]["metric_name"], published["catalog"]["unit"], strict=True)
    )
    percent = table["metric_name"].map(units) == "percent"
    assert percent.sum() > 100
    assert table.loc[percent, "standardised_value"].between(0, 1 + 1e-12).all()


def test_published_standardisation_is_documented_for_analysts(published):
    (table_comment,) = published["table_comment"]["comment"]
    assert table_comment.startswith("One row per KPI rate with a segmenting dimension, month")
    columns = published["comments"]
    comments = dict(zip(columns["column_name"], columns["comment"], strict=True))
    assert set(comments) == set(COLUMNS)
    assert all(comment and len(comment) > 20 for comment in comments.values()), comments


def standardised_rows(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select * exclude (_dbt_invocation_id) from marts.fct_kpi_standardised order by all"
        ).df()


def test_an_incremental_build_follows_an_edit_of_the_segments(built, tmp_path):
    """The pipeline rebuilds a model whose config changed from scratch (planning.project_edit);
    a `dbt build` by hand does not, and the incremental model must still drop what is no longer
    standardised and add it back, equal to what it was, when the edit is undone."""
    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    warehouse = tmp_path / "opsvalue_work.duckdb"
    shutil.copyfile(built.work_db, warehouse)
    before = standardised_rows(warehouse)

    models = project / "models/marts/attribution/_attribution__models.yml"
    text = models.read_text(encoding="utf-8")
    assert "        fct_contacts: channel\n" in text
    models.write_text(text.replace("        fct_contacts: channel\n", ""), encoding="utf-8")
    dbt_build(project, warehouse, "fct_kpi_standardised")
    edited = standardised_rows(warehouse)
    # the contact center's rates go; the others' rows stay as they were
    gone = set(before["metric_name"]) - set(edited["metric_name"])
    assert {"first_contact_resolution_rate", "abandonment_rate"} <= gone
    assert set(before.loc[before["metric_name"].isin(gone), "segment_dimension"]) == {"channel"}
    assert "nb_straight_through_rate" in set(edited["metric_name"])  # channel, of applications
    kept = before.loc[~before["metric_name"].isin(gone)].reset_index(drop=True)
    assert len(kept) > 1000
    pd.testing.assert_frame_equal(edited, kept)

    models.write_text(text, encoding="utf-8")
    dbt_build(project, warehouse, "fct_kpi_standardised")
    pd.testing.assert_frame_equal(standardised_rows(warehouse), before)


def test_a_build_by_hand_refuses_day_sums_segmented_by_another_column(built, tmp_path):
    """int_kpi_day_sums sums the detail facts' records per segment once per batch. After an edit
    of the segmenting columns, fct_kpi_standardised built alone would read segments of the old
    column: it stops and says what to build, and building the day sums first (their pre-hook
    sums every batch again under the new columns) lets it follow the edit."""
    import subprocess

    from dagster_project.defs.transform.project import dbt_executable

    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    warehouse = tmp_path / "opsvalue_work.duckdb"
    shutil.copyfile(built.work_db, warehouse)
    models = project / "models/marts/attribution/_attribution__models.yml"
    text = models.read_text(encoding="utf-8")
    assert "        fct_applications: channel\n" in text
    models.write_text(
        text.replace("        fct_applications: channel\n", "        fct_applications: uw_route\n"),
        encoding="utf-8",
    )

    def dbt_run(select: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [dbt_executable(), "run", "--project-dir", str(project), "--profiles-dir", str(project)]
            + ["--target", "work", "--select", select],
            env={**os.environ, "OPSVALUE_WORK_DB": str(warehouse)},
            capture_output=True,
            text=True,
            check=False,
        )

    refused = dbt_run("fct_kpi_standardised")
    assert refused.returncode != 0
    assert "int_kpi_day_sums holds the applications records summed by channel" in refused.stdout
    assert "build int_kpi_day_sums first" in refused.stdout
    assert standardised_rows(warehouse).equals(standardised_rows(built.work_db))

    followed = dbt_run("int_kpi_day_sums fct_kpi_standardised")
    assert followed.returncode == 0, followed.stdout[-3000:]
    rows = standardised_rows(warehouse)
    dimensions = dict(zip(rows["metric_name"], rows["segment_dimension"], strict=False))
    assert dimensions["nb_straight_through_rate"] == "uw_route"
    assert dimensions["claims_auto_rate"] == "product_line"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (columns,) = con.execute(
            "select list(distinct segment_column) from intermediate.int_kpi_day_sums "
            "where semantic_model = 'applications' and metric_name is not null"
        ).fetchone()
    assert columns == ["uw_route"]
