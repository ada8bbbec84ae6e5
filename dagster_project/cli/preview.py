"""`opsvalue catalog preview`: what the working tree's catalog would publish, before it does.

Exit 0 when no KPI status flips, 1 when some do (a metrics repository's CI can then ask for
sign-off), 2 when the preview cannot be made.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dagster_project.core.settings import get_settings

OUT = Console(soft_wrap=True, width=None if Console().is_terminal else 200)
ERR = Console(stderr=True)


def changed_pages(report: dict[str, Any]) -> list[str]:
    """The dashboard pages whose numbers or statuses the change moves, and the catalog page
    (new version or targets)."""
    from dagster_project.defs.transform.preview import score_changed
    from dashboards.site import page_relpath

    pages = {"catalog.html"} if report["metrics"] else set()
    for metric in report["metrics"]:
        for tier, result in metric["tiers"].items():
            pages |= {str(page_relpath(tier, unit)) for unit in result["changed_units"]}
    # a unit whose composite score or grade moves: its page shows the scorecard
    for v in (report.get("scores") or {}).get("values", []):
        if score_changed(v["old"], v["new"]) or v["old_grade"] != v["new_grade"]:
            pages.add(str(page_relpath(v["tier"], v["unit"])))
    return sorted(pages)


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def print_structure(report: dict[str, Any]) -> None:
    """Weight-profile and indicator-tree links that differ from the published ones."""
    for title, changes in (
        ("weight profiles", report.get("profile_changes") or []),
        ("indicator tree links", report.get("tree_changes") or []),
    ):
        if changes:
            OUT.print(f"[bold]{title}[/] changed:")
        for c in changes:
            columns = "; ".join(
                f"{k}: {v['old']!r} → {v['new']!r}" for k, v in (c.get("columns") or {}).items()
            )
            OUT.print(f"  {c['key']}: {c['change']}" + (f" ({columns})" if columns else ""))


def print_scores(scores: dict[str, Any] | None) -> None:
    """Composite score and grade changes per unit, and rank moves in the tier score."""
    if not scores:
        return
    table = Table(title="composite scores per tier")
    for column in ("tier", "unit-months", "score changed", "grade changes"):
        table.add_column(column)
    for tier, r in scores["tiers"].items():
        table.add_row(tier, str(r["unit_months"]), str(r["changed"]), str(len(r["grade_changes"])))
    OUT.print(table)
    largest = Table(title="largest score changes")
    for column in ("tier", "unit", "month", "old", "new", "change"):
        largest.add_column(column)
    for tier, r in scores["tiers"].items():
        for c in r["largest"]:
            change = f"{c['change']:+.2f}" if c["change"] is not None else "–"
            largest.add_row(tier, c["unit"], c["month"], _score(c["old"]), _score(c["new"]), change)
    OUT.print(largest)
    for tier, r in scores["tiers"].items():
        for g in r["grade_changes"]:
            OUT.print(f"  [yellow]grade[/] {tier}: {g['text']}")
    for c in scores["rank_changes"]:
        OUT.print(
            f"  tier rank {c['tier']} {c['unit']} ({c['month']}): {c['old_rank']} → {c['new_rank']}"
        )


def print_report(report: dict[str, Any]) -> None:
    if not report["metrics"] and not report.get("scores"):
        OUT.print("[green]no change[/]: the working tree publishes the published definitions")
        return
    print_structure(report)
    for metric in report["metrics"]:
        OUT.print(
            f"[bold]{metric['metric_name']}[/]: {', '.join(metric['parts'])} changed "
            f"(v{metric['old_version']} → v{metric['new_version']})"
        )
        for part, change in metric["details"].items():
            OUT.print(f"  {part}: {change.get('old')!r} → {change.get('new')!r}")
        tiers = Table(title="unit-months per tier")
        for column in ("tier", "unit-months", "changed", "targets changed", "status flips"):
            tiers.add_column(column)
        for tier, r in metric["tiers"].items():
            tiers.add_row(
                tier,
                str(r["unit_months"]),
                str(r["changed"]),
                str(r["target_changes"]),
                str(len(r["status_flips"])),
            )
        OUT.print(tiers)
        largest = Table(title="largest changes")
        for column in ("tier", "unit", "month", "old", "new", "relative"):
            largest.add_column(column)
        for tier, r in metric["tiers"].items():
            for c in r["largest"]:
                rel = c["relative_change"]
                largest.add_row(
                    tier,
                    c["unit"],
                    c["month"],
                    f"{c['old']:.6g}" if c["old"] is not None else "–",
                    f"{c['new']:.6g}" if c["new"] is not None else "–",
                    f"{rel:+.2%}" if rel is not None else "–",
                )
        OUT.print(largest)
        for tier, r in metric["tiers"].items():
            for flip in r["status_flips"]:
                OUT.print(f"  [yellow]flip[/] {tier}: {flip['text']}")
        for c in metric["rank_changes"]:
            OUT.print(
                f"  rank {c['tier']} {c['unit']} (under {c['parent']}, {c['month']}): "
                f"{c['old_rank']} → {c['new_rank']}"
            )
    print_scores(report.get("scores"))
    OUT.print(f"{report['status_flips']} status flip(s); pages that would change:")
    for page in report["pages"]:
        OUT.print(f"  {page}")


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def cmd_preview(args: argparse.Namespace) -> int:
    # imported here, not with the parser: the preview drives dbt through the transform concern,
    # whose import (dagster-dbt, Dagster) costs every other `opsvalue` command 3 s of start-up
    from dagster_project.defs.transform.preview import preview

    settings = get_settings()
    project_dir = Path(args.project_dir) if args.project_dir else settings.dbt_project_dir
    snapshot = settings.warehouse_path
    if not snapshot.is_file():
        ERR.print(f"[red]nothing published yet[/] ({snapshot}): there is nothing to compare with")
        return 2
    html_path = Path(args.html) if args.html else None
    site_dirs = (settings.site_dir, settings.site_dir.parent / f"{settings.site_dir.name}.versions")
    if html_path and any(_inside(html_path.parent, d) for d in site_dirs):
        ERR.print(f"[red]{html_path} is inside the published site[/]: write the report elsewhere")
        return 2
    with tempfile.TemporaryDirectory(prefix="opsvalue-preview-") as scratch:
        try:
            report = preview(project_dir, snapshot, Path(scratch))
        except RuntimeError as exc:
            ERR.print(f"[red]preview failed[/]: {exc}")
            return 2
    report["pages"] = changed_pages(report)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    else:
        print_report(report)
    if html_path:
        from dashboards.preview_page import write_preview_page

        write_preview_page(report, html_path)
        ERR.print(f"report written to {html_path}")
    return 1 if report["status_flips"] else 0


def add_preview_parser(actions: argparse._SubParsersAction) -> None:
    preview_parser = actions.add_parser(
        "preview", help="what the working tree's catalog would publish (exit 1: statuses flip)"
    )
    preview_parser.add_argument("--project-dir", help="dbt project folder (default: dbt/)")
    preview_parser.add_argument("--json", action="store_true", help="JSON instead of tables")
    preview_parser.add_argument("--html", help="also write an HTML report page to this path")
    preview_parser.set_defaults(func=cmd_preview)
