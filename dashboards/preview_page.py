"""The HTML report of `opsvalue catalog preview`: one page in the site's style (its page shell,
site.css and site.js), written where the data owner asks, never into the site."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from dashboards.layout import (
    ASSETS_DIR,
    BUILT_AT_SLOT,
    HASH_SLOT,
    SITE_CSS_FILE,
    SITE_JS_FILE,
    UNITS_JS_FILE,
    esc,
    render_shell,
)
from dashboards.templates import static_bytes

PAGE = PurePosixPath("preview.html")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.6g}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2%}"


def _status(status: str | None) -> str:
    return f'<span class="status status--{esc(status or "none")}">{esc(status or "none")}</span>'


def _table(head: list[str], rows: list[list[str]], numeric: frozenset[int] = frozenset()) -> str:
    def cls(i: int, numeric_cls: str) -> str:
        return f' class="{numeric_cls}"' if i in numeric else ""

    cells = "".join(f"<th{cls(i, 'r')}>{esc(h)}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i, 'r num')}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    table = (
        f'<table class="grid-table"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'
    )
    return f'<div class="table-scroll">{table}</div>'


def render_metric(metric: Mapping[str, Any]) -> str:
    name = metric["metric_name"]
    parts = ", ".join(metric["parts"])
    versions = f"v{metric['old_version']} → v{metric['new_version']}"
    details = _table(
        ["part", "published", "working tree"],
        [[esc(k), esc(v.get("old")), esc(v.get("new"))] for k, v in metric["details"].items()],
    )
    tiers = _table(
        ["tier", "unit-months", "changed", "targets changed", "status flips"],
        [
            [
                esc(t),
                str(r["unit_months"]),
                str(r["changed"]),
                str(r["target_changes"]),
                str(len(r["status_flips"])),
            ]
            for t, r in metric["tiers"].items()
        ],
        frozenset({1, 2, 3, 4}),
    )
    largest = _table(
        ["tier", "unit", "month", "old", "new", "relative change"],
        [
            [
                esc(t),
                esc(c["unit"]),
                esc(c["month"]),
                _number(c["old"]),
                _number(c["new"]),
                _percent(c["relative_change"]),
            ]
            for t, r in metric["tiers"].items()
            for c in r["largest"]
        ],
        frozenset({3, 4, 5}),
    )
    flips = _table(
        ["tier", "unit", "month", "published", "after the change"],
        [
            [esc(t), esc(f["unit"]), esc(f["month"]), _status(f["old"]), _status(f["new"])]
            for t, r in metric["tiers"].items()
            for f in r["status_flips"]
        ],
    )
    ranks = _table(
        ["tier", "unit", "parent", "month", "rank before", "rank after"],
        [
            [
                esc(c["tier"]),
                esc(c["unit"]),
                esc(c["parent"] or "–"),
                esc(c["month"]),
                esc(c["old_rank"] or "–"),
                esc(c["new_rank"] or "–"),
            ]
            for c in metric["rank_changes"]
        ],
        frozenset({4, 5}),
    )
    return (
        f'<section class="panel metric-preview" data-metric="{esc(name)}">'
        f'<div class="panel__head"><h2 class="panel__title">{esc(name)}</h2>'
        f'<span class="muted">{esc(parts)} · {esc(versions)}</span></div>'
        f'<p class="sub-title">What changed</p>{details}'
        f'<p class="sub-title">Per tier</p>{tiers}'
        f'<p class="sub-title">Largest changes</p>{largest}'
        f'<p class="sub-title">Status flips</p>{flips}'
        f'<p class="sub-title">Rank changes among siblings</p>{ranks}</section>'
    )


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def render_scores(scores: Mapping[str, Any] | None) -> str:
    """Composite score and grade changes per unit, and the rank moves in the tier score."""
    if not scores:
        return ""
    tiers = _table(
        ["tier", "unit-months", "score changed", "grade changes"],
        [
            [esc(t), str(r["unit_months"]), str(r["changed"]), str(len(r["grade_changes"]))]
            for t, r in scores["tiers"].items()
        ],
        frozenset({1, 2, 3}),
    )
    largest = _table(
        ["tier", "unit", "month", "old score", "new score", "change"],
        [
            [
                esc(t),
                esc(c["unit"]),
                esc(c["month"]),
                _score(c["old"]),
                _score(c["new"]),
                "–" if c["change"] is None else f"{c['change']:+.2f}",
            ]
            for t, r in scores["tiers"].items()
            for c in r["largest"]
        ],
        frozenset({3, 4, 5}),
    )
    grades = _table(
        ["tier", "unit", "month", "published grade", "grade after the change"],
        [
            [esc(t), esc(g["unit"]), esc(g["month"]), esc(g["old"] or "–"), esc(g["new"] or "–")]
            for t, r in scores["tiers"].items()
            for g in r["grade_changes"]
        ],
    )
    ranks = _table(
        ["tier", "unit", "month", "tier rank before", "tier rank after"],
        [
            [
                esc(c["tier"]),
                esc(c["unit"]),
                esc(c["month"]),
                esc(c["old_rank"] or "–"),
                esc(c["new_rank"] or "–"),
            ]
            for c in scores["rank_changes"]
        ],
        frozenset({3, 4}),
    )
    return (
        '<section class="panel score-preview" id="score-preview">'
        '<div class="panel__head"><h2 class="panel__title">Composite scores</h2>'
        f'<span class="muted">{esc(scores["grade_changes"])} grade change(s)</span></div>'
        f'<p class="sub-title">Per tier</p>{tiers}'
        f'<p class="sub-title">Largest score changes</p>{largest}'
        f'<p class="sub-title">Grade changes</p>{grades}'
        f'<p class="sub-title">Rank changes in the tier score</p>{ranks}</section>'
    )


def render_structure(report: Mapping[str, Any]) -> str:
    """Weight-profile and indicator-tree links that differ from the published ones."""
    out = ""
    for title, key in (
        ("Weight profiles", "profile_changes"),
        ("Indicator tree links", "tree_changes"),
    ):
        changes = report.get(key) or []
        if not changes:
            continue
        rows = [
            [
                esc(c["key"]),
                esc(c["change"]),
                esc(
                    "; ".join(
                        f"{k}: {v['old']} → {v['new']}" for k, v in (c.get("columns") or {}).items()
                    )
                ),
            ]
            for c in changes
        ]
        out += (
            f'<section class="panel"><div class="panel__head"><h2 class="panel__title">{title}'
            f" changed</h2></div>{_table(['link', 'change', 'columns'], rows)}</section>"
        )
    return out


def render_preview_page(report: Mapping[str, Any]) -> str:
    """The whole report page."""
    flips = report["status_flips"]
    summary = (
        f"{len(report['metrics'])} metric(s) change; {flips} status flip(s); "
        f"{len(report.get('pages', []))} dashboard page(s) would change"
    )
    hero = (
        '<section class="hero"><div class="wrap hero__inner"><div class="hero__row"><div>'
        '<h1 class="hero__title">Catalog preview</h1>'
        f'<p class="muted" id="preview-summary">{esc(summary)}</p></div></div></div></section>'
    )
    pages = "".join(f"<li><code>{esc(p)}</code></li>" for p in report.get("pages", []))
    body = render_structure(report) + "".join(render_metric(m) for m in report["metrics"])
    body = (body + render_scores(report.get("scores"))) or (
        '<p class="empty">The working tree publishes the same definitions and targets.</p>'
    )
    body += (
        '<section class="panel"><div class="panel__head"><h2 class="panel__title">'
        f"Dashboard pages that would change</h2></div><ul>{pages}</ul></section>"
    )
    page = render_shell(
        path=PAGE,
        title="opsvalue · catalog preview",
        kind="preview",
        hero=hero,
        body=body,
        notices="",
        page_data=None,
        needs_plotly=False,
    )
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return page.replace(HASH_SLOT, "preview").replace(BUILT_AT_SLOT, now)


def write_preview_page(report: Mapping[str, Any], path: Path) -> Path:
    """The page at `path`, with the site's stylesheet and script in an assets folder beside it
    (the search box's unit list is empty: the report links to no unit page)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assets = path.parent / ASSETS_DIR
    assets.mkdir(exist_ok=True)
    for name in (SITE_CSS_FILE, SITE_JS_FILE):
        (assets / name).write_bytes(static_bytes(name))
    (assets / UNITS_JS_FILE).write_text("window.OPSVALUE_UNITS = [];\n", encoding="utf-8")
    path.write_text(render_preview_page(report), encoding="utf-8")
    return path
