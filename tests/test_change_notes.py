"""A definition change needs a change note: the lint refuses one without, the history keeps it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.catalog import (
    ResolvedMetric,
    lint_change_notes,
    note_problem,
)

DBT_DIR = get_settings().dbt_project_dir
CLAIMS = "models/owners/claims/_claims__metrics.yml"
NOTE = {
    "why": "Only paid decisions are auto-processed claims that count",
    "requested_by": "Claims operations (Li Wei)",
    "approved_by": "Data office (Zhang Min)",
}


def resolved(name: str, digest: str, note: dict | None = None) -> ResolvedMetric:
    return ResolvedMetric(name, "{}", digest, True, "higher_is_better", {}, note)


def recorded(digest: str, version: int = 1, **note: str) -> dict:
    return {"definition_hash": digest, "definition_version": version, **note}


def test_lint_change_notes_only_changed_definitions_need_a_note():
    current = {"a": resolved("a", "h1"), "b": resolved("b", "new"), "c": resolved("c", "x")}
    published = {"a": recorded("h1"), "b": recorded("old")}  # c: never published
    errors = lint_change_notes(current, published, {"b": "models/owners/b/_b__metrics.yml"})
    assert [(e.metric, e.file) for e in errors] == [("b", "models/owners/b/_b__metrics.yml")]
    assert "change_note is missing" in errors[0].problem


def test_note_problem_wants_every_field_and_a_new_note():
    assert note_problem(None, recorded("h")) is not None
    assert "approved_by" in note_problem({**NOTE, "approved_by": " "}, recorded("h"))
    assert note_problem(NOTE, recorded("h")) is None
    old = recorded(
        "h",
        2,
        change_reason=NOTE["why"],
        change_requested_by=NOTE["requested_by"],
        change_approved_by=NOTE["approved_by"],
    )
    assert "recorded with version 2" in note_problem(NOTE, old)


def edit_claims_auto_rate(project: Path, note: dict | None) -> None:
    path = project / CLAIMS
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    metric = next(m for m in doc["metrics"] if m["name"] == "claims_auto_rate")
    metric["type_params"]["numerator"]["filter"] += (
        " and {{ Dimension('claim__decision') }} = 'paid'"
    )
    if note:
        metric["config"]["meta"]["change_note"] = note
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def lint(project: Path, warehouse: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSVALUE_WAREHOUSE": str(warehouse), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", "catalog", "lint"]
        + ["--project-dir", str(project)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("with_note", [False, True])
def test_lint_refuses_a_changed_definition_without_a_note(built, tmp_path, with_note):
    project = tmp_path / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    edit_claims_auto_rate(project, NOTE if with_note else None)
    result = lint(project, built.warehouse)
    if with_note:
        assert result.returncode == 0, result.stderr
        assert "catalog OK" in result.stdout
    else:
        assert result.returncode == 1, result.stdout + result.stderr
        error = " ".join(result.stderr.split())
        assert f"{CLAIMS}: metric claims_auto_rate" in error
        assert "change_note is missing" in error
        assert "nps" not in error  # only the metric that changed
