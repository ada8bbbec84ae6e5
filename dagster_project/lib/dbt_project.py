"""The one DbtProject and translator of the code location, and the dbt build watermark."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject
from dagster_dbt.dbt_project import using_dagster_dev
from filelock import FileLock
from packaging import version

from dagster_project.lib.settings import get_settings
from dagster_project.lib.warehouse import STATE_DDL, table_exists

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
# The batches a refresh tests (macros/test_scope.sql): an environment variable of the dbt process,
# not --vars, since dbt re-parses the whole project whenever --vars change.
NEW_BATCHES_ENV = "OPSVALUE_NEW_BATCHES"
# A rebuild: dbt's own flag. metric_definition_history ignores it (full_refresh=false), so its
# history outlives rebuilds; unlike --vars, a flag does not make dbt re-parse the project.
REBUILD = ["--full-refresh"]
# dbt's unit tests check the models' SQL on given rows, not the data: tests/test_dbt_unit_tests.py
# runs them; a pipeline build leaves them out (they would add a second or two to every refresh).
UNIT_TESTS = "test_type:unit"

# The marts the publication copies and the KPI checks read: built on every run that builds.
ALWAYS_BUILT = ("fct_kpi_values", "dim_metric_catalog", "dim_org", "data_quality_scorecard")
# The pipeline's own tables (ledger, gate states, GX results) change on every run that loads.
META_SOURCE = "meta"


@dataclass(frozen=True)
class BuildPlan:
    """One dbt invocation: its arguments and, for the log, why it is what it is."""

    args: list[str]
    reason: str
    rebuild: bool = False
    excluded: tuple[str, ...] = ()
    new_batches: tuple[str, ...] | None = None

    def env(self) -> dict[str, str]:
        """Environment for the dbt process: the batches to test, or '' for every row. Always
        set, so a value left in the caller's environment never reaches dbt."""
        return {
            NEW_BATCHES_ENV: (
                json.dumps(list(self.new_batches)) if self.new_batches is not None else ""
            ),
        }


def ledger_changes(
    con: duckdb.DuckDBPyConnection, since_ledger_id: int | None
) -> tuple[set[str], list[str]]:
    """Sources with file versions recorded after `since_ledger_id`, and those versions' batches."""
    if not table_exists(con, "meta", "file_ledger"):
        return set(), []
    rows = con.execute(
        "select source, batch_id from meta.file_ledger where ledger_id > ? order by ledger_id",
        [since_ledger_id if since_ledger_id is not None else -1],
    ).fetchall()
    return {source for source, _ in rows}, [batch for _, batch in rows]


def _closure(start: set[str], edges: Mapping[str, list[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def plan_build(
    manifest: Mapping[str, Any],
    previous: str | None,
    watermark: str,
    changed_sources: set[str],
    new_batches: list[str],
) -> BuildPlan:
    """What a dbt build has to do for what changed since the last successful build.

    - First build, or the dbt project or the alias list changed: rebuild everything with
      `dbt build --full-refresh` (metric_definition_history ignores it: full_refresh=false).
    - Otherwise an incremental build of the models downstream of the changed sources (and the
      marts publication reads), excluding the rest: a day of claims does not rebuild the costs.
      Every model a test of a selected model reads stays selected, as dbt drops a test when it
      excludes any node the test reads: new org units keep the claims staging view, whose
      relationships test then checks every claim's org code against them.
    - When none of the changed sources feeds a model that tests look values up in (org units,
      centers, the catalog), the tests of the batch-carrying models check only the rows of the new
      batches (macros/test_scope.sql, environment variable OPSVALUE_NEW_BATCHES): a new row
      repeating an old key is still found, as the unique test compares the new keys with all rows.
    """
    before = json.loads(previous) if previous else {}
    now = json.loads(watermark)
    if not previous or any(before.get(key) != now[key] for key in ("dbt", "mapping_max_id")):
        reason = "first build" if not previous else "the dbt project or the alias list changed"
        return BuildPlan(
            args=["build", *REBUILD, "--exclude", UNIT_TESTS],
            reason=f"full rebuild: {reason}",
            rebuild=True,
        )

    nodes = {**manifest["nodes"], **manifest["sources"]}
    parents = manifest["parent_map"]
    # The batch-incremental facts read the file ledger only to find their own source's new
    # batches: a ledger entry of another source is no reason to run them.
    children = {
        uid: [
            child
            for child in kids
            if not (
                nodes.get(uid, {}).get("source_name") == META_SOURCE
                and nodes.get(child, {}).get("config", {}).get("unique_key") == "_source_file"
            )
        ]
        for uid, kids in manifest["child_map"].items()
    }
    changed = changed_sources | {META_SOURCE}
    start = {uid for uid, node in manifest["sources"].items() if node["source_name"] in changed}
    models = {uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    always = {uid for uid in models if nodes[uid]["name"] in ALWAYS_BUILT}
    selected = (_closure(start, children) & models) | always
    # every node some test of a selected model reads (dbt drops a test whose parent is excluded)
    # (a relationships test reads two models: when the looked-up side changed, the rows that
    # point into it are tested again, so their model is kept even if no changed source feeds it)
    tests = [
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and set(parents.get(uid, [])) & selected
    ]
    needed = {parent for uid in tests for parent in parents.get(uid, [])}
    excluded = sorted(nodes[uid]["name"] for uid in models - selected - needed)

    # models that tests look values up in (the `to` side of relationships tests), and the
    # sources they rest on: a change there can break rows that are not new
    looked_up = {
        parent
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name") == "relationships"
        for parent in parents.get(uid, [])
        if parent != node.get("attached_node")
    }
    upstream = _closure(looked_up, parents)
    lookup_sources = {
        manifest["sources"][uid]["source_name"] for uid in upstream if uid in manifest["sources"]
    }
    # one value: dagster-dbt re-reads --exclude with argparse (one value per flag)
    args = ["build", "--exclude", " ".join([UNIT_TESTS, *excluded])]
    touched = changed_sources & lookup_sources
    if touched:
        scope = None
        reason = f"incremental, every row tested ({', '.join(sorted(touched))} changed)"
    else:
        scope = tuple(new_batches)
        reason = f"incremental, tests on the {len(scope)} new batch(es)"
    return BuildPlan(
        args=args,
        reason=f"{reason}; {len(excluded)} model(s) no changed source feeds left as they are",
        excluded=tuple(excluded),
        new_batches=scope,
    )


def load_manifest(project: DbtProject = DBT_PROJECT) -> dict[str, Any]:
    return json.loads(Path(project.manifest_path).read_text())
