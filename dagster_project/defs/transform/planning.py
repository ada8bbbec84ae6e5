"""What a run asks of dbt: the build watermark and the plan of one `dbt build`.

dbt is only re-run when new raw data was loaded or the dbt project changed since the last
successful build; that is what makes a second `opsvalue demo` with no new files fast. A refresh
builds only what the changed sources feed, plus the marts the publication reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.defs.ingest import gate_state, ledger
from dagster_project.defs.transform.project import dbt_project_fingerprint

# Master data that staging maps every record through (canonical_org_code looks org codes up in
# the alias list): when it changes, the incremental facts must be rebuilt, not just extended.
MAPPING_SOURCES = ("org_aliases",)


def build_watermark(
    con: duckdb.DuckDBPyConnection,
    kpi_checks: Path | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> str:
    """What the marts are built from: the newest ledger entry, the newest version of the
    mapping sources, and the dbt project fingerprint; and what they are checked against: the
    KPI checks' thresholds (`kpi_checks`, expectations/kpi_checks.yml).

    The checks hold back the KPIs they find wrong (defs/checks/holds.py) until they pass again,
    so a changed threshold must re-run them: it changes the watermark, which builds the marts the
    publication reads (no source changed: nothing else) and runs the checks on them. The holds
    are then a function of the watermark, and so is what readers see.

    With the `manifest`, it also fingerprints each model and test and the semantic layer
    (`project_parts`), so that plan_build rebuilds only what an edit of the project changes."""
    ledger_max = ledger.max_ledger_id(con)
    mapping = ledger.max_ledger_id(con, MAPPING_SOURCES)
    mark = {
        "ledger_max_id": ledger_max,
        "mapping_max_id": mapping,
        "dbt": dbt_project_fingerprint(),
    }
    if kpi_checks is not None and kpi_checks.is_file():
        mark["kpi_checks"] = hashlib.sha256(kpi_checks.read_bytes()).hexdigest()[:16]
    if manifest is not None:
        mark["parts"] = project_parts(manifest)
    return json.dumps(mark)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


# A project macro is used where its name is called: dbt's own list (depends_on.macros) misses
# calls inside `{% if execute %}` blocks, which is where the KPI models make theirs.
_CALL = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(")


def _macro_closure(code: str, macros: Mapping[str, str]) -> set[str]:
    """The project macros `code` calls, directly or through other project macros."""
    seen: set[str] = set()
    todo = [code]
    while todo:
        for name in _CALL.findall(todo.pop()):
            if name in macros and name not in seen:
                seen.add(name)
                todo.append(macros[name])
    return seen


# Models rendered from the semantic layer (metrics, semantic models): they call these macros.
SEMANTIC_MACROS = frozenset({"kpi_metric_specs", "kpi_semantic_index"})
# Models that read fct_kpi_standardised's segmenting columns from the graph (int_kpi_day_sums
# sums each batch per segment): an edit of the columns rebuilds fct_kpi_standardised, whose
# config they are, and runs these too, incrementally (their digests sum every batch again).
SEGMENTS_MACRO = "kpi_segments"
SEGMENTS_MODEL = "fct_kpi_standardised"


def project_parts(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Fingerprints of the parts of the dbt project a build depends on, each on its own:

    - `models`: per model, its SQL, its config (materialisation, hooks, keys) and column types,
      and the body of every project macro it calls. Descriptions are left out: they change no
      row. The semantic layer is left out too: the KPI models fold each metric's
      definition into their inputs' digests (macros/definition_changes.sql), so they need no
      rebuild for it.
    - `tests`: per data test, its SQL and arguments.
    - `semantic`: the metrics and semantic models (definitions, targets, labels);
    - `semantic_models`: the models rendered from the semantic layer.
    - `segments`: fct_kpi_standardised's segmenting columns, and `segment_models`, the models
      that read them from the graph (kpi_segments).
    """
    package = manifest.get("metadata", {}).get("project_name", "opsvalue")
    macros = {
        m["name"]: m["macro_sql"]
        for m in manifest["macros"].values()
        if m["package_name"] == package
    }
    models: dict[str, str] = {}
    tests: dict[str, str] = {}
    semantic_models: list[str] = []
    segment_models: list[str] = []
    segments = next(
        (
            ((n.get("config") or {}).get("meta") or {}).get("segments")
            for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["name"] == SEGMENTS_MODEL
        ),
        None,
    )
    for uid, node in manifest["nodes"].items():
        config = node.get("config") or {}
        if node["resource_type"] == "model":
            code = node.get("raw_code", "") + json.dumps(config, sort_keys=True, default=str)
            used = _macro_closure(code, macros)
            columns = {c: (v or {}).get("data_type") for c, v in node.get("columns", {}).items()}
            models[node["name"]] = _digest(
                [node.get("raw_code"), config, columns, {m: macros[m] for m in sorted(used)}]
            )
            if used & SEMANTIC_MACROS:
                semantic_models.append(node["name"])
            if SEGMENTS_MACRO in used:
                segment_models.append(node["name"])
        elif node["resource_type"] == "test":
            used = _macro_closure(node.get("raw_code", ""), macros)
            tests[uid] = _digest(
                [
                    node.get("raw_code"),
                    node.get("test_metadata"),
                    config,
                    {m: macros[m] for m in sorted(used)},
                ]
            )
    volatile = {"created_at", "node_relation", "relation_name", "unrendered_config", "path"}

    def stable(value: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in value.items() if k not in volatile}

    semantic = _digest(
        {
            "metrics": {m["name"]: stable(m) for m in manifest.get("metrics", {}).values()},
            "semantic_models": {
                m["name"]: stable(m) for m in manifest.get("semantic_models", {}).values()
            },
        }
    )
    return {
        "models": models,
        "tests": tests,
        "semantic": semantic,
        "semantic_models": sorted(semantic_models),
        "segments": _digest([segments]),
        "segment_models": sorted(segment_models),
    }


# The batches a refresh tests (macros/test_scope.sql): an environment variable of the dbt process,
# not --vars, since dbt re-parses the whole project whenever --vars change.
NEW_BATCHES_ENV = "OPSVALUE_NEW_BATCHES"


# The models one build rebuilds from scratch while it extends the others (a JSON list), read by
# the project's should_full_refresh macro: an environment variable, like NEW_BATCHES_ENV.
FULL_REFRESH_ENV = "OPSVALUE_FULL_REFRESH_MODELS"


# A rebuild: dbt's own flag. metric_definition_history ignores it (full_refresh=false), so its
# history outlives rebuilds; unlike --vars, a flag does not make dbt re-parse the project.
REBUILD = ["--full-refresh"]
# dbt's unit tests check the models' SQL on given rows, not the data: tests/test_dbt_unit_tests.py
# runs them; a pipeline build leaves them out (they would add a second or two to every refresh).
UNIT_TESTS = "test_type:unit"


# The marts the publication copies and the KPI checks read: built on every run that builds.
# fct_kpi_attribution is a plain table computed from fct_kpi_values, so it is rebuilt with it
# (listed, not left to the meta sources' closure, so the two never go out of step); so is
# fct_value_created, the value streams of fct_kpi_values set against the operations cost,
# fct_driver_attribution, its formula-linked KPIs split into their inputs, and
# fct_kpi_standardised, its rates at the group's mix.
ALWAYS_BUILT = (
    "fct_kpi_values",
    "fct_kpi_attribution",
    "fct_driver_attribution",
    "fct_kpi_standardised",
    "fct_value_created",
    "dim_metric_catalog",
    "dim_org",
    "data_quality_scorecard",
)


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
    full_refresh: tuple[str, ...] = ()

    def env(self) -> dict[str, str]:
        """Environment for the dbt process: the batches to test, or '' for every row, and the
        models to rebuild from scratch (macros/definition_changes.sql should_full_refresh).
        Always set, so a value left in the caller's environment never reaches dbt."""
        return {
            NEW_BATCHES_ENV: (
                json.dumps(list(self.new_batches)) if self.new_batches is not None else ""
            ),
            FULL_REFRESH_ENV: json.dumps(list(self.full_refresh)) if self.full_refresh else "",
        }


def ledger_changes(
    con: duckdb.DuckDBPyConnection, since_ledger_id: int | None
) -> tuple[set[str], list[str]]:
    """Sources with file versions recorded after `since_ledger_id`, and those versions' batches."""
    rows = ledger.changes_since(con, since_ledger_id)
    return {source for source, _ in rows}, [batch for _, batch in rows]


def _closure(start: set[str], edges: Mapping[str, list[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _excluded_models(
    manifest: Mapping[str, Any], changed_sources: set[str], also: set[str] = frozenset()
) -> list[str]:
    """The models no changed source feeds, not named in `also` (unique ids) and no test of a
    built model reads: left as they are."""
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
    selected = (_closure(start, children) & models) | always | (set(also) & models)
    # every node some test of a selected model reads (dbt drops a test whose parent is excluded)
    # (a relationships test reads two models: when the looked-up side changed, the rows that
    # point into it are tested again, so their model is kept even if no changed source feeds it)
    tests = [
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and set(parents.get(uid, [])) & selected
    ]
    needed = {parent for uid in tests for parent in parents.get(uid, [])}
    return sorted(nodes[uid]["name"] for uid in models - selected - needed)


def _lookup_sources(manifest: Mapping[str, Any]) -> set[str]:
    """The sources under the models that tests look values up in (the `to` side of
    relationships tests): a change there can break rows that are not new."""
    parents = manifest["parent_map"]
    looked_up = {
        parent
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name") == "relationships"
        for parent in parents.get(uid, [])
        if parent != node.get("attached_node")
    }
    upstream = _closure(looked_up, parents)
    return {
        manifest["sources"][uid]["source_name"] for uid in upstream if uid in manifest["sources"]
    }


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
    project_changed = before.get("dbt") != now["dbt"]
    # a project edit is planned part by part when both builds fingerprinted the parts
    partwise = "parts" in before and "parts" in now
    if (
        not previous
        or before.get("mapping_max_id") != now["mapping_max_id"]
        or (project_changed and not partwise)
    ):
        reason = "first build" if not previous else "the dbt project or the alias list changed"
        return BuildPlan(
            args=["build", *REBUILD, "--exclude", UNIT_TESTS],
            reason=f"full rebuild: {reason}",
            rebuild=True,
        )

    edit = project_edit(manifest, before.get("parts"), now.get("parts")) if partwise else None
    also = edit.selected if edit else set()
    excluded = _excluded_models(manifest, changed_sources, also)
    lookup_sources = _lookup_sources(manifest)
    # one value: dagster-dbt re-reads --exclude with argparse (one value per flag)
    args = ["build", "--exclude", " ".join([UNIT_TESTS, *excluded])]
    touched = changed_sources & lookup_sources
    if edit and edit.rebuilt:
        scope = None
        reason = f"incremental, every row tested ({len(edit.rebuilt)} model(s) changed)"
    elif touched:
        scope = None
        reason = f"incremental, every row tested ({', '.join(sorted(touched))} changed)"
    else:
        scope = tuple(new_batches)
        reason = f"incremental, tests on the {len(scope)} new batch(es)"
    if edit:
        reason += f"; {edit.describe()}"
    return BuildPlan(
        args=args,
        reason=f"{reason}; {len(excluded)} model(s) no change feeds left as they are",
        excluded=tuple(excluded),
        new_batches=scope,
        full_refresh=tuple(edit.full_refresh) if edit else (),
    )


@dataclass(frozen=True)
class ProjectEdit:
    """What an edit of the dbt project makes a build do (README: what each kind of edit
    rebuilds)."""

    changed: tuple[str, ...]  # models whose own SQL, config or macros changed
    rebuilt: tuple[str, ...]  # those and every model downstream of them
    full_refresh: tuple[str, ...]  # the incremental models among `rebuilt`: from scratch
    semantic: bool  # the metrics or semantic models changed
    selected: set[str]  # unique ids of the models the edit alone makes the build run

    def describe(self) -> str:
        parts = []
        if self.changed:
            parts.append(f"changed model(s) {', '.join(self.changed)}")
        if self.full_refresh:
            parts.append(f"rebuilt from scratch: {', '.join(self.full_refresh)}")
        if self.semantic:
            parts.append("metric definitions changed: their KPI months are recomputed")
        return "; ".join(parts) or "no model changed"


def project_edit(
    manifest: Mapping[str, Any], before: Mapping[str, Any], now: Mapping[str, Any]
) -> ProjectEdit:
    """Compare two builds' project_parts.

    - A model whose own SQL, config, column types or macros changed, and everything downstream
      of it, is rebuilt: tables are built, incremental models rebuilt from scratch (but
      metric_definition_history, full_refresh=false).
    - A changed semantic layer (a metric's measures, filters, formula, targets) runs the models
      rendered from it, incrementally: their digests recompute only the edited metrics' months.
    - Changed segmenting columns (fct_kpi_standardised's config, so that model is rebuilt) run
      the models that read them from the graph too, incrementally (int_kpi_day_sums: its digest
      sums every batch again).
    - A changed or new data test runs with the models it tests.
    """
    uid_of = {
        n["name"]: uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"
    }
    children = manifest["child_map"]
    old_models, new_models = before.get("models", {}), now.get("models", {})
    changed = sorted(n for n, fp in new_models.items() if old_models.get(n) != fp and n in uid_of)
    rebuilt_ids = _closure({uid_of[n] for n in changed}, children) & set(uid_of.values())
    rebuilt = sorted(manifest["nodes"][uid]["name"] for uid in rebuilt_ids)
    incremental = [
        name
        for name in rebuilt
        if manifest["nodes"][uid_of[name]]["config"].get("materialized") == "incremental"
    ]
    semantic = before.get("semantic") != now.get("semantic")
    selected = set(rebuilt_ids)
    if semantic:
        selected |= {uid_of[n] for n in now.get("semantic_models", []) if n in uid_of}
    if before.get("segments") != now.get("segments"):
        selected |= {uid_of[n] for n in now.get("segment_models", []) if n in uid_of}
    old_tests = before.get("tests", {})
    for uid, fp in now.get("tests", {}).items():
        if old_tests.get(uid) != fp:
            selected |= {
                p for p in manifest["parent_map"].get(uid, []) if p in set(uid_of.values())
            }
    return ProjectEdit(
        changed=tuple(changed),
        rebuilt=tuple(rebuilt),
        full_refresh=tuple(incremental),
        semantic=semantic,
        selected=selected,
    )


def content_fingerprint(con: duckdb.DuckDBPyConnection, build_watermark: str) -> str:
    """What the readers would see: the dbt build's inputs plus the gate and freshness state."""
    digest = hashlib.sha256(build_watermark.encode())
    rows = gate_state.gate_rows(con)
    if rows:
        digest.update(repr(rows).encode())
    return digest.hexdigest()
