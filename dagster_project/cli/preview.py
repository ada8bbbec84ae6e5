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
from dagster_project.defs.transform.preview import preview

OUT = Console(soft_wrap=True, width=None if Console().is_terminal else 200)
ERR = Console(stderr=True)


def changed_pages(report: dict[str, Any]) -> list[str]:
    """The dashboard pages whose numbers or statuses the change moves, and the catalog page
    (new version or targets)."""
    from dashboards.site import page_relpath

    pages = {"catalog.html"} if report["metrics"] else set()
    for metric in report["metrics"]:
        for tier, result in metric["tiers"].items():
            pages |= {str(page_relpath(tier, unit)) for unit in result["changed_units"]}
    return sorted(pages)


def print_report(report: dict[str, Any]) -> None:
    if not report["metrics"]:
        OUT.print("[green]no change[/]: the working tree publishes the published definitions")
        return
    for metric in report["metrics"]:
        OUT.print(
            f"[bold]{metric['metric_name']}[/]: {', '.join(metric['parts'])} changed "
            f"(v{metric['old_version']} → v{metric['new_version']})"
        )
        for part, change in metric["details"].items():
            OUT.print(f"  {part}: {change.get('old')!r} → {change.get('new')!r}")
        tiers = Table(title="unit-months per tier")
        for column in ("tier", "unit-months", "changed", "status flips"):
            tiers.add_column(column)
        for tier, r in metric["tiers"].items():
            tiers.add_row(
                tier, str(r["unit_months"]), str(r["changed"]), str(len(r["status_flips"]))
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
    OUT.print(f"{report['status_flips']} status flip(s); pages that would change:")
    for page in report["pages"]:
        OUT.print(f"  {page}")


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def cmd_preview(args: argparse.Namespace) -> int:
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
