"""The dbt project's unit tests (`unit_tests:` beside the models), run for real.

The pipeline's builds leave them out (lib/dbt_project.plan_build: they check the models' SQL on
given rows, not the data), so this is where they run: against a temporary DuckDB file in which
every model was first built empty (`dbt run --empty`), since a unit test reads its inputs'
columns from the relations they stand in for.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagster_project.core.contract import load_contract
from dagster_project.core.settings import get_settings
from dagster_project.defs.ingest.gate_state import ensure_tables
from dagster_project.defs.ingest.load import ingest_source
from dagster_project.defs.transform.project import DBT_TARGET, dbt_executable

DBT_DIR = get_settings().dbt_project_dir
# The semantic layer as a unit test gives it: dbt hands unit tests an empty `graph`, so a model
# computed from the metric definitions (fct_kpi_values) gets them through these overrides.
SEMANTIC_LAYER_MACROS = ("kpi_metric_specs", "kpi_semantic_index")


@dataclass(frozen=True)
class DbtWorkspace:
    database: Path
    target: Path
    logs: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One dbt command on the project, writing only to this workspace's files."""
        return subprocess.run(
            [dbt_executable(), *args, "--target", DBT_TARGET]
            + ["--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
            + ["--target-path", str(self.target), "--log-path", str(self.logs)],
            env={
                **os.environ,
                "OPSVALUE_WORK_DB": str(self.database),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            },
            capture_output=True,
            text=True,
            check=False,
        )

    def artifact(self, name: str) -> dict[str, Any]:
        return json.loads((self.target / name).read_text(encoding="utf-8"))


def create_empty_sources(database: Path, no_extracts: Path) -> None:
    """The tables the dbt sources name, as the pipeline creates them before any delivery: the
    raw tables of every source of the contract, the file ledger and the gate states."""
    with duckdb.connect(str(database)) as con:
        ensure_tables(con)
        for name, source in load_contract().items():
            columns = [column.name for column in source.columns]
            ingest_source(con, name, no_extracts / name, no_extracts, columns)


@pytest.fixture(scope="module")
def dbt_workspace(tmp_path_factory: pytest.TempPathFactory) -> DbtWorkspace:
    root = tmp_path_factory.mktemp("dbt_unit_tests")
    workspace = DbtWorkspace(root / "work.duckdb", root / "target", root / "logs")
    create_empty_sources(workspace.database, root / "no_extracts")
    built = workspace.run("run", "--empty")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return workspace


def test_every_dbt_unit_test_passes(dbt_workspace: DbtWorkspace) -> None:
    result = dbt_workspace.run("test", "--select", "test_type:unit")
    defined = set(dbt_workspace.artifact("manifest.json")["unit_tests"])
    ran = {
        r["unique_id"]: r["status"]
        for r in dbt_workspace.artifact("run_results.json")["results"]
        if r["unique_id"].startswith("unit_test.")
    }
    assert ran, "no dbt unit test ran"
    assert set(ran) == defined, f"defined but not run: {sorted(defined - set(ran))}"
    failed = {uid: status for uid, status in ran.items() if status != "pass"}
    assert not failed and result.returncode == 0, f"{failed}\n{result.stdout[-6000:]}"


def differences(given: Any, resolved: Any, path: str = "") -> list[str]:
    """Where `given` (a part of a resolved value, as a unit test writes it) says otherwise."""
    if isinstance(given, Mapping):
        if not isinstance(resolved, Mapping):
            return [f"{path}: {resolved!r} is not a mapping"]
        return [
            problem
            for key, value in given.items()
            for problem in (
                differences(value, resolved[key], f"{path}.{key}")
                if key in resolved
                else [f"{path}.{key}: not in the semantic layer"]
            )
        ]
    return [] if given == resolved else [f"{path}: {given!r}, the semantic layer has {resolved!r}"]


def test_unit_tests_give_the_semantic_layer_as_it_resolves(dbt_workspace: DbtWorkspace) -> None:
    """A unit test that hands fct_kpi_values its metric definitions must hand over the ones the
    project defines, so a changed definition cannot leave a test checking a stale one."""
    overridden = {
        unit_test["name"]: {
            macro: value
            for macro, value in ((unit_test.get("overrides") or {}).get("macros") or {}).items()
            if macro in SEMANTIC_LAYER_MACROS
        }
        for unit_test in dbt_workspace.artifact("manifest.json")["unit_tests"].values()
    }
    overridden = {name: macros for name, macros in overridden.items() if macros}
    assert overridden, "no unit test gives the semantic layer: nothing to compare"
    shown = dbt_workspace.run(
        "show",
        "--inline",
        "select '{{ tojson({'kpi_metric_specs': kpi_metric_specs(),"
        " 'kpi_semantic_index': kpi_semantic_index()}) | replace(\"'\", \"''\") }}' as resolved",
        "--output",
        "json",
        "--log-format",
        "json",
    )
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    previews = [
        json.loads(line)["data"]["preview"]
        for line in shown.stdout.splitlines()
        if line.startswith("{") and '"preview"' in line
    ]
    assert len(previews) == 1, shown.stdout[-3000:]
    resolved = json.loads(json.loads(previews[0])[0]["resolved"])
    for name, macros in overridden.items():
        for macro, value in macros.items():
            assert not differences(value, resolved[macro], macro), (name, macro)
