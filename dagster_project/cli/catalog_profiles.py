"""`opsvalue catalog profiles`: the scorecards' weight profiles and the metrics' cascade rules."""

from __future__ import annotations

import argparse
import json
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from dagster_project.core.settings import get_settings
from dagster_project.defs.transform.catalog import Metric, load_manifest, metrics_from_manifest
from dagster_project.defs.transform.profile_lint import find_profiles

OUT = Console(soft_wrap=True, width=None if Console().is_terminal else 200)
ERR = Console(stderr=True)


def _metrics() -> dict[str, Metric]:
    from dagster_project.defs.transform.project import ensure_manifest

    ensure_manifest()
    return metrics_from_manifest(load_manifest(get_settings().dbt_project_dir))


def _published_versions() -> dict[str, int]:
    """Each profile's published version (none before the first build)."""
    path = get_settings().warehouse_path
    if not path.exists():
        return {}
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            rows = con.execute(
                "select profile_name, max(profile_version) from marts.dim_score_profiles "
                "group by profile_name"
            ).fetchall()
    except duckdb.Error:  # not built yet, or locked: the versions are only shown when known
        return {}
    return dict(rows)


def profile_rows(scorecards: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per profile, with its published version (none before the first build)."""
    versions = _published_versions()
    return [
        {
            "name": p.get("name"),
            "version": versions.get(p.get("name")),
            "label": p.get("label"),
            "tiers": p.get("tiers"),
            "unit_type": p.get("unit_type"),
            "stages": p.get("stages"),
            "min_base": p.get("min_base", 0),
            "kpis": p.get("kpis"),
            "bands": p.get("bands"),
        }
        for p in scorecards.get("profiles") or []
    ]


def cmd_profiles(args: argparse.Namespace) -> int:
    file, scorecards, errors = find_profiles(get_settings().dbt_project_dir)
    if file is None:
        for error in errors:
            ERR.print(f"[red]✗[/] {error}")
        return 1
    metrics = _metrics()
    cascades = {
        m.name: m.meta["target_cascade"] for m in metrics.values() if m.meta.get("target_cascade")
    }
    profiles = profile_rows(scorecards)
    if args.json:
        out = {
            "file": file,
            "stages": scorecards.get("stages"),
            "rank_stability": scorecards.get("rank_stability"),
            "profiles": profiles,
            "target_cascades": cascades,
        }
        print(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return 0
    stages = scorecards.get("stages") or {}
    by_year = ", ".join(f"{y}: {s}" for y, s in (stages.get("by_year") or {}).items())
    OUT.print(f"[bold]weight profiles[/] ({file})")
    OUT.print(f"  stage (the year's leading goal): {by_year}; other years {stages.get('default')}")
    for p in profiles:
        table = Table(
            title=f"{p['name']} v{p['version'] or '–'}: {p['label'] or ''} — "
            f"{', '.join(p['tiers'] or [])} ({p['unit_type']}), {', '.join(p['stages'] or [])}",
            title_justify="left",
        )
        for column in ("KPI", "weight", "method", "direction"):
            table.add_column(column, no_wrap=True)
        for kpi in p["kpis"] or []:
            metric = metrics.get(kpi.get("metric"))
            direction = metric.meta.get("direction") if metric else "?"
            table.add_row(kpi.get("metric"), f"{kpi.get('weight')}", kpi.get("method"), direction)
        OUT.print(table)
        bands = sorted(p["bands"] or [], key=lambda b: -(b.get("from") or 0))
        OUT.print(
            "  grades: "
            + ", ".join(f"{b.get('grade')} {b.get('from')}–{b.get('to')}" for b in bands)
            + f"; KPIs below a base of {p['min_base']} are left out"
        )
    OUT.print("[bold]target cascade rules[/] (other metrics with a target: inherit)")
    for name, rule in sorted(cascades.items()):
        OUT.print(f"  {name:<32} {json.dumps(rule, ensure_ascii=False)}")
    return 0


def add_profiles_parser(actions: argparse._SubParsersAction) -> None:
    profiles = actions.add_parser(
        "profiles", help="the scorecards' weight profiles and the targets' cascade rules"
    )
    profiles.add_argument("--json", action="store_true")
    profiles.set_defaults(func=cmd_profiles)
