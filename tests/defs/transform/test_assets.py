"""What the dbt asset builds: a rebuild, or an incremental build of what the changes feed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.planning import (
    ALWAYS_BUILT,
    FULL_REFRESH_ENV,
    NEW_BATCHES_ENV,
    REBUILD,
    UNIT_TESTS,
    build_watermark,
    plan_build,
    project_parts,
)


def watermark(ledger: int, mapping: int | None, dbt: str) -> str:
    return json.dumps({"ledger_max_id": ledger, "mapping_max_id": mapping, "dbt": dbt})


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> dict:
    return json.loads(dbt_manifest.read_text())


def names(manifest: dict, resource_type: str = "model") -> set[str]:
    return {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == resource_type}


def test_first_build_project_change_and_alias_change_rebuild_everything(manifest):
    for previous, now in [
        (None, watermark(9, 7, "a")),
        (watermark(5, 1, "a"), watermark(5, 1, "b")),
        (watermark(5, 1, "a"), watermark(9, 7, "a")),
    ]:
        plan = plan_build(manifest, previous, now, {"claims"}, ["b1"])
        assert plan.rebuild and plan.args == ["build", *REBUILD, "--exclude", UNIT_TESTS]
        assert plan.env() == {NEW_BATCHES_ENV: "", FULL_REFRESH_ENV: ""}  # every row tested
        assert plan.new_batches is None and not plan.excluded


def test_new_claims_build_what_claims_feed_and_test_only_the_new_batches(manifest):
    plan = plan_build(manifest, watermark(5, 1, "a"), watermark(9, 1, "a"), {"claims"}, ["b1"])
    assert not plan.rebuild
    excluded = set(plan.excluded)
    # what no changed source feeds stays as it is; what claims feed is rebuilt
    assert {"fct_op_costs", "fct_staffing_monthly", "fct_contacts", "fct_tasks"} <= excluded
    assert not excluded & {
        "stg_claims__claims",
        "fct_claims",
        "int_kpi_months_observed_by_batch",
        *ALWAYS_BUILT,
    }
    assert excluded < names(manifest)
    # dbt drops a test when it excludes a node the test reads: every test of what claims feed runs
    by_id = {uid: n["name"] for uid, n in manifest["nodes"].items()}
    claims_tests = [
        uid
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "test"
        and by_id.get(n.get("attached_node")) in {"stg_claims__claims", "fct_claims"}
    ]
    # relationships and not_null_columns of the view, unique and not_null_columns of the fact
    assert len(claims_tests) >= 5
    for uid in claims_tests:
        assert not {by_id.get(p) for p in manifest["parent_map"][uid]} & excluded, uid
    assert plan.args[:2] == ["build", "--exclude"] and len(plan.args) == 3
    assert plan.args[2].split() == [UNIT_TESTS, *plan.excluded]  # unit tests run in pytest only
    # both variables always set, so none left in the caller's environment reaches dbt
    assert plan.env() == {NEW_BATCHES_ENV: json.dumps(["b1"]), FULL_REFRESH_ENV: ""}
    assert plan.new_batches == ("b1",)


def test_a_changed_lookup_source_tests_every_row(manifest):
    # org units are what relationships tests look codes up in: old rows can break too
    plan = plan_build(manifest, watermark(5, 1, "a"), watermark(9, 1, "a"), {"org_units"}, ["b"])
    assert plan.new_batches is None and plan.env()[NEW_BATCHES_ENV] == ""
    assert "--vars" not in plan.args
    assert "org_units changed" in plan.reason
    # the claims staging view is kept: its relationships test checks every claim's org code
    # against the new org units (dbt would drop the test if the view were excluded)
    assert "stg_claims__claims" not in plan.excluded
    by_id = {uid: n["name"] for uid, n in manifest["nodes"].items()}
    for uid, parents in manifest["parent_map"].items():
        names = {by_id.get(p) for p in parents}
        if uid.startswith("test.") and "stg_org_units__org_units" in names:
            assert not names & set(plan.excluded), uid


def test_nothing_new_still_builds_what_the_publication_reads(manifest):
    plan = plan_build(manifest, watermark(9, 1, "a"), watermark(9, 1, "a"), set(), [])
    assert not set(plan.excluded) & set(ALWAYS_BUILT)
    assert plan.new_batches == ()


def parted(dbt: str, parts: dict, ledger: int = 9) -> str:
    return json.dumps({"ledger_max_id": ledger, "mapping_max_id": 1, "dbt": dbt, "parts": parts})


BATCH_FACTS = {"fct_claims", "fct_contacts", "fct_applications", "fct_tasks", "fct_complaints"}


def test_a_metric_edit_recomputes_the_kpi_models_and_rebuilds_no_fact(manifest):
    now = project_parts(manifest)
    before = {**now, "semantic": "an older catalog"}
    plan = plan_build(manifest, parted("a", before), parted("b", now), set(), [])
    assert not plan.rebuild and plan.full_refresh == ()
    assert "--full-refresh" not in plan.args
    assert set(plan.excluded) >= BATCH_FACTS
    # the models rendered from the catalog run, incrementally
    assert {
        "int_kpi_months_observed_by_batch",
        "int_kpi_months_fingerprinted",
        "metric_definition_history",
        "dim_metric_targets",
    } & set(plan.excluded) == set()
    assert plan.env()[FULL_REFRESH_ENV] == ""


def test_a_staging_edit_rebuilds_only_what_depends_on_it(manifest):
    now = project_parts(manifest)
    models = {**now["models"], "stg_claims__claims": "the SQL before the edit"}
    plan = plan_build(manifest, parted("a", {**now, "models": models}), parted("b", now), set(), [])
    assert not plan.rebuild
    assert "fct_claims" in plan.full_refresh and "fct_kpi_values" in plan.full_refresh
    assert not BATCH_FACTS - {"fct_claims"} & set(plan.full_refresh)
    assert BATCH_FACTS - {"fct_claims"} <= set(plan.excluded)
    assert "stg_claims__claims" not in plan.excluded and "fct_claims" not in plan.excluded
    assert json.loads(plan.env()[FULL_REFRESH_ENV]) == list(plan.full_refresh)
    assert plan.new_batches is None  # every row of the rebuilt models tested


def test_project_parts_leave_descriptions_out(manifest):
    import copy

    edited = copy.deepcopy(manifest)
    node = next(n for n in edited["nodes"].values() if n["name"] == "fct_claims")
    node["description"] = "another description"
    assert project_parts(edited) == project_parts(manifest)
    node["raw_code"] += "\n-- an edit"
    assert (
        project_parts(edited)["models"]["fct_claims"]
        != project_parts(manifest)["models"]["fct_claims"]
    )


def test_an_edit_of_the_segments_sums_the_batches_again(manifest):
    """int_kpi_day_sums sums each batch per segment by the columns fct_kpi_standardised's config
    names (it reads them from the graph): an edit of them rebuilds the standardisation and runs
    the day sums, incrementally (their digest sums every batch again), and nothing else anew."""
    import copy

    edited = copy.deepcopy(manifest)
    node = next(n for n in edited["nodes"].values() if n["name"] == "fct_kpi_standardised")
    assert node["config"]["meta"]["segments"].pop("fct_contacts") == "channel"
    before, now = project_parts(manifest), project_parts(edited)
    assert now["segment_models"] == ["int_kpi_day_sums"]
    changed = {name for name, fp in now["models"].items() if before["models"][name] != fp}
    assert changed == {"fct_kpi_standardised"}
    plan = plan_build(edited, parted("a", before), parted("b", now), set(), [])
    assert not plan.rebuild
    assert "int_kpi_day_sums" not in plan.excluded
    assert "int_kpi_day_sums" not in plan.full_refresh
    assert "fct_kpi_standardised" in plan.full_refresh
    assert not {"int_kpi_months_observed_by_batch", "fct_kpi_values"} & set(plan.full_refresh)
    assert not BATCH_FACTS & set(plan.full_refresh)
    # unchanged segments select nothing more
    same = plan_build(manifest, parted("a", before), parted("b", before), set(), [])
    assert "int_kpi_day_sums" in same.excluded


def test_changed_kpi_check_thresholds_change_the_watermark_but_rebuild_nothing(manifest, tmp_path):
    """A relaxed bound must re-run the KPI checks (their holds last until they pass): the
    watermark changes, and the build is the marts the publication and the checks read."""
    import duckdb

    config = tmp_path / "kpi_checks.yml"
    config.write_text("bounds_by_unit: {days: {min: 0, max: 365}}\n")
    con = duckdb.connect()
    before = build_watermark(con, config)
    assert build_watermark(con, config) == before
    config.write_text("bounds_by_unit: {days: {min: 0, max: 730}}\n")
    after = build_watermark(con, config)
    assert after != before
    assert json.loads(after)["dbt"] == json.loads(before)["dbt"]
    plan = plan_build(manifest, before, after, set(), [])
    assert not plan.rebuild and not set(plan.excluded) & set(ALWAYS_BUILT)


def test_dagster_dev_loads_the_code_location_without_dbt_on_path(tmp_path: Path) -> None:
    """The README starts `.venv/bin/dagster dev` without activating the virtualenv, so `dbt` is not
    on PATH; the code location (loaded with DAGSTER_IS_DEV_CLI set) must still load, parsing the
    project when it has no manifest yet."""
    project = tmp_path / "dbt"
    shutil.copytree(
        Path(get_settings().dbt_project_dir),
        project,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    env = {
        **os.environ,
        "DAGSTER_IS_DEV_CLI": "1",
        "PATH": os.defpath,
        "OPSVALUE_DBT_DIR": str(project),
    }
    done = subprocess.run(
        [sys.executable, "-c", "import dagster_project.definitions"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (project / "target" / "manifest.json").is_file(), "the project was parsed"


def test_ensure_manifest_parses_again_after_a_manifest_written_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `dbt build` or `dbt show` run by hand rewrites target/manifest.json, perhaps from another
    state of the project; the pipeline then parses once more rather than trust it."""
    from dagster_dbt import DbtProject

    from dagster_project.defs.transform import project as dbt_project

    project_dir = tmp_path / "dbt"
    shutil.copytree(
        Path(get_settings().dbt_project_dir),
        project_dir,
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    parses: list[Path] = []
    real_parse = dbt_project.parse_project

    def counting_parse(path: Path) -> str | None:
        parses.append(path)
        return real_parse(path)

    monkeypatch.setattr(dbt_project, "parse_project", counting_parse)
    manifest = dbt_project.ensure_manifest(project)
    dbt_project.ensure_manifest(project)
    assert len(parses) == 1, "an unchanged project with its own manifest is not parsed again"

    manifest.write_text(manifest.read_text())  # what a dbt command run by hand does
    dbt_project.ensure_manifest(project)
    assert len(parses) == 2
