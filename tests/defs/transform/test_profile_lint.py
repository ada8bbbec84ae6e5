"""The lint of the weight profiles and cascade rules: each fault rejected, naming the file."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.catalog import load_manifest, metrics_from_manifest
from dagster_project.defs.transform.profile_lint import lint_scorecards

DBT_DIR = get_settings().dbt_project_dir
PROFILES = "models/marts/scorecards/_scorecards__profiles.yml"
CLAIMS = "models/owners/claims/_claims__metrics.yml"


@pytest.fixture(scope="module")
def metrics(dbt_manifest) -> dict:
    return metrics_from_manifest(load_manifest(DBT_DIR))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The profiles file alone in a project-shaped folder (the lint reads it from models/)."""
    target = tmp_path / "dbt" / PROFILES
    target.parent.mkdir(parents=True)
    shutil.copy(DBT_DIR / PROFILES, target)
    return tmp_path / "dbt"


def edit(project: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = project / PROFILES
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc["models"][0]["config"]["meta"]["scorecards"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def profile(scorecards: dict[str, Any], name: str = "unit_cost_efficiency") -> dict[str, Any]:
    [found] = [p for p in scorecards["profiles"] if p["name"] == name]
    return found


def test_the_real_profiles_and_rules_pass(metrics) -> None:
    assert lint_scorecards(DBT_DIR, metrics) == []


PROFILE_FAULTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "weights not summing to 1": (
        lambda s: profile(s)["kpis"][0].update(weight=0.5),
        "the weights sum to 1.25, not 1",
    ),
    "unknown KPI": (
        lambda s: profile(s)["kpis"][0].update(metric="claims_happiness"),
        "unknown KPI 'claims_happiness'",
    ),
    "a component volume is not a KPI": (
        lambda s: profile(s)["kpis"][0].update(metric="claims_paid"),
        "unknown KPI 'claims_paid'",
    ),
    "unknown method": (
        lambda s: profile(s)["kpis"][0].update(method="gut_feeling"),
        "unknown method 'gut_feeling'",
    ),
    "KPI without direction": (
        lambda s: profile(s)["kpis"].append(
            {"metric": "claim_approval_rate", "weight": 0.0001, "method": "peer_base"}
        ),
        "has no direction",
    ),
    "target attainment without a target": (
        lambda s: profile(s)["kpis"].append(
            {"metric": "cost_per_policy_cny", "weight": 0.0001, "method": "target_attainment"}
        ),
        "no target",
    ),
    "overlapping bands": (
        lambda s: profile(s).update(
            bands=[{"grade": "A", "from": 50, "to": 100}, {"grade": "C", "from": 0, "to": 60}]
        ),
        "overlaps",
    ),
    "missing band": (
        lambda s: profile(s).update(
            bands=[{"grade": "A", "from": 60, "to": 100}, {"grade": "C", "from": 0, "to": 50}]
        ),
        "miss scores from 50 to 60",
    ),
    "bands short of 100": (
        lambda s: profile(s).update(bands=[{"grade": "C", "from": 0, "to": 90}]),
        "end at 90",
    ),
    "duplicate grade": (
        lambda s: profile(s).update(
            bands=[{"grade": "A", "from": 50, "to": 100}, {"grade": "A", "from": 0, "to": 50}]
        ),
        "grade A has more than one band",
    ),
    "unknown stage": (
        lambda s: profile(s).update(stages=["growth_at_all_costs"]),
        "unknown stage 'growth_at_all_costs'",
    ),
    "unknown unit type": (
        lambda s: profile(s).update(unit_type="head_office"),
        "unknown unit_type 'head_office'",
    ),
    "tier of another unit type": (
        lambda s: profile(s).update(tiers=["branch", "center"]),
        "tier 'center' is not a tier of functional_unit",
    ),
    "two profiles for one tier and stage": (
        lambda s: s["profiles"].append(
            {**copy.deepcopy(profile(s)), "name": "unit_cost_efficiency_too"}
        ),
        "overlap: both score",
    ),
    "a stage without a profile": (
        lambda s: profile(s).update(tiers=["group"]),
        "no profile scores branch in a cost_efficiency year",
    ),
    "too few draws": (
        lambda s: s["rank_stability"].update(draws=50),
        "rank_stability.draws is 50",
    ),
    "unknown default stage": (
        lambda s: s["stages"].update(default="expansion"),
        "stages.default is 'expansion'",
    ),
    "negative minimum base": (
        lambda s: profile(s).update(min_base=-1),
        "min_base is -1",
    ),
}


@pytest.mark.parametrize("fault", list(PROFILE_FAULTS))
def test_each_profile_fault_is_rejected_naming_the_file(project, metrics, fault) -> None:
    change, words = PROFILE_FAULTS[fault]
    edit(project, change)
    errors = lint_scorecards(project, metrics)
    hits = [e for e in errors if words in e.problem]
    assert hits, f"{fault}: expected {words!r}, got {[str(e) for e in errors]}"
    assert all(e.file == PROFILES and str(e).startswith(PROFILES) for e in hits)
    assert hits[0].fix


CASCADE_FAULTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "unknown rule": ("claims_auto_rate", {"rule": "negotiate"}, "unknown rule 'negotiate'"),
    "unknown fallback": (
        "claims_auto_rate",
        {"rule": "override", "overrides": {"LIF": 0.7}, "fallback": "override"},
        "unknown fallback 'override'",
    ),
    "override without overrides": ("claims_auto_rate", {"rule": "override"}, "without overrides"),
    "overrides with another rule": (
        "claims_auto_rate",
        {"rule": "inherit", "overrides": {"LIF": 0.7}},
        "overrides given with rule inherit",
    ),
    "an override that is no number": (
        "claims_auto_rate",
        {"rule": "override", "overrides": {"LIF": "high"}},
        "override of LIF is 'high'",
    ),
    "unknown key": ("claims_auto_rate", {"rule": "inherit", "when": 2027}, "unknown key 'when'"),
    "a rule on a percentile": (
        "claims_cycle_time_p90_days",
        {"rule": "proportional_to_last_year"},
        "on a percentile",
    ),
    "inherit on an additive metric": (
        "claims_paid_amount_cny",
        {"rule": "inherit"},
        "inherit on an additive metric",
    ),
}


@pytest.mark.parametrize("fault", list(CASCADE_FAULTS))
def test_each_cascade_fault_is_rejected_naming_the_file(project, metrics, fault) -> None:
    name, cascade, words = CASCADE_FAULTS[fault]
    changed = dict(metrics)
    changed[name] = copy.deepcopy(metrics[name])
    changed[name].meta["target_cascade"] = cascade
    errors = lint_scorecards(project, changed)
    hits = [e for e in errors if words in e.problem and name in e.metric]
    assert hits, f"{fault}: expected {words!r}, got {[str(e) for e in errors]}"
    assert hits[0].file == CLAIMS and str(hits[0]).startswith(CLAIMS)


def test_catalog_lint_command_runs_the_profile_lint(tmp_path: Path) -> None:
    """`opsvalue catalog lint` (one dbt parse) rejects a profile fault and exits 1."""
    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    edit(project, lambda s: profile(s)["kpis"][0].update(weight=0.5))
    opsvalue = Path(__import__("sys").executable).parent / "opsvalue"
    result = subprocess.run(
        [str(opsvalue), "catalog", "lint", "--project-dir", str(project)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 1
    assert PROFILES in result.stderr and "not 1" in result.stderr
