"""The one DbtProject, dbt CLI resource and translator of the code location, and the parse."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject
from dagster_dbt.dbt_project import using_dagster_dev
from filelock import FileLock
from packaging import version

from dagster_project.core.settings import get_settings

# The dbt project folder is fixed when the code location loads; the warehouse path is read at
# run time (see defs/dbt), so tests and deployments can point runs at other files.
SETTINGS = get_settings()


DBT_PROJECT = DbtProject(
    project_dir=SETTINGS.dbt_project_dir,
    profiles_dir=SETTINGS.dbt_project_dir,
)


def dbt_executable() -> str:
    """The dbt installed beside this Python, so an un-activated virtualenv still finds it."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


# The pipeline builds into its working database; the profile's default target is the published
# read-only snapshot that analysts' dbt and MetricFlow commands use.
DBT_TARGET = "work"


class OpsvalueDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-up costs the pipeline does not need.

    On every invocation DbtCliResource runs `dbt --version` in a subprocess to learn which dbt it
    drives (1.2 s of a refresh here) and builds a dbt adapter in the Dagster process, used only to
    fetch column metadata and row counts, which these assets do not ask for (0.7 s). The dbt it
    drives is the one installed beside this Python (dbt_executable), so its version is read from
    the installed package instead; any other executable keeps dagster-dbt's own check.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return version.parse(metadata.version("dbt-core"))
        return DbtCliResource._cli_version.func(self)

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource() -> DbtCliResource:
    return OpsvalueDbtCliResource(
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


def _manifest_state(manifest: Path, fingerprint: str) -> str:
    """The project's fingerprint and the manifest file it was parsed into (size, mtime)."""
    stat = manifest.stat()
    return f"{fingerprint}\n{stat.st_size} {stat.st_mtime_ns}\n"


def ensure_manifest(project: DbtProject = DBT_PROJECT) -> Path:
    """Run `dbt parse` unless the manifest is the one parsed here from the project as it is now.

    The state file records the project's fingerprint and the manifest file that parse wrote, so a
    manifest written since by a dbt command run by hand is parsed again too. One process parses
    at a time: under `dagster dev` a code-location reload and a run can both find it stale.
    """
    project_dir = Path(project.project_dir)
    manifest = Path(project.manifest_path)
    state_file = manifest.parent / "opsvalue_fingerprint.txt"
    fingerprint = dbt_project_fingerprint(project_dir)

    def current() -> bool:
        return (
            manifest.exists()
            and state_file.exists()
            and state_file.read_text() == _manifest_state(manifest, fingerprint)
        )

    if current():
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(manifest.parent / "opsvalue_parse.lock"):
        if current():  # parsed by another process meanwhile
            return manifest
        problem = parse_project(project_dir)
        if problem:
            raise RuntimeError(f"dbt parse failed in {project_dir}:\n{problem}")
        partial = state_file.with_suffix(".tmp")
        partial.write_text(_manifest_state(manifest, fingerprint))
        partial.replace(state_file)
    return manifest


# Under `dagster dev` the manifest is prepared when the code location loads; everywhere else (the
# CLI, tests, CI) `ensure_manifest()` is called explicitly before definitions load. Not
# DBT_PROJECT.prepare_if_dev(): it runs the `dbt` on PATH, which an un-activated virtualenv (the
# README's `.venv/bin/dagster dev`) does not have, and the code location then fails to load.
if using_dagster_dev():
    ensure_manifest()


def keep_partial_parse(invocation_target: Path, project: DbtProject = DBT_PROJECT) -> None:
    """Keep what a dbt invocation parsed for the next one.

    dagster-dbt gives every invocation its own target folder, seeded with the project's
    partial_parse.msgpack. dbt discards that file when the profile differs (the pipeline's `work`
    target and its database path, not the default target `dbt parse` used) and parses the whole
    project again, about 3 s here; its own file, written for this profile, is kept for the next
    run. dbt checks every file's hash before using it, so a kept file is never trusted blindly.
    """
    parsed = invocation_target / "partial_parse.msgpack"
    if not parsed.is_file():
        return
    kept = Path(project.manifest_path).parent / "partial_parse.msgpack"
    tmp = kept.with_name(f".{kept.name}.{os.getpid()}")
    shutil.copyfile(parsed, tmp)
    os.replace(tmp, kept)


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


def load_manifest(project: DbtProject = DBT_PROJECT) -> dict[str, Any]:
    return json.loads(Path(project.manifest_path).read_text())
