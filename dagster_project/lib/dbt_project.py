"""The one DbtProject and translator of the code location, and the dbt build watermark."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject

from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import STATE_DDL, table_exists

# The dbt project folder is fixed when the code location loads; the warehouse path is read at
# run time (see defs/dbt), so tests and deployments can point runs at other files.
SETTINGS = get_settings()

DBT_PROJECT = DbtProject(
    project_dir=SETTINGS.dbt_project_dir,
    profiles_dir=SETTINGS.dbt_project_dir,
)
# Under `dagster dev` the manifest is re-parsed when the code location loads; everywhere else
# (the CLI, tests, CI) `ensure_manifest()` prepares it explicitly before definitions load.
DBT_PROJECT.prepare_if_dev()


def dbt_executable() -> str:
    """The dbt installed beside this Python, so an un-activated virtualenv still finds it."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


# The pipeline builds into its working database; the profile's default target is the published
# read-only snapshot that analysts' dbt and MetricFlow commands use.
DBT_TARGET = "work"


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=DBT_PROJECT, dbt_executable=dbt_executable(), target=DBT_TARGET
    )


# Files whose change means the dbt models must be rebuilt even when no new data arrived.
DBT_INPUT_GLOBS = ("dbt_project.yml", "profiles.yml", "models/**/*", "macros/**/*", "tests/**/*")


def dbt_project_fingerprint(project_dir: Path = SETTINGS.dbt_project_dir) -> str:
    """A hash of every file that defines the dbt project (models, YAML, macros, tests)."""
    digest = hashlib.sha256()
    files = sorted({p for g in DBT_INPUT_GLOBS for p in project_dir.glob(g) if p.is_file()})
    for path in files:
        digest.update(path.relative_to(project_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def parse_project(project_dir: Path) -> str | None:
    """Run `dbt parse` on a dbt project folder; returns dbt's error text, or None when it parses."""
    result = subprocess.run(
        [dbt_executable(), "parse", "--project-dir", str(project_dir)]
        + ["--profiles-dir", str(project_dir), "--quiet", "--no-partial-parse"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return None
    return (result.stdout + result.stderr).strip() or f"dbt parse exited {result.returncode}"


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Run `dbt parse` when the manifest is missing or older than the project's files."""
    project_dir = Path(project.project_dir)
    manifest = Path(project.manifest_path)
    fingerprint_file = manifest.parent / "opsvalue_fingerprint.txt"
    fingerprint = dbt_project_fingerprint(project_dir)
    if (
        manifest.exists()
        and fingerprint_file.exists()
        and fingerprint_file.read_text() == fingerprint
    ):
        return manifest
    problem = parse_project(project_dir)
    if problem:
        raise RuntimeError(f"dbt parse failed in {project_dir}:\n{problem}")
    fingerprint_file.write_text(fingerprint)
    return manifest


class OpsvalueTranslator(DagsterDbtTranslator):
    """Asset keys are DuckDB `schema.table`, so an analyst finds the table behind every asset."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        name = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        return AssetKey([dbt_resource_props["schema"], name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # models/<layer or owner>/...: the folder is the Dagster group
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"


TRANSLATOR = OpsvalueTranslator()

# --- build watermark -------------------------------------------------------------------------
# dbt is only re-run when new raw data was loaded or the dbt project changed since the last
# successful build; that is what makes a second `opsvalue demo` with no new files fast.


# Master data that staging maps every record through (canonical_org_code looks org codes up in
# the alias list): when it changes, the incremental facts must be rebuilt, not just extended.
MAPPING_SOURCES = ("org_aliases",)


def build_watermark(con: duckdb.DuckDBPyConnection) -> str:
    """What the marts are built from: the newest ledger entry, the newest version of the
    mapping sources, and the dbt project fingerprint."""
    con.execute(STATE_DDL)
    exists = table_exists(con, "meta", "file_ledger")
    ledger_max = (
        con.execute("select max(ledger_id) from meta.file_ledger").fetchone()[0] if exists else None
    )
    mapping = (
        con.execute(
            "select max(ledger_id) from meta.file_ledger where source in (select unnest(?))",
            [list(MAPPING_SOURCES)],
        ).fetchone()[0]
        if exists
        else None
    )
    return json.dumps(
        {"ledger_max_id": ledger_max, "mapping_max_id": mapping, "dbt": dbt_project_fingerprint()}
    )


WATERMARK_KEY = "dbt_build_watermark"
REBUILD = ["--vars", json.dumps({"opsvalue_rebuild": True})]


def build_args(previous: str | None, watermark: str) -> list[str]:
    """Incremental build on new data; a full refresh when the dbt project itself changed.

    Incremental models only add what is new, so a change of their SQL, of the metric catalog
    they are generated from, of a contract, or of the alias list staging maps org codes through
    must rebuild them from scratch. The incremental models take the `opsvalue_rebuild` var as
    their full_refresh config; dbt's own --full-refresh would also wipe the definition history.
    """
    before = json.loads(previous) if previous else {}
    now = json.loads(watermark)
    if any(before.get(key) != now[key] for key in ("dbt", "mapping_max_id")):
        return ["build", *REBUILD]
    return ["build"]
