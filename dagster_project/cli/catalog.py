"""`opsvalue catalog`: list the governed metrics, show one metric's card and history, lint; the
weight profiles (`catalog profiles`) are in cli/catalog_profiles.py."""

from __future__ import annotations

import argparse
import difflib
import json
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table
from rich.tree import Tree as RichTree

from dagster_project.cli.catalog_profiles import add_profiles_parser
from dagster_project.core.faults import check_published_snapshot
from dagster_project.core.settings import get_settings
from dagster_project.defs.transform import definition_history
from dagster_project.defs.transform.catalog import (
    DIMENSIONS,
    LintError,
    Metric,
    lint_change_notes,
    lint_project,
    load_manifest,
    metrics_from_manifest,
    resolve_catalog,
)
from dagster_project.defs.transform.tree import Link, Tree, build_tree, lint_tree

# a wide console when piped: a catalog table is read, not wrapped at 80 columns
OUT = Console(soft_wrap=True, width=None if Console().is_terminal else 200)
ERR = Console(stderr=True)


def _metrics() -> dict[str, Metric]:
    from dagster_project.defs.transform.project import ensure_manifest

    settings = get_settings()
    ensure_manifest()
    return metrics_from_manifest(load_manifest(settings.dbt_project_dir))


def _published(sql: str, params: list[Any], named: bool = False) -> list[Any]:
    """Rows from the warehouse's catalog tables (dicts when `named`), or none before the first
    build."""
    path = get_settings().warehouse_path
    # damaged: a fault (what to do), rather than a card that shows no history
    check_published_snapshot(path)
    if not path.exists():
        return []
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            cursor = con.execute(sql, params)
            rows = cursor.fetchall()
            if named:
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in rows]
            return rows
    except duckdb.CatalogException:  # the catalog tables are not built yet
        return []


def cmd_list(args: argparse.Namespace) -> int:
    metrics = [m for m in _metrics().values() if args.all or m.is_kpi]
    if args.owner:
        metrics = [m for m in metrics if m.group == args.owner]
    if args.dimension:
        metrics = [m for m in metrics if m.meta.get("dimension") == args.dimension]
    versions = dict(
        _published("select metric_name, definition_version from marts.dim_metric_catalog", [])
    )
    rows = [{**m.row(), "definition_version": versions.get(m.name)} for m in metrics]
    rows.sort(key=lambda r: (r["owner"] or "", r["dimension"] or "", r["metric_name"]))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    table = Table(title=f"{len(rows)} governed metrics")
    for column in ("metric", "label", "标签", "owner", "dimension", "unit", "direction", "v"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(
            r["metric_name"],
            r["label"],
            r["label_zh"] or "",
            r["owner"] or "",
            r["dimension"] or "",
            r["unit"] or "",
            r["direction"] or "",
            str(r["definition_version"] or "–"),
        )
    OUT.print(table)
    return 0


def _history(metric_name: str) -> list[dict[str, Any]]:
    """A metric's published versions with their change notes (none before notes existed)."""
    rows = _published(
        "select * from marts.metric_definition_history where metric_name = ? "
        "order by definition_version",
        [metric_name],
        named=True,
    )
    return [
        {
            "version": row["definition_version"],
            "changed_at": str(row["changed_at"]),
            "change": row["change_summary"],
            "why": row.get("change_reason"),
            "requested_by": row.get("change_requested_by"),
            "approved_by": row.get("change_approved_by"),
        }
        for row in rows
    ]


def cmd_show(args: argparse.Namespace) -> int:
    metrics = _metrics()
    metric = metrics.get(args.metric)
    if metric is None:
        close = difflib.get_close_matches(args.metric, list(metrics), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        ERR.print(f"[red]no metric named {args.metric!r}[/]{hint}: see `opsvalue catalog`")
        return 2
    card = metric.row()
    card.update(
        {
            "description": metric.description,
            "owner_name": metric.owner_name,
            "is_kpi": metric.is_kpi,
            "semantic_definition": {"type": metric.type, "type_params": metric.type_params},
            "history": _history(metric.name),
        }
    )
    if args.json:
        print(json.dumps(card, ensure_ascii=False, indent=2, default=str))
        return 0
    OUT.print(f"[bold]{metric.name}[/] — {metric.label} / {card['label_zh'] or ''}")
    for key in (
        "description",
        "definition",
        "formula",
        "owner",
        "owner_name",
        "owner_email",
        "dimension",
        "unit",
        "direction",
        "rollup",
        "org_attribute",
        "source_systems",
        "source_columns",
        "targets",
        "file",
    ):
        OUT.print(f"  {key:<15} {card.get(key)}")
    OUT.print("  semantic layer  " + json.dumps(card["semantic_definition"], ensure_ascii=False))
    OUT.print("  history:")
    for h in card["history"] or [{"version": "–", "changed_at": "not built yet", "change": ""}]:
        OUT.print(f"    v{h['version']}  {h['changed_at']}  {h['change']}")
        if h.get("why"):
            OUT.print(
                f"         why: {h['why']} (requested by {h['requested_by']}, "
                f"approved by {h['approved_by']})"
            )
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    project_dir = Path(args.project_dir) if args.project_dir else get_settings().dbt_project_dir
    errors = lint_project(project_dir, extra_checks=(lint_tree,))
    for error in errors:
        ERR.print(f"[red]✗[/] {error}")
    if errors:
        ERR.print(f"[red]{len(errors)} catalog problem(s)[/] in {project_dir}")
        return 1
    metrics = metrics_from_manifest(load_manifest(project_dir))
    note_errors = _lint_change_notes(project_dir, metrics)
    for error in note_errors:
        ERR.print(f"[red]✗[/] {error}")
    if note_errors:
        ERR.print(f"[red]{len(note_errors)} definition change(s) without a change note[/]")
        return 1
    kpis = [m for m in metrics.values() if m.is_kpi]
    owners = {m.group for m in kpis}
    dims = {m.meta.get("dimension") for m in kpis}
    OUT.print(
        f"[green]catalog OK[/]: {len(kpis)} KPIs ({len(metrics)} metrics) from {len(owners)} "
        f"owners across {len(dims)} of {len(DIMENSIONS)} dimensions"
    )
    return 0


def _link_text(link: Link, metrics: dict[str, Metric]) -> str:
    metric = metrics.get(link.child)
    label = metric.label if metric else link.child
    if link.link_type == "root" or link.child_kind == "dimension":
        return f"[bold]{link.child}[/]"
    if link.link_type == "hierarchy":
        return f"[bold]{link.child}[/] — {label}"
    if link.link_type == "formula":
        part = ", filtered" if link.is_filtered else ""
        return f"[cyan]= {link.input_role}{part}[/] {link.child} — {label}"
    arrow = "↑" if link.direction == "increases" else "↓"
    return f"[magenta]driver {arrow}[/] {link.child} — {label}"


def tree_outline(tree: Tree, metrics: dict[str, Metric]) -> RichTree:
    """Goals -> dimensions -> KPIs -> their formula inputs and drivers, as one rich tree."""
    outline = RichTree(f"indicator tree ({tree.file})")

    def add(branch: RichTree, link: Link, path: tuple[str, ...]) -> None:
        node = branch.add(_link_text(link, metrics))
        if link.child in path:  # the lint rejects cycles; never loop on one anyway
            return
        for child in tree.children(link.child):
            add(node, child, (*path, link.child))

    for root in [link for link in tree.links if link.link_type == "root"]:
        add(outline, root, ())
    return outline


def cmd_tree(args: argparse.Namespace) -> int:
    from dagster_project.defs.transform.project import ensure_manifest

    ensure_manifest()
    manifest = load_manifest(get_settings().dbt_project_dir)
    tree = build_tree(manifest)
    if args.json:
        print(json.dumps([vars(link) for link in tree.links], ensure_ascii=False, indent=2))
        return 0
    OUT.print(tree_outline(tree, metrics_from_manifest(manifest)))
    return 0


def published_history() -> dict[str, dict[str, Any]]:
    """The latest published version of every metric (the snapshot's history), or none."""
    path = get_settings().warehouse_path
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        return definition_history.latest_versions(con)


def _lint_change_notes(project_dir: Path, metrics: dict[str, Metric]) -> list[LintError]:
    """A definition changed against the published one needs a new change note."""
    published = published_history()
    if not published:  # nothing published yet: every definition is a first version
        return []
    current = resolve_catalog(project_dir)
    return lint_change_notes(current, published, {n: m.file for n, m in metrics.items()})


def add_catalog_parser(sub: argparse._SubParsersAction) -> None:
    catalog = sub.add_parser("catalog", help="the governed metric catalog: list, show, tree, lint")
    catalog.add_argument("--owner", help="only this data owner's metrics (dbt group)")
    catalog.add_argument("--dimension", choices=DIMENSIONS, help="only this dimension")
    catalog.add_argument("--all", action="store_true", help="include building-block volumes")
    catalog.add_argument("--json", action="store_true", help="JSON instead of a table")
    catalog.set_defaults(func=cmd_list)
    actions = catalog.add_subparsers(dest="action")
    show = actions.add_parser("show", help="one metric's full definition and history")
    show.add_argument("metric")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    tree = actions.add_parser("tree", help="the indicator tree: goals, dimensions, KPIs, drivers")
    tree.add_argument("--json", action="store_true", help="the links as JSON")
    tree.set_defaults(func=cmd_tree)
    lint = actions.add_parser("lint", help="reject catalog faults (exit 1)")
    lint.add_argument("--project-dir", help="dbt project folder (default: the project's dbt/)")
    lint.set_defaults(func=cmd_lint)
    add_profiles_parser(actions)

    from dagster_project.cli.preview import add_preview_parser

    add_preview_parser(actions)
