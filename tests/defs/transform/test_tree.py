"""The indicator tree's lint: the real tree passes; each fault, in several variants, is rejected
with a message naming the file to fix. Faults are made on a copy of the real manifest (fast, many
variants), and once end to end through `dbt parse` on a copy of the project."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.catalog import lint_project, load_manifest
from dagster_project.defs.transform.tree import (
    TREE_FILE,
    TREE_MODEL,
    build_tree,
    lint_tree,
    tree_config,
)

DBT_DIR = get_settings().dbt_project_dir
NPS_FILE = "models/owners/customer_service/_customer_service__metrics.yml"
CLAIMS_FILE = "models/owners/claims/_claims__metrics.yml"
FINANCE_FILE = "models/owners/finance/_finance__metrics.yml"


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> dict[str, Any]:
    return load_manifest(DBT_DIR)


def tree_of(manifest: dict[str, Any]) -> dict[str, Any]:
    [node] = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["name"] == TREE_MODEL
    ]
    return node["config"]["meta"]["indicator_tree"]


def metric_of(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    [metric] = [m for m in manifest["metrics"].values() if m["name"] == name]
    return metric


def faults(manifest: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> list[Any]:
    changed = copy.deepcopy(manifest)
    change(changed)
    return lint_tree(changed)


def assert_fault(errors: list[Any], file: str, node: str, words: str) -> None:
    hits = [e for e in errors if e.file == file and e.metric == node and words in e.problem]
    assert hits, f"expected {words!r} for {node} in {file}, got {[str(e) for e in errors]}"
    assert file in str(hits[0]) and hits[0].fix


def test_the_real_tree_passes(manifest):
    assert lint_tree(manifest) == []
    file, config = tree_config(manifest)
    assert file == TREE_FILE
    assert [g["name"] for g in config["goals"]] == [
        "customer_experience",
        "cost_efficiency",
        "quality_and_risk",
    ]


def test_build_tree_places_every_kpi_under_one_dimension_and_one_goal(manifest):
    tree = build_tree(manifest)
    dimension_goal = {
        link.child: link.parent for link in tree.links if link.child_kind == "dimension"
    }
    assert sorted(dimension_goal) == sorted(
        ["value", "efficiency", "quality", "risk_control", "service", "key_projects"]
    )
    kpi_parents: dict[str, list[str]] = {}
    for link in tree.links:
        if link.link_type == "hierarchy" and link.child_kind == "kpi":
            kpi_parents.setdefault(link.child, []).append(str(link.parent))
    assert len(kpi_parents) >= 46
    assert all(len(parents) == 1 for parents in kpi_parents.values())
    assert all(parents[0] in dimension_goal for parents in kpi_parents.values())


def test_build_tree_links_formulas_to_their_inputs(manifest):
    tree = build_tree(manifest)
    formula = {
        (link.parent, link.child, link.input_role, link.is_filtered)
        for link in tree.links
        if link.link_type == "formula"
    }
    assert ("nps", "net_promoters", "numerator", False) in formula
    assert ("nps", "nps_responses", "denominator", False) in formula
    assert ("cost_per_policy_cny", "policies_in_force", "denominator", False) in formula
    assert ("claims_auto_rate", "claims_paid", "numerator", True) in formula
    assert ("claims_auto_rate", "claims_paid", "denominator", False) in formula
    drivers = {(link.parent, link.child, link.direction) for link in tree.links}
    assert ("claims_cycle_time_days", "task_dispatch_latency_min", "increases") in drivers


# --- every KPI under exactly one dimension ------------------------------------------------------


def test_lint_rejects_a_dimension_under_two_goals(manifest):
    errors = faults(manifest, lambda m: tree_of(m)["goals"][1]["dimensions"].append("service"))
    assert_fault(errors, TREE_FILE, "dimension service", "sits under 2 goals")


def test_lint_rejects_a_dimension_under_no_goal_and_its_kpis(manifest):
    errors = faults(manifest, lambda m: tree_of(m)["goals"][2]["dimensions"].remove("quality"))
    assert_fault(errors, TREE_FILE, "dimension quality", "sits under no goal")
    assert_fault(errors, TREE_FILE, "rework_rate", "is not in the indicator tree")


def test_lint_rejects_an_unknown_dimension_in_a_goal(manifest):
    errors = faults(manifest, lambda m: tree_of(m)["goals"][0]["dimensions"].append("happiness"))
    assert_fault(errors, TREE_FILE, "dimension happiness", "unknown dimension")


def test_lint_rejects_a_kpi_under_two_dimensions(manifest):
    def two(m: dict[str, Any]) -> None:
        metric_of(m, "nps")["config"]["meta"]["dimension"] = ["service", "quality"]

    assert_fault(faults(manifest, two), NPS_FILE, "nps", "sits under 2 dimensions")


def test_lint_rejects_a_kpi_under_no_dimension(manifest):
    def none(m: dict[str, Any]) -> None:
        metric_of(m, "claims_auto_rate")["config"]["meta"].pop("dimension")

    assert_fault(faults(manifest, none), CLAIMS_FILE, "claims_auto_rate", "under no dimension")


def test_lint_rejects_a_tree_that_is_not_defined(manifest):
    def drop(m: dict[str, Any]) -> None:
        [node] = [n for n in m["nodes"].values() if n["name"] == TREE_MODEL]
        node["config"]["meta"].pop("indicator_tree")

    assert_fault(faults(manifest, drop), TREE_FILE, "-", "not defined")


def test_lint_rejects_a_goal_without_its_attributes(manifest):
    errors = faults(manifest, lambda m: tree_of(m)["goals"][0].pop("label_zh"))
    assert_fault(errors, TREE_FILE, "goal customer_experience", "label_zh is missing")


# --- no cycles ------------------------------------------------------------------------------------


def driver(parent: str, child: str, direction: str = "increases") -> Callable[[dict], None]:
    def add(m: dict[str, Any]) -> None:
        tree_of(m)["drivers"].append({"parent": parent, "child": child, "direction": direction})

    return add


def test_lint_rejects_a_cycle_of_driver_links(manifest):
    # the tree already says task_dispatch_latency_min drives claims_cycle_time_days
    errors = faults(manifest, driver("task_dispatch_latency_min", "claims_cycle_time_days"))
    hits = [e for e in errors if "cycle" in e.problem]
    assert hits and all(e.file == TREE_FILE for e in hits)
    assert "claims_cycle_time_days" in hits[0].problem
    assert "task_dispatch_latency_min" in hits[0].problem


def test_lint_rejects_a_cycle_through_a_formula_link(manifest):
    # claims_auto_rate is computed from claims_paid; claims_paid driven by the rate closes a loop
    errors = faults(manifest, driver("claims_paid", "claims_auto_rate"))
    hits = [e for e in errors if "cycle" in e.problem]
    assert hits and hits[0].file == TREE_FILE
    assert "claims_auto_rate -> claims_paid" in hits[0].problem or (
        "claims_paid -> claims_auto_rate" in hits[0].problem
    )


def test_lint_rejects_a_longer_cycle(manifest):
    def loop(m: dict[str, Any]) -> None:
        # nps <- first_contact_resolution_rate exists; close nps -> fcr -> complaints -> nps
        driver("first_contact_resolution_rate", "complaints_per_10k_policies")(m)
        driver("complaints_per_10k_policies", "nps", "decreases")(m)

    errors = faults(manifest, loop)
    assert any("cycle" in e.problem and e.file == TREE_FILE for e in errors)


def test_lint_rejects_a_metric_driving_itself(manifest):
    errors = faults(manifest, driver("nps", "nps"))
    assert_fault(errors, TREE_FILE, "driver link nps <- nps", "drives itself")


# --- every node a catalog metric ----------------------------------------------------------------


def test_lint_rejects_a_driver_that_is_not_a_catalog_metric(manifest):
    errors = faults(manifest, driver("nps", "agent_smiles"))
    assert_fault(errors, TREE_FILE, "driver link nps <- agent_smiles", "not a catalog metric")


def test_lint_rejects_a_driver_parent_that_is_not_a_catalog_metric(manifest):
    errors = faults(manifest, driver("net_value", "nps"))
    assert_fault(errors, TREE_FILE, "driver link net_value <- nps", "not a catalog metric")


def test_lint_rejects_a_dimension_or_goal_used_as_a_metric(manifest):
    errors = faults(manifest, driver("service", "nps"))
    assert_fault(errors, TREE_FILE, "driver link service <- nps", "is a dimension")
    errors = faults(manifest, driver("customer_experience", "nps"))
    assert_fault(errors, TREE_FILE, "driver link customer_experience <- nps", "is a goal")


def test_lint_rejects_a_formula_input_that_is_not_a_catalog_metric(manifest):
    def rename(m: dict[str, Any]) -> None:
        metric_of(m, "fraud_hit_rate")["type_params"]["denominator"]["name"] = "claims_flagged"

    errors = faults(manifest, rename)
    assert_fault(errors, CLAIMS_FILE, "fraud_hit_rate", "claims_flagged is not a catalog metric")


def test_lint_rejects_a_driver_without_a_known_direction(manifest):
    errors = faults(manifest, driver("nps", "digital_self_service_share", "up"))
    assert_fault(
        errors, TREE_FILE, "driver link nps <- digital_self_service_share", "direction is 'up'"
    )


def test_lint_rejects_a_duplicate_driver_and_one_that_repeats_a_formula(manifest):
    errors = faults(manifest, driver("nps", "service_level_20s"))
    assert_fault(errors, TREE_FILE, "driver link nps <- service_level_20s", "declared twice")
    errors = faults(manifest, driver("cost_per_policy_cny", "policies_in_force"))
    assert_fault(
        errors, TREE_FILE, "driver link cost_per_policy_cny <- policies_in_force", "formula-linked"
    )


# --- every derived or ratio metric formula-linked to its inputs ----------------------------------


def test_lint_rejects_a_ratio_without_its_denominator(manifest):
    def drop(m: dict[str, Any]) -> None:
        metric_of(m, "claims_auto_rate")["type_params"]["denominator"] = None

    errors = faults(manifest, drop)
    assert_fault(errors, CLAIMS_FILE, "claims_auto_rate", "not formula-linked to its denominator")


def test_lint_rejects_a_derived_formula_over_a_metric_it_does_not_link(manifest):
    def change(m: dict[str, Any]) -> None:
        metric_of(m, "nps")["type_params"]["expr"] = "100 * net_promoters / nps_surveys_sent"

    errors = faults(manifest, change)
    assert_fault(errors, NPS_FILE, "nps", "uses nps_surveys_sent, which is not one of its inputs")
    assert_fault(errors, NPS_FILE, "nps", "input nps_responses is not in the formula")


def test_lint_rejects_a_derived_metric_with_no_inputs(manifest):
    def change(m: dict[str, Any]) -> None:
        metric_of(m, "cost_per_policy_cny")["type_params"]["metrics"] = []

    errors = faults(manifest, change)
    assert_fault(errors, FINANCE_FILE, "cost_per_policy_cny", "not formula-linked to any input")


# --- end to end: the YAML edited, `dbt parse`, `opsvalue catalog lint`'s function ----------------


def test_lint_project_rejects_a_tree_fault_naming_the_yaml_file(tmp_path: Path, dbt_manifest):
    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    path = project / TREE_FILE
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    [model] = [m for m in doc["models"] if m["name"] == TREE_MODEL]
    model["config"]["meta"]["indicator_tree"]["drivers"].append(
        {"parent": "task_dispatch_latency_min", "child": "claims_cycle_time_days", "direction": "x"}
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    errors = lint_project(project, extra_checks=(lint_tree,))
    assert errors, "the lint passed a tree with a cycle"
    assert all(e.file == TREE_FILE for e in errors), [str(e) for e in errors]
    assert any("cycle" in e.problem for e in errors)
    assert any("direction is 'x'" in e.problem for e in errors)


def test_catalog_tree_command_shows_goals_to_drivers(dbt_manifest):
    import subprocess
    import sys

    shown = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "catalog", "tree"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for words in (
        "customer_experience",
        "quality_and_risk",
        "risk_control",
        "nps — Net promoter score",
        "= denominator nps_responses",
        "= numerator, filtered claims_paid",
        "driver ↑ first_contact_resolution_rate",
        "retention_value_cny — Retention value",
    ):
        assert words in shown, words
    linted = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "catalog", "lint"],
        capture_output=True,
        text=True,
    )
    assert linted.returncode == 0, linted.stderr
