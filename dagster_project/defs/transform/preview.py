"""What a catalog edit would publish, computed before it is published (`opsvalue catalog preview`).

The working tree's definitions (resolved by dbt, catalog.resolve_catalog) are compared with the
published ones (the snapshot's metric_definition_history and dim_metric_targets). The metrics
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
from dagster_project.defs.transform import definition_history
from dagster_project.defs.transform.catalog import ResolvedMetric, resolve_catalog
from dagster_project.defs.transform.planning import FULL_REFRESH_ENV, NEW_BATCHES_ENV
from dagster_project.defs.transform.project import dbt_executable

TIERS = ("group", "subsidiary", "branch", "sub_branch", "center")
# The models that turn the definitions into KPI rows: run in the scratch database.
KPI_MODELS = (
    "int_kpi_months_observed_by_batch",
    "int_kpi_months_fingerprinted",
    "metric_definition_history",
    "dim_metric_targets",
    "dim_metric_catalog",
    "fct_kpi_values",
)
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


@dataclass(frozen=True)
class Kpi:
    value: float | None
    status: str | None
    target: float | None
    definition_version: int | None


@dataclass
class MetricChange:
    """One metric whose published definition or targets differ from the working tree's."""

    metric_name: str
    parts: list[str]  # measures, filters, formula, sources, targets
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
) -> list[MetricChange]:
    """The KPIs published before whose resolved definition or targets differ now."""
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
        if parts:
            changes.append(
                MetricChange(
                    name, parts, before.get("definition_version"), metric.direction, details
                )
            )
    return changes


def read_published(snapshot: Path) -> tuple[dict, dict]:
    """The snapshot's latest definition per metric, and its targets per metric and tier."""
    with duckdb.connect(str(snapshot), read_only=True) as con:
        history = definition_history.latest_versions(con)
        targets: dict[str, dict[str, tuple[float, float]]] = {}
        for name, level, target, red in con.execute(
            "select metric_name, org_level, target, red_threshold from marts.dim_metric_targets"
        ).fetchall():
            if target is not None and red is not None:
                targets.setdefault(name, {})[level] = (float(target), float(red))
    return history, targets


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
        con.execute(f"attach {literal(str(snapshot))} as published (read_only)")
        con.execute("create schema if not exists marts")
        for name in sorted(set(inputs) | set(keep)):
            limit = "" if name in full or name in keep else " limit 0"
            con.execute(
                f"create table marts.{ident(name)} as "
                f"select * from published.marts.{ident(name)}{limit}"
            )
        con.execute("detach published")


def run_kpi_models(project_dir: Path, scratch: Path, work_dir: Path) -> None:
    """dbt, with the working tree's project, runs the KPI models from scratch in `scratch`."""
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
        + ["--select", " ".join(KPI_MODELS)],
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
    """One metric at one tier: unit-months whose value changes, the largest changes, and the
    status flips (a unit-month that appears or vanishes counts, its missing side null)."""
    keys = sorted(k for k in set(old) | set(new) if k[0] == metric and k[1] == tier)
    changed, flips = [], []
    for key in keys:
        before, after = old.get(key), new.get(key)
        v0, v1 = before.value if before else None, after.value if after else None
        s0, s1 = before.status if before else None, after.status if after else None
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
        "status_flips": flips,
        "changed_units": sorted({c["unit"] for c in changed} | {f["unit"] for f in flips}),
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
            }
        )
    return rows


def build_report(
    changes: list[MetricChange],
    old: Mapping[Key, Kpi],
    new: Mapping[Key, Kpi],
    parents: Mapping[tuple[str, str], str | None],
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
    return {"metrics": metrics, "status_flips": flips}


def preview(project_dir: Path, snapshot: Path, work_dir: Path) -> dict[str, Any]:
    """The preview of the working tree's catalog against the published snapshot; `work_dir` is
    a scratch folder (the scratch database, dbt's target and logs)."""
    scratch = work_dir / "preview.duckdb"
    current = resolve_catalog(project_dir, work_dir, str(scratch))
    published, targets = read_published(snapshot)
    changes = metric_changes(current, published, targets)
    if not changes:
        return build_report([], {}, {}, {})
    manifest = json.loads((work_dir / "target" / "manifest.json").read_text(encoding="utf-8"))
    edited = {c.metric_name: current[c.metric_name] for c in changes}
    full = needed_facts(manifest, edited) | {"dim_org"}
    if scratch.exists():  # created empty by dbt's connection while it resolved the catalog
        scratch.unlink()
    fill_scratch(scratch, snapshot, scratch_inputs(manifest), full, ["metric_definition_history"])
    run_kpi_models(project_dir, scratch, work_dir)
    names = [c.metric_name for c in changes]
    return build_report(
        changes, read_kpis(snapshot, names), read_kpis(scratch, names), read_parents(snapshot)
    )
