"""What a catalog edit would publish, computed before it is published (`opsvalue catalog preview`).

The working tree's definitions (resolved by dbt, catalog.resolve_catalog) are compared with the
published ones (the snapshot's metric_definition_history, dim_metric_targets and the cascade rules
of dim_metric_catalog). The metrics
that differ are computed by dbt itself, with the working tree's project, in a scratch database
holding only what their KPIs read: the detail facts of their semantic models (every other fact is
an empty table of the same columns), the org tree and the definition history, all copied from
the published snapshot. The KPI models then run there from scratch, so the values are the ones
the real build publishes after the edit (it recomputes exactly those metrics' months, from the
same records). The snapshot is only attached read-only; the working database and the site are
never opened.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.core.sql import ident, literal
from dagster_project.core.warehouse import skip_vacuum
from dagster_project.defs.transform import definition_history
from dagster_project.defs.transform.catalog import ResolvedMetric, resolve_catalog
from dagster_project.defs.transform.planning import FULL_REFRESH_ENV, NEW_BATCHES_ENV
from dagster_project.defs.transform.project import dbt_executable

TIERS = ("group", "subsidiary", "branch", "sub_branch", "center")
# The models that turn the definitions into KPI rows: run in the scratch database.
KPI_MODELS = (
    "int_kpi_day_sums",
    "int_kpi_months_observed_by_batch",
    "int_kpi_months_fingerprinted",
    "metric_definition_history",
    "dim_metric_targets",
    "dim_metric_catalog",
    "fct_kpi_values",
)
# The models that turn KPI rows into composite scores, and the indicator tree: run in the scratch
# database after the KPI models, over every metric's KPI rows (the edited ones previewed, the
# others published), since a unit's score and its rank in the tier read all of them.
SCORE_MODELS = (
    "stg_meta__source_gate_states",
    "score_profile_history",
    "dim_score_profiles",
    "int_unit_kpis_scored",
    "fct_unit_scores",
    "dim_indicator_tree",
)
# what the scorecard models read from the pipeline's own records (copied from the snapshot)
SCORE_SOURCES = ("meta.source_gate_state",)
# the part of a profile or a tree link that, when it differs, is a change a reviewer signs off
PROFILE_KEY = ("profile_name", "metric_name")
TREE_KEY = ("parent_node", "child_node", "link_type")
SCORE_ABS_TOLERANCE = 1e-9
# Which parts of a resolved definition (kpi_definition) each kind of change names.
PART_KINDS = {
    "semantic_model": "measures",
    "measure": "measures",
    "agg": "measures",
    "expr": "measures",
    "time_dimension": "measures",
    "filter": "filters",
}
FORMULA_KEYS = ("type", "kind", "value", "percentile", "formula")
# a value "changes" beyond float noise (the build sums in another order than a fresh one)
REL_TOLERANCE = 1e-9
TOP_CHANGES = 5

Key = tuple[str, str, str, date]  # metric, org level, org code, month
UnitMonth = tuple[str, str, date]  # org level, org code, month


@dataclass(frozen=True)
class Kpi:
    value: float | None
    status: str | None
    target: float | None  # the unit's own (cascaded) target
    definition_version: int | None


@dataclass
class MetricChange:
    """One metric whose published definition or targets differ from the working tree's."""

    metric_name: str
    parts: list[str]  # measures, filters, formula, sources, targets (tier targets or cascade)
    old_version: int | None
    direction: str | None
    details: dict[str, Any] = field(default_factory=dict)


def tier_targets(targets: Mapping[str, Any] | None) -> dict[str, tuple[float, float]]:
    """Target and red threshold per tier: the tier's own entry, else `default`. The rule of
    dim_metric_targets, here only to find the metrics whose targets an edit changes; the
    statuses previewed come from that model itself."""
    targets = targets or {}
    out = {}
    for tier in TIERS:
        t = targets.get(tier) or targets.get("default")
        if t:
            out[tier] = (float(t["target"]), float(t["red_threshold"]))
    return out


def definition_parts(old_json: str, new_json: str) -> tuple[list[str], dict[str, Any]]:
    """Which kinds of part differ between two resolved definitions, with before and after."""
    old, new = json.loads(old_json), json.loads(new_json)
    kinds: set[str] = set()
    details: dict[str, Any] = {}
    roles = sorted(set(old.get("parts", {})) | set(new.get("parts", {})))
    for role in roles:
        before, after = old.get("parts", {}).get(role) or {}, new.get("parts", {}).get(role) or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                kinds.add(PART_KINDS.get(key, "measures"))
                details[f"{role}.{key}"] = {"old": before.get(key), "new": after.get(key)}
    for key in FORMULA_KEYS:
        if old.get(key) != new.get(key):
            kinds.add("formula")
            details[key] = {"old": old.get(key), "new": new.get(key)}
    if old.get("sources") != new.get("sources"):
        kinds.add("sources")
        details["sources"] = {"old": old.get("sources"), "new": new.get("sources")}
    order = ("measures", "filters", "formula", "sources")
    return [k for k in order if k in kinds], details


def metric_changes(
    current: Mapping[str, ResolvedMetric],
    published: Mapping[str, Mapping[str, Any]],
    published_targets: Mapping[str, Mapping[str, tuple[float, float]]],
    published_cascades: Mapping[str, dict[str, Any] | None] | None = None,
) -> list[MetricChange]:
    """The KPIs published before whose resolved definition or targets differ now. Targets are
    the tier targets and the cascade rule that splits the group's down the org tree (each unit's
    own target); `published_cascades` None (a snapshot from before dim_metric_catalog published
    the rule) leaves the rule uncompared."""
    changes = []
    for name in sorted(current):
        metric, before = current[name], published.get(name)
        if not metric.is_kpi or before is None:
            continue
        parts: list[str] = []
        details: dict[str, Any] = {}
        if before["definition_hash"] != metric.definition_hash:
            parts, details = definition_parts(before["definition_json"], metric.definition_json)
        old_targets = dict(published_targets.get(name, {}))
        new_targets = tier_targets(metric.targets) if metric.direction != "none" else {}
        if old_targets != new_targets:
            parts.append("targets")
            details["targets"] = {
                tier: {"old": old_targets.get(tier), "new": new_targets.get(tier)}
                for tier in TIERS
                if old_targets.get(tier) != new_targets.get(tier)
            }
        if published_cascades is not None and metric.direction != "none":
            old_cascade = published_cascades.get(name)
            if old_cascade != metric.target_cascade:
                if "targets" not in parts:
                    parts.append("targets")
                details["target_cascade"] = {"old": old_cascade, "new": metric.target_cascade}
        if parts:
            changes.append(
                MetricChange(
                    name, parts, before.get("definition_version"), metric.direction, details
                )
            )
    return changes


def read_published(snapshot: Path) -> tuple[dict, dict, dict | None]:
    """The snapshot's latest definition per metric, its targets per metric and tier, and its
    cascade rule per metric (None when the snapshot predates dim_metric_catalog.target_cascade:
    there is no published rule to compare with)."""
    with duckdb.connect(str(snapshot), read_only=True) as con:
        history = definition_history.latest_versions(con)
        targets: dict[str, dict[str, tuple[float, float]]] = {}
        for name, level, target, red in con.execute(
            "select metric_name, org_level, target, red_threshold from marts.dim_metric_targets"
        ).fetchall():
            if target is not None and red is not None:
                targets.setdefault(name, {})[level] = (float(target), float(red))
        cascades = None
        if _has_column(con, "marts", "dim_metric_catalog", "target_cascade"):
            cascades = {
                name: json.loads(rule) if rule is not None else None
                for name, rule in con.execute(
                    "select metric_name, target_cascade from marts.dim_metric_catalog"
                ).fetchall()
            }
    return history, targets, cascades


def _has_column(con: duckdb.DuckDBPyConnection, schema: str, table: str, column: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.columns "
            "where table_schema = ? and table_name = ? and column_name = ?",
            [schema, table, column],
        ).fetchone()[0]
    )


def needed_facts(manifest: Mapping[str, Any], current: Mapping[str, ResolvedMetric]) -> set[str]:
    """The models holding the records of the given metrics (their semantic models' models)."""
    node_of = {
        sm["name"]: manifest["nodes"][sm["depends_on"]["nodes"][0]]["name"]
        for sm in manifest.get("semantic_models", {}).values()
        if sm.get("depends_on", {}).get("nodes")
    }
    models = set()
    for metric in current.values():
        for part in json.loads(metric.definition_json).get("parts", {}).values():
            if part.get("semantic_model") in node_of:
                models.add(node_of[part["semantic_model"]])
    return models


def scratch_inputs(manifest: Mapping[str, Any]) -> list[str]:
    """The relations (marts tables) the KPI models read and do not build."""
    uid = {n["name"]: u for u, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    parents = {
        manifest["nodes"][p]["name"]
        for name in KPI_MODELS
        for p in manifest["parent_map"].get(uid[name], [])
        if p in manifest["nodes"]
    }
    return sorted(parents - set(KPI_MODELS))


def fill_scratch(
    scratch: Path, snapshot: Path, inputs: Iterable[str], full: set[str], keep: Iterable[str]
) -> None:
    """The scratch database: each input from the snapshot's marts, whole when in `full` (the
    edited metrics' records, the org tree) or as an empty table with its columns; `keep` (the
    definition history) whole, so versions continue from the published ones."""
    with duckdb.connect(str(scratch)) as con:
        skip_vacuum(con)
        con.execute(f"attach {literal(str(snapshot))} as published (read_only)")
        con.execute("create schema if not exists marts")
        for name in sorted(set(inputs) | set(keep)):
            limit = "" if name in full or name in keep else " limit 0"
            con.execute(
                f"create table marts.{ident(name)} as "
                f"select * from published.marts.{ident(name)}{limit}"
            )
        con.execute("detach published")


def run_models(
    project_dir: Path, scratch: Path, work_dir: Path, models: Iterable[str] = KPI_MODELS
) -> None:
    """dbt, with the working tree's project, runs `models` from scratch in `scratch`."""
    env = {
        **os.environ,
        "OPSVALUE_WORK_DB": str(scratch),
        NEW_BATCHES_ENV: "",
        FULL_REFRESH_ENV: "",
    }
    result = subprocess.run(
        [dbt_executable(), "run", "--full-refresh", "--quiet", "--target", "work"]
        + ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
        + ["--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
        + ["--select", " ".join(models)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            "dbt could not compute the preview:\n" + (result.stdout + result.stderr)[-3000:]
        )


def read_kpis(database: Path, metrics: Iterable[str]) -> dict[Key, Kpi]:
    """The KPI rows of the given metrics in a database (the snapshot or the scratch one)."""
    names = sorted(metrics)
    if not names:
        return {}
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select metric_name, org_level, org_code, period_start, value, status, target, "
            "definition_version from marts.fct_kpi_values where metric_name in "
            f"({', '.join('?' for _ in names)})",
            names,
        ).fetchall()
    return {
        (m, level, code, start): Kpi(value, status, target, version)
        for m, level, code, start, value, status, target, version in rows
    }


def merge_published_kpis(scratch: Path, snapshot: Path, edited: Iterable[str]) -> None:
    """The scratch fct_kpi_values becomes what the run would publish: the edited metrics' rows
    previewed, every other metric's rows as published; the scorecards' other inputs (the
    pipeline's gate states, the published profile versions) come from the snapshot."""
    names = sorted(edited) or [""]  # no metric is named "": every row is the published one
    marks = ", ".join("?" for _ in names)
    with duckdb.connect(str(scratch)) as con:
        skip_vacuum(con)
        con.execute(f"attach {literal(str(snapshot))} as published (read_only)")
        published = (
            f"select * from published.marts.fct_kpi_values where metric_name not in ({marks})"
        )
        if _has_table(con, None, "marts", "fct_kpi_values"):
            con.execute(
                "create or replace table marts.fct_kpi_values as "
                f"select * from marts.fct_kpi_values where metric_name in ({marks}) "
                f"union all by name {published}",
                names + names,
            )
        else:
            con.execute(f"create table marts.fct_kpi_values as {published}", names)
        for qualified in SCORE_SOURCES + ("marts.score_profile_history",):
            schema, table = qualified.split(".")
            if _has_table(con, "published", schema, table):
                con.execute(f"create schema if not exists {ident(schema)}")
                con.execute(
                    f"create or replace table {ident(schema)}.{ident(table)} as "
                    f"select * from published.{ident(schema)}.{ident(table)}"
                )
        con.execute("detach published")


def _has_table(
    con: duckdb.DuckDBPyConnection, catalog: str | None, schema: str, table: str
) -> bool:
    """Whether a table exists (in `catalog`, or the connection's own database when None)."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = coalesce(?, current_database()) "
            "and table_schema = ? and table_name = ?",
            [catalog, schema, table],
        ).fetchone()[0]
    )


@dataclass(frozen=True)
class Score:
    score: float | None
    grade: str | None
    rank_in_tier: int | None
    rank_in_siblings: int | None
    profile_name: str | None


def read_scores(database: Path) -> dict[UnitMonth, Score]:
    """Every unit-month's composite score in a database (none when it has no scorecards)."""
    with duckdb.connect(str(database), read_only=True) as con:
        if not _has_table(con, None, "marts", "fct_unit_scores"):
            return {}
        rows = con.execute(
            "select org_level, org_code, period_start, score, grade, rank_in_tier, "
            "rank_in_siblings, profile_name from marts.fct_unit_scores"
        ).fetchall()
    return {(r[0], r[1], r[2]): Score(*r[3:]) for r in rows}


def read_table(database: Path, table: str) -> list[dict[str, Any]] | None:
    """All rows of a marts table as dicts, None when the database has no such table."""
    with duckdb.connect(str(database), read_only=True) as con:
        if not _has_table(con, None, "marts", table):
            return None
        cursor = con.execute(f"select * from marts.{ident(table)}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def read_parents(snapshot: Path) -> dict[tuple[str, str], str | None]:
    """Each unit's parent in the current org tree (centers: none, they are the group's)."""
    with duckdb.connect(str(snapshot), read_only=True) as con:
        rows = con.execute(
            "select org_level, org_code, parent_code from marts.dim_org where is_current"
        ).fetchall()
    return {(level, code): parent for level, code, parent in rows}


# --- the report: pure functions over the rows before and after --------------------------------


def relative_change(old: float | None, new: float | None) -> float | None:
    if old is None or new is None or old == 0:
        return None
    return (new - old) / abs(old)


def value_changed(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(new - old) > REL_TOLERANCE * max(abs(old), abs(new), 1e-300)


def month_words(month: date) -> str:
    return month.strftime("%b %Y")


def tier_report(
    metric: str, tier: str, old: Mapping[Key, Kpi], new: Mapping[Key, Kpi]
) -> dict[str, Any]:
    """One metric at one tier: unit-months whose value changes, the largest changes, the
    unit-months whose own (cascaded) target changes, and the status flips (a unit-month that
    appears or vanishes counts, its missing side null)."""
    keys = sorted(k for k in set(old) | set(new) if k[0] == metric and k[1] == tier)
    changed, flips, retargeted = [], [], []
    for key in keys:
        before, after = old.get(key), new.get(key)
        v0, v1 = before.value if before else None, after.value if after else None
        s0, s1 = before.status if before else None, after.status if after else None
        if value_changed(before.target if before else None, after.target if after else None):
            retargeted.append(key)
        if value_changed(v0, v1):
            changed.append(
                {
                    "unit": key[2],
                    "month": key[3].isoformat(),
                    "old": v0,
                    "new": v1,
                    "relative_change": relative_change(v0, v1),
                }
            )
        if s0 != s1:
            flips.append(
                {
                    "unit": key[2],
                    "month": key[3].isoformat(),
                    "old": s0,
                    "new": s1,
                    "text": f"{key[2]} {month_words(key[3])} {s0 or 'none'} → {s1 or 'none'}",
                }
            )
    largest = sorted(
        changed,
        key=lambda c: (
            -(abs(c["relative_change"]) if c["relative_change"] is not None else float("inf")),
            c["unit"],
            c["month"],
        ),
    )[:TOP_CHANGES]
    return {
        "unit_months": len(keys),
        "changed": len(changed),
        "largest": largest,
        "target_changes": len(retargeted),
        "status_flips": flips,
        # a unit's page shows its value, status and target
        "changed_units": sorted(
            {c["unit"] for c in changed} | {f["unit"] for f in flips} | {k[2] for k in retargeted}
        ),
    }


def ranks(
    rows: Mapping[Key, Kpi],
    metric: str,
    month: date,
    parents: Mapping[tuple[str, str], str | None],
    direction: str | None,
) -> dict[tuple[str, str], int]:
    """Each unit's rank among its siblings (same tier and parent) in one month, best first."""
    if direction not in ("higher_is_better", "lower_is_better"):
        return {}
    groups: dict[tuple[str, str | None], list[tuple[float, str]]] = {}
    for (name, level, code, start), kpi in rows.items():
        if name == metric and start == month and kpi.value is not None and level != "group":
            groups.setdefault((level, parents.get((level, code))), []).append((kpi.value, code))
    out = {}
    sign = -1 if direction == "higher_is_better" else 1
    for (level, _), units in groups.items():
        for rank, (_, code) in enumerate(sorted(units, key=lambda u: (sign * u[0], u[1])), 1):
            out[(level, code)] = rank
    return out


def rank_changes(
    metric: str,
    direction: str | None,
    old: Mapping[Key, Kpi],
    new: Mapping[Key, Kpi],
    parents: Mapping[tuple[str, str], str | None],
) -> list[dict[str, Any]]:
    """Units whose rank among their siblings moves, in the latest month (the one the dashboards
    rank)."""
    months = [k[3] for k in new if k[0] == metric] or [k[3] for k in old if k[0] == metric]
    if not months:
        return []
    month = max(months)
    before = ranks(old, metric, month, parents, direction)
    after = ranks(new, metric, month, parents, direction)
    return [
        {
            "tier": level,
            "unit": code,
            "parent": parents.get((level, code)),
            "month": month.isoformat(),
            "old_rank": before.get((level, code)),
            "new_rank": after.get((level, code)),
        }
        for level, code in sorted(set(before) | set(after))
        if before.get((level, code)) != after.get((level, code))
    ]


def all_values(metric: str, old: Mapping[Key, Kpi], new: Mapping[Key, Kpi]) -> list[dict]:
    """Every unit-month of a metric, published and previewed (for --json: a reviewer or a test
    can check any of them)."""
    rows = []
    for key in sorted(k for k in set(old) | set(new) if k[0] == metric):
        before, after = old.get(key), new.get(key)
        rows.append(
            {
                "tier": key[1],
                "unit": key[2],
                "month": key[3].isoformat(),
                "old": before.value if before else None,
                "new": after.value if after else None,
                "old_status": before.status if before else None,
                "new_status": after.status if after else None,
                "old_target": before.target if before else None,
                "new_target": after.target if after else None,
            }
        )
    return rows


def score_changed(old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(new - old) > SCORE_ABS_TOLERANCE


def score_report(old: Mapping[UnitMonth, Score], new: Mapping[UnitMonth, Score]) -> dict[str, Any]:
    """The composite scores the edit moves: per tier the unit-months whose score changes, the
    largest changes and the grade changes; the rank changes in the tier score in the latest
    month (the one the dashboards rank); and every unit-month's score before and after."""
    tiers: dict[str, dict[str, Any]] = {}
    values = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        s0, s1 = before.score if before else None, after.score if after else None
        g0, g1 = before.grade if before else None, after.grade if after else None
        tier = tiers.setdefault(
            key[0], {"unit_months": 0, "changed": 0, "largest": [], "grade_changes": []}
        )
        tier["unit_months"] += 1
        row = {"tier": key[0], "unit": key[1], "month": key[2].isoformat()}
        values.append({**row, "old": s0, "new": s1, "old_grade": g0, "new_grade": g1})
        if score_changed(s0, s1):
            tier["changed"] += 1
            delta = s1 - s0 if s0 is not None and s1 is not None else None
            tier["largest"].append({**row, "old": s0, "new": s1, "change": delta})
        if g0 != g1:
            text = f"{key[1]} {month_words(key[2])} grade {g0 or 'none'} → {g1 or 'none'}"
            tier["grade_changes"].append({**row, "old": g0, "new": g1, "text": text})
    for tier in tiers.values():
        tier["largest"] = sorted(
            tier["largest"],
            key=lambda c: (
                -(abs(c["change"]) if c["change"] is not None else float("inf")),
                c["unit"],
                c["month"],
            ),
        )[:TOP_CHANGES]
    months = [k[2] for k in new] or [k[2] for k in old]
    latest = max(months) if months else None
    rank_moves = [
        {
            "tier": level,
            "unit": code,
            "month": month.isoformat(),
            "old_rank": old[k].rank_in_tier if k in old else None,
            "new_rank": new[k].rank_in_tier if k in new else None,
        }
        for k in sorted(set(old) | set(new))
        for level, code, month in [k]
        if month == latest
        and (old[k].rank_in_tier if k in old else None)
        != (new[k].rank_in_tier if k in new else None)
    ]
    grade_changes = sum(len(t["grade_changes"]) for t in tiers.values())
    return {
        "tiers": {t: tiers[t] for t in TIERS if t in tiers},
        "grade_changes": grade_changes,
        "rank_changes": rank_moves,
        "values": values,
    }


def _keyed(rows: list[dict[str, Any]] | None, key: tuple[str, ...]) -> dict[tuple, dict]:
    return {tuple(r.get(k) for k in key): r for r in rows or []}


def table_changes(
    old: list[dict[str, Any]] | None,
    new: list[dict[str, Any]] | None,
    key: tuple[str, ...],
    ignore: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """Rows of a definition table (weight profiles, tree links) added, removed or changed
    between the snapshot and the working tree, with the columns that differ. Nothing when the
    snapshot predates the table (there is no published version to compare with)."""
    if old is None or new is None:
        return []
    before, after = _keyed(old, key), _keyed(new, key)
    out = []
    for k in sorted(set(before) | set(after), key=lambda t: tuple(str(x) for x in t)):
        b, a = before.get(k), after.get(k)
        name = " / ".join(str(x) for x in k if x is not None)
        if b is None or a is None:
            out.append({"key": name, "change": "added" if b is None else "removed"})
            continue
        columns = {
            c: {"old": _plain(b.get(c)), "new": _plain(a.get(c))}
            for c in sorted(set(a) | set(b))
            if c not in ignore and b.get(c) != a.get(c)
        }
        if columns:
            out.append({"key": name, "change": "changed", "columns": columns})
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# bookkeeping columns that move with every run or version, not with the definition
PROFILE_IGNORE = frozenset({"profile_version", "last_changed_at"})
TREE_IGNORE = frozenset({"invocation_id", "built_at"})


def build_report(
    changes: list[MetricChange],
    old: Mapping[Key, Kpi],
    new: Mapping[Key, Kpi],
    parents: Mapping[tuple[str, str], str | None],
    scores: Mapping[str, Any] | None = None,
    structure: Mapping[str, list] | None = None,
) -> dict[str, Any]:
    """The preview as plain data (what --json prints and the table and page show)."""
    metrics = []
    for change in changes:
        versions = {k.definition_version for key, k in new.items() if key[0] == change.metric_name}
        tiers = {tier: tier_report(change.metric_name, tier, old, new) for tier in TIERS}
        metrics.append(
            {
                "metric_name": change.metric_name,
                "parts": change.parts,
                "details": change.details,
                "old_version": change.old_version,
                "new_version": max(versions) if versions else change.old_version,
                "tiers": {t: r for t, r in tiers.items() if r["unit_months"]},
                "rank_changes": rank_changes(
                    change.metric_name, change.direction, old, new, parents
                ),
                "values": all_values(change.metric_name, old, new),
            }
        )
    flips = sum(len(t["status_flips"]) for m in metrics for t in m["tiers"].values())
    structure = structure or {}
    return {
        "metrics": metrics,
        "status_flips": flips,
        "profile_changes": list(structure.get("profiles", [])),
        "tree_changes": list(structure.get("tree", [])),
        "scores": dict(scores) if scores else None,
    }


def preview(project_dir: Path, snapshot: Path, work_dir: Path) -> dict[str, Any]:
    """The preview of the working tree's catalog against the published snapshot; `work_dir` is
    a scratch folder (the scratch database, dbt's target and logs)."""
    scratch = work_dir / "preview.duckdb"
    current = resolve_catalog(project_dir, work_dir, str(scratch))
    published, targets, cascades = read_published(snapshot)
    changes = metric_changes(current, published, targets, cascades)
    manifest = json.loads((work_dir / "target" / "manifest.json").read_text(encoding="utf-8"))
    edited = {c.metric_name: current[c.metric_name] for c in changes}
    full = needed_facts(manifest, edited) | {"dim_org"}
    if scratch.exists():  # created empty by dbt's connection while it resolved the catalog
        scratch.unlink()
    fill_scratch(scratch, snapshot, scratch_inputs(manifest), full, ["metric_definition_history"])
    if changes:
        run_models(project_dir, scratch, work_dir)
    names = [c.metric_name for c in changes]
    old_scores = read_scores(snapshot)
    scores = None
    if old_scores and _has_models(manifest, SCORE_MODELS):
        # the scores and the tree from the working tree: a profile or tree edit shows even when
        # no KPI definition changed
        merge_published_kpis(scratch, snapshot, names)
        run_models(project_dir, scratch, work_dir, SCORE_MODELS)
        scores = score_report(old_scores, read_scores(scratch))
    structure = {
        "profiles": table_changes(
            read_table(snapshot, "dim_score_profiles"),
            read_table(scratch, "dim_score_profiles"),
            PROFILE_KEY,
            PROFILE_IGNORE,
        ),
        "tree": table_changes(
            read_table(snapshot, "dim_indicator_tree"),
            read_table(scratch, "dim_indicator_tree"),
            TREE_KEY,
            TREE_IGNORE,
        ),
    }
    if not changes and not any(structure.values()):
        return build_report([], {}, {}, {})
    return build_report(
        changes,
        read_kpis(snapshot, names),
        read_kpis(scratch, names),
        read_parents(snapshot),
        scores,
        structure,
    )


def _has_models(manifest: Mapping[str, Any], names: Iterable[str]) -> bool:
    built = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    return set(names) <= built
