"""The required-columns test (dbt/tests/generic/not_null_columns.sql) passes on the build, fails
on a null in any of its columns, and on a refresh tests only the rows of the new batches.

Each model's required columns are one not_null_columns test instead of one dbt not_null per
column: fewer nodes, the same rows judged. The SQL is compiled by dbt against a copy of a
pipeline's working database and run there, with a null written into one row.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.project import dbt_executable
from tests.conftest import Workspace, writable_work_copy

REQUIRED = ["claim_id", "_source_file", "_batch_id"]


def compile_test(ws: Workspace, target: Path, new_batches: list[str] | None) -> str:
    """fct_claims' not_null_columns test as dbt compiles it, scoped to `new_batches` if given."""
    project = get_settings().dbt_project_dir
    env = {**os.environ, "OPSVALUE_WORK_DB": str(ws.work_db)}
    env.pop("OPSVALUE_NEW_BATCHES", None)
    if new_batches is not None:
        env["OPSVALUE_NEW_BATCHES"] = json.dumps(new_batches)
    subprocess.run(
        [dbt_executable(), "compile", "--quiet", "--project-dir", str(project)]
        + ["--profiles-dir", str(project), "--target", "work", "--target-path", str(target)]
        + ["--select", "fct_claims,test_name:not_null_columns"],
        check=True,
        env=env,
        capture_output=True,
    )
    found = list((target / "compiled").rglob("not_null_columns_fct_claims*.sql"))
    assert len(found) == 1, found
    return found[0].read_text()


@pytest.fixture(scope="module")
def compiled(built: Workspace, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    with duckdb.connect(str(built.work_db), read_only=True) as con:
        batches = [
            r[0]
            for r in con.execute(
                "select distinct _batch_id from marts.fct_claims order by 1 limit 2"
            ).fetchall()
        ]
    assert len(batches) == 2
    return {
        "batches": batches,
        "whole": compile_test(built, tmp_path_factory.mktemp("whole"), None),
        "first": compile_test(built, tmp_path_factory.mktemp("first"), batches[:1]),
        "second": compile_test(built, tmp_path_factory.mktemp("second"), batches[1:]),
    }


@pytest.fixture
def work_copy(built: Workspace, tmp_path: Path):
    with writable_work_copy(built.work_db, tmp_path) as con:
        yield con


def failing(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return len(con.execute(sql).fetchall())


def test_the_yml_names_the_required_columns_once_per_model() -> None:
    project = get_settings().dbt_project_dir
    spec = yaml.safe_load(
        (project / "models" / "owners" / "claims" / "_claims__models.yml").read_text()
    )
    (claims,) = [m for m in spec["models"] if m["name"] == "fct_claims"]
    tests = [t["not_null_columns"] for t in claims["data_tests"] if "not_null_columns" in t]
    assert tests == [{"arguments": {"columns": REQUIRED}}]
    # and no column keeps a not_null of its own beside it
    for path in (project / "models").rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for column in model.get("columns") or []:
                names = [
                    t if isinstance(t, str) else next(iter(t))
                    for t in column.get("data_tests") or []
                ]
                assert "not_null" not in names, (path, model["name"], column["name"])


def test_it_passes_on_the_build(work_copy, compiled) -> None:
    assert work_copy.execute("select count(*) from marts.fct_claims").fetchone()[0] > 100
    for scope in ("whole", "first", "second"):
        assert failing(work_copy, compiled[scope]) == 0, scope


@pytest.mark.parametrize("column", REQUIRED)
def test_a_null_in_any_required_column_fails_it(work_copy, compiled, column) -> None:
    first, _second = compiled["batches"]
    claim = work_copy.execute(
        "select claim_id from marts.fct_claims where _batch_id = ? order by claim_id limit 1",
        [first],
    ).fetchone()[0]
    # the scope reads _batch_id: another column's null keeps the row in its batch
    work_copy.execute(
        f"update marts.fct_claims set {column} = null where claim_id = ?",  # noqa: S608
        [claim],
    )
    assert failing(work_copy, compiled["whole"]) == 1
    if column != "_batch_id":
        # a refresh that brought the row's batch finds it, one that brought another does not
        assert failing(work_copy, compiled["first"]) == 1
        assert failing(work_copy, compiled["second"]) == 0
    else:
        assert failing(work_copy, compiled["first"]) == 0  # a row of no batch is in no scope
