"""The catalog lint on the real project and on a temporary copy with one fault each."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.catalog import (
    DIMENSIONS,
    lint_project,
    load_manifest,
    metrics_from_manifest,
)

DBT_DIR = get_settings().dbt_project_dir
CUSTOMER_SERVICE = "models/owners/customer_service/_customer_service__metrics.yml"
CLAIMS = "models/owners/claims/_claims__metrics.yml"


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    target = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, target, ignore=shutil.ignore_patterns("target", "logs"))
    return target


def edit_metric(project: Path, file: str, metric: str, change: Callable[[dict], None]) -> None:
    path = project / file
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    [entry] = [m for m in doc["metrics"] if m["name"] == metric]
    change(entry)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def assert_rejected(project: Path, metric: str, file: str, words: str) -> None:
    errors = lint_project(project)
    hits = [e for e in errors if e.metric == metric and e.file == file and words in e.problem]
    assert hits, f"expected a {words!r} error for {metric} in {file}, got {errors}"
    assert hits[0].fix


def test_lint_project_passes_on_the_real_catalog(dbt_manifest):
    assert lint_project(DBT_DIR) == []
    metrics = metrics_from_manifest(load_manifest(DBT_DIR))
    kpis = [m for m in metrics.values() if m.is_kpi]
    assert len(kpis) >= 35
    assert len({m.group for m in kpis}) >= 8
    assert {m.meta["dimension"] for m in kpis} == set(DIMENSIONS)


def test_lint_rejects_a_metric_without_owner(project_copy):
    edit_metric(project_copy, CUSTOMER_SERVICE, "nps", lambda m: m["config"].pop("group"))
    assert_rejected(project_copy, "nps", CUSTOMER_SERVICE, "no owner")


def test_lint_rejects_an_owner_other_than_the_models_group(project_copy):
    edit_metric(project_copy, CUSTOMER_SERVICE, "nps", lambda m: m["config"].update(group="claims"))
    assert_rejected(project_copy, "nps", CUSTOMER_SERVICE, "differs from the group")


@pytest.mark.parametrize("attribute", ["unit", "definition", "dimension"])
def test_lint_rejects_a_missing_governance_attribute(project_copy, attribute):
    edit_metric(
        project_copy, CLAIMS, "claims_auto_rate", lambda m: m["config"]["meta"].pop(attribute)
    )
    assert_rejected(project_copy, "claims_auto_rate", CLAIMS, f"attribute {attribute}")


def test_lint_rejects_an_empty_governance_attribute(project_copy):
    edit_metric(
        project_copy, CLAIMS, "claims_auto_rate", lambda m: m["config"]["meta"].update(formula="")
    )
    assert_rejected(project_copy, "claims_auto_rate", CLAIMS, "attribute formula")


def test_lint_rejects_a_duplicate_name(project_copy):
    path = project_copy / CUSTOMER_SERVICE
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    claims = yaml.safe_load((project_copy / CLAIMS).read_text(encoding="utf-8"))
    doc["metrics"].append(next(m for m in claims["metrics"] if m["name"] == "claims_auto_rate"))
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert_rejected(project_copy, "claims_auto_rate", CUSTOMER_SERVICE, "defined more than once")


def test_lint_rejects_a_duplicate_label(project_copy):
    edit_metric(project_copy, CUSTOMER_SERVICE, "nps", lambda m: m.update(label="Abandonment rate"))
    assert_rejected(project_copy, "nps", CUSTOMER_SERVICE, "is shared with abandonment_rate")


def test_lint_rejects_a_ratio_without_denominator(project_copy):
    edit_metric(
        project_copy, CLAIMS, "claims_auto_rate", lambda m: m["type_params"].pop("denominator")
    )
    assert_rejected(project_copy, "claims_auto_rate", CLAIMS, "without a denominator")


@pytest.mark.parametrize(
    ("metric", "file", "targets"),
    [
        ("claims_auto_rate", CLAIMS, {"default": {"target": 0.5, "red_threshold": 0.6}}),
        ("claims_cycle_time_days", CLAIMS, {"branch": {"target": 12, "red_threshold": 10}}),
    ],
)
def test_lint_rejects_a_target_on_the_wrong_side_of_its_threshold(
    project_copy, metric, file, targets
):
    edit_metric(project_copy, file, metric, lambda m: m["config"]["meta"].update(targets=targets))
    assert_rejected(project_copy, metric, file, "wrong side")
