"""The value created and the indicator tree on generated data, through the real pipeline.

15 months, so that issue-month cohorts reach their 13th month and the retention stream has
values. marts.fct_value_created is compared with an independent recomputation from the raw
extracts (tests/reference_value.py); the dbt tests of the formula links and the value roll-up
are shown to pass on the build and to fail on published numbers broken in each way they guard.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.catalog import load_manifest
from dagster_project.defs.transform.project import dbt_executable
from dagster_project.defs.transform.tree import build_tree
from tests.conftest import (
    TEST_SCALE,
    TEST_SEED,
    Workspace,
    make_workspace,
    run_on,
    writable_work_copy,
)
from tests.reference_value import STREAMS, UNIT_COLUMNS, reference_value_created

MONTHS = 15
NEW_TABLES = ("fct_value_created", "fct_value_lines", "dim_indicator_tree")
FORMULA_TEST = "assert_indicator_tree_formulas_hold"
ROLLUP_TEST = "assert_value_created_rolls_up"


@pytest.fixture(scope="module")
def value_ws(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Workspace:
    from opsgen import generate

    ws = make_workspace(tmp_path_factory.mktemp("value"))
    generate(out=ws.raw_dir, scale=TEST_SCALE, months=MONTHS, seed=TEST_SEED, progress=False)
    run_on(ws)
    return ws


def published(ws: Workspace, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def compared(value_ws: Workspace) -> pd.DataFrame:
    ours = published(value_ws, "select * from marts.fct_value_created")
    ours["period_start"] = pd.to_datetime(ours["period_start"])
    reference = reference_value_created(value_ws.raw_dir)
    return ours.merge(
        reference, on=UNIT_COLUMNS, how="outer", suffixes=("", "_ref"), indicator=True
    )


def test_value_created_has_the_reference_rows(compared):
    missing = compared.loc[compared["_merge"] != "both", [*UNIT_COLUMNS, "_merge"]]
    assert missing.empty, missing.head(20).to_string()
    assert set(compared["org_level"]) == {"group", "subsidiary", "branch", "sub_branch", "center"}


@pytest.mark.parametrize("column", ["ops_cost_cny", *STREAMS, "value_created_cny", "net_value_cny"])
def test_value_created_equals_the_reference_at_every_tier(compared, column):
    rows = compared.loc[compared["_merge"] == "both"]
    ours, ref = rows[column].astype(float), rows[f"{column}_ref"].astype(float)
    assert (ours.isna() == ref.isna()).all(), rows.loc[ours.isna() != ref.isna()].head()
    close = np.isclose(ours.fillna(0), ref.fillna(0), rtol=1e-9, atol=1e-6)
    assert close.all(), rows.loc[~close, [*UNIT_COLUMNS, column, f"{column}_ref"]].head(10)


def test_every_stream_has_value_and_is_never_negative(value_ws):
    frame = published(value_ws, "select * from marts.fct_value_created")
    group = frame.loc[frame["org_level"] == "group"]
    for stream in STREAMS:
        assert (frame[stream] >= 0).all(), stream
        assert group[stream].sum() > 0, f"{stream} is empty on the generated data"


def test_value_created_is_a_plausible_fraction_of_operating_cost(value_ws):
    frame = published(value_ws, "select * from marts.fct_value_created")
    group = frame.loc[(frame["org_level"] == "group") & frame["ops_cost_cny"].notna()]
    share = group["value_created_cny"].sum() / group["ops_cost_cny"].sum()
    # operations give back a share of what they cost (the reference's Japanese insurer: about
    # 20% from automation alone); neither nothing nor several times the cost
    assert 0.05 < share < 1.5, share
    monthly = group["value_created_cny"] / group["ops_cost_cny"]
    assert (monthly < 3).all(), monthly.describe()
    net = frame["value_created_cny"] - frame["ops_cost_cny"]
    assert np.allclose(frame["net_value_cny"].dropna(), net.dropna(), rtol=1e-12)


def test_published_tree_is_the_tree_the_lint_reads(value_ws):
    table = published(value_ws, "select * from marts.dim_indicator_tree")
    manifest = load_manifest(get_settings().dbt_project_dir)
    links = build_tree(manifest).links

    def key(parent, child, link_type, role, filtered, direction) -> tuple:
        return (
            None if pd.isna(parent) else parent,
            child,
            link_type,
            None if pd.isna(role) else role,
            bool(filtered),
            None if pd.isna(direction) else direction,
        )

    ours = Counter(
        key(*row)
        for row in table[
            [
                "parent_node",
                "child_node",
                "link_type",
                "input_role",
                "is_filtered",
                "expected_direction",
            ]
        ].itertuples(index=False)
    )
    expected = Counter(
        key(x.parent, x.child, x.link_type, x.input_role, x.is_filtered, x.direction) for x in links
    )
    assert ours == expected
    goals = table.loc[table["link_type"] == "root"]
    assert set(goals["child_label_zh"]) == {"客户体验", "成本效率", "质量与风险"}


def test_new_tables_are_published_with_comments(value_ws):
    tables = published(
        value_ws,
        "select table_name, comment from duckdb_tables() where schema_name = 'marts'",
    )
    commented = dict(zip(tables["table_name"], tables["comment"], strict=True))
    columns = published(
        value_ws,
        "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'",
    )
    for name in NEW_TABLES:
        assert commented.get(name), f"{name} is not published with a comment"
        mine = columns.loc[columns["table_name"] == name]
        assert mine["comment"].notna().all(), mine.loc[mine["comment"].isna()]


# --- the dbt tests hold on the build and fail on broken numbers ----------------------------------


@pytest.fixture(scope="module")
def compiled_tests(value_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The two tests' SQL as dbt compiles it against the workspace's working database."""
    target = tmp_path_factory.mktemp("compiled")
    project = get_settings().dbt_project_dir
    env = {**os.environ, "OPSVALUE_WORK_DB": str(value_ws.work_db)}
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
            f"{FORMULA_TEST} {ROLLUP_TEST}",
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    folder = target / "compiled" / "opsvalue" / "tests" / "singular"
    return {name: (folder / f"{name}.sql").read_text() for name in (FORMULA_TEST, ROLLUP_TEST)}


@pytest.fixture
def work_copy(value_ws: Workspace, tmp_path: Path):
    with writable_work_copy(value_ws.work_db, tmp_path) as con:
        yield con


def failures(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def test_formula_and_rollup_tests_pass_on_the_build(work_copy, compiled_tests):
    assert failures(work_copy, compiled_tests[FORMULA_TEST]).empty
    assert failures(work_copy, compiled_tests[ROLLUP_TEST]).empty


def one_row(con, metric: str, level: str) -> tuple[str, str]:
    return con.execute(
        "select org_code, cast(period_start as varchar) from marts.fct_kpi_values "
        "where metric_name = ? and org_level = ? and denominator > 10 "
        "order by org_code, period_start limit 1",
        [metric, level],
    ).fetchone()


def break_value(con, metric: str, level: str, assignment: str) -> None:
    code, month = one_row(con, metric, level)
    con.execute(
        f"update marts.fct_kpi_values set {assignment} "  # noqa: S608 - test-owned literals
        "where metric_name = ? and org_level = ? and org_code = ? and period_start = ?",
        [metric, level, code, month],
    )


@pytest.mark.parametrize(
    ("metric", "level", "assignment", "check"),
    [
        # the value is not the formula over its own numerator and denominator
        ("claims_auto_rate", "branch", "value = value * 1.001", "value"),
        ("nps", "subsidiary", "value = value + 1", "value"),
        # the denominator is not policies_in_force's published value (value kept consistent)
        (
            "cost_per_policy_cny",
            "sub_branch",
            "denominator = denominator + 1, value = numerator / (denominator + 1)",
            "child",
        ),
        # tasks_completed divides task_sla_rate and rework_rate: two values for one volume
        (
            "task_sla_rate",
            "center",
            "denominator = denominator + 1, value = numerator / (denominator + 1)",
            "shared",
        ),
        # auto-processed claims outnumber the claims paid they are part of
        (
            "claims_auto_rate",
            "group",
            "numerator = denominator + 5, value = (denominator + 5) / denominator",
            "part",
        ),
    ],
)
def test_formula_test_fails_on_a_broken_link(
    work_copy, compiled_tests, metric, level, assignment, check
):
    break_value(work_copy, metric, level, assignment)
    found = failures(work_copy, compiled_tests[FORMULA_TEST])
    assert check in set(found["failed_check"]), found.head()
    if check == "shared":  # the volume has two values; which parent is off is not knowable
        assert "tasks_completed" in set(found["child_node"]), found.head()
    else:
        assert metric in set(found["parent_node"]), found.head()


@pytest.mark.parametrize(
    ("column", "level"),
    [
        ("automation_savings_cny", "sub_branch"),
        ("retention_value_cny", "branch"),
        ("ops_cost_cny", "subsidiary"),
        ("hours_released_value_cny", "center"),
    ],
)
def test_rollup_test_fails_when_children_do_not_add_up(work_copy, compiled_tests, column, level):
    code, month = work_copy.execute(
        f"select org_code, period_start from marts.fct_value_created "  # noqa: S608
        f"where org_level = ? and {column} > 0 order by org_code, period_start limit 1",
        [level],
    ).fetchone()
    work_copy.execute(
        f"update marts.fct_value_created set {column} = {column} + 1000 "  # noqa: S608
        "where org_level = ? and org_code = ? and period_start = ?",
        [level, code, month],
    )
    found = failures(work_copy, compiled_tests[ROLLUP_TEST])
    assert column in set(found["stream"]), found.head()


def test_a_months_last_day_matures_a_cohort_without_recomputing_the_policies(
    value_ws: Workspace, tmp_path: Path
):
    """The day that completes a month brings the cohort issued 13 months before to maturity.
    int_policy_cohorts, computed from the policies alone, is left as it is (its gate does not
    open: no policy arrived); fct_policy_cohorts, a view over it, judges maturity against the
    new newest day, and the published cohorts and KPIs equal the full build's over the same
    records."""
    from opsgen import generate, split_last_day

    ws = make_workspace(tmp_path / "ws")
    generate(out=ws.raw_dir, scale=TEST_SCALE, months=MONTHS, seed=TEST_SEED, progress=False)
    delivery = split_last_day(ws.raw_dir, tmp_path / "delivery")
    day = pd.Timestamp(delivery.day)
    assert day.is_month_end and "policies" not in delivery.files
    run_on(ws)

    def state(ws: Workspace) -> tuple[set, pd.DataFrame, pd.DataFrame]:
        with duckdb.connect(str(ws.work_db), read_only=True) as con:
            digests = {
                row[0]
                for row in con.execute(
                    "select distinct input_digest from intermediate.int_policy_cohorts"
                ).fetchall()
            }
        cohorts = published(
            ws,
            "select * exclude (input_digest) from marts.fct_policy_cohorts order by policy_id",
        )
        kpis = published(
            ws,
            "select metric_name, period_start, org_level, org_code, numerator, denominator, value"
            " from marts.fct_kpi_values order by all",
        )
        return digests, cohorts, kpis

    digests_before, cohorts_before, kpis_before = state(ws)
    for source, path in delivery.files.items():
        shutil.copy2(path, ws.raw_dir / source / path.name)
    run_on(ws)
    digests_after, cohorts_after, kpis_after = state(ws)
    _, cohorts_full, kpis_full = state(value_ws)

    assert len(digests_before) == 1 and digests_after == digests_before
    # the cohort issued in the month 13 months before the day's month matured with the day
    newly = cohorts_after["is_cohort_matured_13m"] & ~cohorts_before["is_cohort_matured_13m"]
    issued = pd.to_datetime(cohorts_after.loc[newly, "issued_date"])
    assert newly.sum() > 0
    assert set(issued.dt.to_period("M")) == {(day - pd.DateOffset(months=13)).to_period("M")}
    unmatured = cohorts_before["is_cohort_matured_13m"] & ~cohorts_after["is_cohort_matured_13m"]
    assert not unmatured.any()
    pd.testing.assert_frame_equal(cohorts_after, cohorts_full)
    cohort_month = (day - pd.DateOffset(months=13)).to_period("M").to_timestamp()
    persistency = kpis_after.loc[kpis_after["metric_name"] == "persistency_13m", "period_start"]
    assert cohort_month in set(pd.to_datetime(persistency))
    before = kpis_before.loc[kpis_before["metric_name"] == "persistency_13m", "period_start"]
    assert cohort_month not in set(pd.to_datetime(before))
    pd.testing.assert_frame_equal(kpis_after, kpis_full, check_exact=False, rtol=1e-9)

    # A corrected policies file (one policy fewer) opens the gate: int_policy_cohorts is
    # recomputed under a new digest and the rows of the old one are deleted (the post-hook
    # inputs_gate_cleanup), so no policy is left twice and the withdrawn one is gone.
    month_file = sorted((ws.raw_dir / "policies").glob("policies_[0-9]*.csv"))[-1]
    header, first, *rest = month_file.read_text().splitlines()
    withdrawn = first.split(",")[0]
    assert withdrawn in set(cohorts_after["policy_id"])
    month_file.write_text("\n".join([header, *rest]) + "\n")
    run_on(ws)
    digests_corrected, cohorts_corrected, _ = state(ws)
    assert len(digests_corrected) == 1 and digests_corrected != digests_after
    assert set(cohorts_corrected["policy_id"]) == set(cohorts_after["policy_id"]) - {withdrawn}
    assert cohorts_corrected["policy_id"].is_unique
