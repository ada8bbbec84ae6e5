"""Static dashboard site built from the published marts.

Reads only `marts.fct_kpi_values`, `marts.dim_metrics` and `marts.dim_org` (read-only), and
writes self-contained HTML pages plus one local copy of plotly.js in `assets/`: no page needs
network access. One call of `render_org_page` renders one org's page; today `build_site` renders
the group tier only.
"""

from __future__ import annotations

import html
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from pathlib import Path, PurePosixPath

import duckdb
import plotly.offline

from dashboards.figures import (
    Series,
    figure_html,
    month_range,
    sparkline_figure,
    trends_figure,
)
from dashboards.formatting import (
    MISSING,
    change_arrow,
    change_tone,
    display_number,
    format_change,
    format_month,
    format_value,
    is_missing,
)
from dashboards.templates import CSS, PAGE

log = logging.getLogger(__name__)

ASSETS_DIR = "assets"
PLOTLY_JS = "plotly.min.js"
GROUP_LEVEL = "group"
# Order of the dimensions on a page; metrics of an unknown dimension come last, under "Other".
DIMENSIONS: dict[str, str] = {
    "value": "Value",
    "efficiency": "Efficiency",
    "quality": "Quality",
    "risk_control": "Risk control",
    "service": "Service",
    "key_projects": "Key projects",
}
OTHER_DIMENSION = "Other"
TIER_TITLES: dict[str, str] = {
    "group": "Group",
    "subsidiary": "Subsidiary",
    "branch": "Branch",
    "sub_branch": "Sub-branch",
    "center": "Center",
}
NO_DATA_MESSAGE = "No data published yet."
BUILT_AT_FORMAT = "%Y-%m-%d %H:%M %Z"


@dataclass(frozen=True)
class SiteResult:
    """What one `build_site` run wrote."""

    pages: list[Path]
    bytes: int  # total size of the pages written (assets excluded)
    seconds: float
    assets_written: list[Path] = field(default_factory=list)  # empty when already up to date


@dataclass(frozen=True)
class MetricInfo:
    """A metric's display metadata from `marts.dim_metrics`."""

    metric_name: str
    label: str
    label_zh: str | None = None
    description: str | None = None
    unit: str | None = None
    direction: str = "none"
    dimension: str | None = None

    @classmethod
    def fallback(cls, metric_name: str) -> MetricInfo:
        """Metadata for a metric missing from dim_metrics: its name as label, no unit."""
        return cls(metric_name=metric_name, label=metric_name)


@dataclass(frozen=True)
class MetricSummary:
    """One tile: a metric's value in the page's latest month, the month before, and history."""

    info: MetricInfo
    periods: tuple[date, ...]
    values: tuple[float | None, ...]
    latest: float | None
    previous: float | None
    has_previous: bool  # a row exists for the previous month (its value may still be NULL)

    @property
    def delta(self) -> float | None:
        if not self.has_previous or is_missing(self.latest) or is_missing(self.previous):
            return None
        return self.latest - self.previous

    def series(self) -> Series:
        return Series(
            key=self.info.metric_name,
            title=self.info.label,
            unit=self.info.unit,
            periods=self.periods,
            values=self.values,
        )


@dataclass(frozen=True)
class OrgPage:
    """Everything one org's page shows, independent of where it came from."""

    org_level: str
    org_code: str
    org_name: str
    latest_month: date | None
    metrics: tuple[MetricSummary, ...]
    built_at: datetime


# --- reading the marts ------------------------------------------------------------------------


def _text(value: object) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def load_metric_infos(con: duckdb.DuckDBPyConnection) -> dict[str, MetricInfo]:
    """Display metadata for every metric in `marts.dim_metrics`, by metric_name."""
    rows = con.execute(
        """
        select metric_name, label, label_zh, description, unit, direction, dimension
        from marts.dim_metrics
        """
    ).fetchall()
    return {
        name: MetricInfo(
            metric_name=name,
            label=_text(label) or name,
            label_zh=_text(label_zh),
            description=_text(description),
            unit=_text(unit),
            direction=_text(direction) or "none",
            dimension=_text(dimension),
        )
        for name, label, label_zh, description, unit, direction, dimension in rows
    }


def load_org_name(con: duckdb.DuckDBPyConnection, org_level: str, org_code: str) -> str | None:
    """The current name of an org from `marts.dim_org` (the row with valid_to null)."""
    row = con.execute(
        """
        select org_name
        from marts.dim_org
        where org_code = ? and org_level = ? and valid_to is null
        order by valid_from desc
        limit 1
        """,
        [org_code, org_level],
    ).fetchone()
    return _text(row[0]) if row else None


def load_org_values(
    con: duckdb.DuckDBPyConnection, org_level: str, org_code: str
) -> list[tuple[str, date, float | None]]:
    """(metric_name, period_start, value) rows of one org, ordered by metric and month."""
    return con.execute(
        """
        select metric_name, period_start, value
        from marts.fct_kpi_values
        where org_level = ? and org_code = ?
        order by metric_name, period_start
        """,
        [org_level, org_code],
    ).fetchall()


def find_group_code(con: duckdb.DuckDBPyConnection) -> str | None:
    """The group's org_code: the one with published values, else the current one in dim_org."""
    row = con.execute(
        "select min(org_code) from marts.fct_kpi_values where org_level = ?", [GROUP_LEVEL]
    ).fetchone()
    if row and row[0] is not None:
        return str(row[0])
    row = con.execute(
        """
        select min(org_code) from marts.dim_org where org_level = ? and valid_to is null
        """,
        [GROUP_LEVEL],
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


# --- shaping the page -------------------------------------------------------------------------


def previous_month(period: date) -> date:
    """First day of the month before `period`'s month."""
    if period.month == 1:
        return date(period.year - 1, 12, 1)
    return date(period.year, period.month - 1, 1)


def _dimension_rank(info: MetricInfo) -> int:
    order = list(DIMENSIONS)
    return order.index(info.dimension) if info.dimension in DIMENSIONS else len(order)


def summarise_metrics(
    rows: Iterable[tuple[str, date, float | None]], infos: dict[str, MetricInfo]
) -> tuple[date | None, tuple[MetricSummary, ...]]:
    """The page's latest month and one summary per metric, in dimension then label order.

    Every tile compares the same two months: the latest month with any row for this org, and
    the calendar month before it. A metric without a row in a month shows "–" for it.
    """
    by_metric: dict[str, dict[date, float | None]] = {}
    for metric_name, period, value in rows:
        by_metric.setdefault(metric_name, {})[period] = None if is_missing(value) else value
    if not by_metric:
        return None, ()
    latest_month = max(max(history) for history in by_metric.values())
    prior_month = previous_month(latest_month)
    summaries = []
    for metric_name, history in by_metric.items():
        periods = tuple(sorted(history))
        summaries.append(
            MetricSummary(
                info=infos.get(metric_name) or MetricInfo.fallback(metric_name),
                periods=periods,
                values=tuple(history[p] for p in periods),
                latest=history.get(latest_month),
                previous=history.get(prior_month),
                has_previous=prior_month in history,
            )
        )
    summaries.sort(
        key=lambda s: (_dimension_rank(s.info), s.info.label.casefold(), s.info.metric_name)
    )
    return latest_month, tuple(summaries)


# --- rendering --------------------------------------------------------------------------------


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "metric"


def render_compare(summary: MetricSummary, latest_month: date) -> str:
    """The change badge and the previous month's value, or a note when there is none."""
    info = summary.info
    prior = format_month(previous_month(latest_month))
    if not summary.has_previous:
        return f'<p class="tile__compare">No value for {_esc(prior)}</p>'
    previous = f"<span>{_esc(prior)}: {_esc(format_value(summary.previous, info.unit))}</span>"
    delta = summary.delta
    if delta is None:
        return f'<p class="tile__compare">{previous}</p>'
    shown = display_number(delta, info.unit)
    tone = change_tone(shown, info.direction)
    badge = (
        f'<span class="change change--{tone}" title="Change vs {_esc(prior)}">'
        f"{change_arrow(shown)} {_esc(format_change(delta, info.unit))}</span>"
    )
    return f'<p class="tile__compare">{badge}{previous}</p>'


def render_tile(
    summary: MetricSummary, latest_month: date, index: int, x_range: list[str] | None = None
) -> str:
    """One metric tile: label, latest value, change vs the previous month, sparkline."""
    info = summary.info
    value = format_value(summary.latest, info.unit)
    value_class = "tile__value tile__value--missing" if value == MISSING else "tile__value"
    tooltip = f' title="{_esc(info.description)}"' if info.description else ""
    spark = figure_html(
        sparkline_figure(summary.series(), x_range), f"spark-{index}-{_slug(info.metric_name)}"
    )
    return (
        f'<article class="tile" data-metric="{_esc(info.metric_name)}"{tooltip}>\n'
        f'  <h3 class="tile__label" title="{_esc(info.label)}">{_esc(info.label)}</h3>\n'
        f'  <p class="tile__label-zh">{_esc(info.label_zh or "")}</p>\n'
        f'  <p class="{value_class}">{_esc(value)}</p>\n'
        f"  {render_compare(summary, latest_month)}\n"
        f'  <div class="tile__spark">{spark}</div>\n'
        "</article>"
    )


def _dimension_title(summary: MetricSummary) -> str:
    return DIMENSIONS.get(summary.info.dimension or "", OTHER_DIMENSION)


def render_tiles(metrics: Sequence[MetricSummary], latest_month: date) -> str:
    """Tiles in one section per dimension, keeping the order of `metrics`."""
    x_range = month_range(sorted({p for m in metrics for p in m.periods}))
    indexed = enumerate(metrics)  # the index keeps every figure's div id unique on the page
    sections = []
    for title, group in groupby(indexed, key=lambda item: _dimension_title(item[1])):
        tiles = [render_tile(summary, latest_month, i, x_range) for i, summary in group]
        grid = "\n".join(tiles)
        sections.append(
            f'<section class="dimension" data-dimension="{_esc(title)}">\n'
            f'<h2 class="dimension__title">{_esc(title)} '
            f'<span class="dimension__count">· {len(tiles)}</span></h2>\n'
            f'<div class="tiles">\n{grid}\n</div>\n</section>'
        )
    return "\n".join(sections)


def render_trends(metrics: Sequence[MetricSummary]) -> str:
    """The panel with every metric's trend as small multiples."""
    fig = trends_figure([m.series() for m in metrics])
    return (
        '<section class="panel">\n'
        '<h2 class="panel__title">Trends: all metrics</h2>\n'
        '<p class="panel__note">Monthly values; each panel has its own scale. '
        "Gaps are months without a published value.</p>\n"
        f"{figure_html(fig, 'trends-all')}\n</section>"
    )


def render_page(page: OrgPage, assets_href: str = ASSETS_DIR) -> str:
    """The full HTML of one org's page. Pure: everything it shows is in `page`."""
    tier = TIER_TITLES.get(page.org_level, page.org_level.replace("_", " ").title())
    if page.latest_month is None or not page.metrics:
        body = f'<div class="empty">{_esc(NO_DATA_MESSAGE)}</div>'
        head_scripts = ""
        latest = MISSING
    else:
        body = render_tiles(page.metrics, page.latest_month) + "\n" + render_trends(page.metrics)
        head_scripts = f'<script src="{_esc(assets_href)}/{PLOTLY_JS}"></script>'
        latest = format_month(page.latest_month)
    return PAGE.substitute(
        title=_esc(f"{page.org_name} · {tier} KPIs"),
        css=CSS,
        head_scripts=head_scripts,
        tier=_esc(f"{tier} · operations KPIs"),
        org_name=_esc(page.org_name),
        latest_month=_esc(latest),
        metric_count=len(page.metrics),
        built_at=_esc(page.built_at.strftime(BUILT_AT_FORMAT).strip()),
        body=body,
    )


def page_relpath(org_level: str, org_code: str) -> PurePosixPath:
    """Where an org's page lives in the site: the group is the index, other tiers in folders."""
    if org_level == GROUP_LEVEL:
        return PurePosixPath("index.html")
    return PurePosixPath(org_level) / f"{_slug(org_code)}.html"


def assets_href_for(relpath: PurePosixPath) -> str:
    """Relative link from a page to the assets folder, so the site works from any location."""
    depth = len(relpath.parts) - 1
    return "/".join([".."] * depth + [ASSETS_DIR])


def render_org_page(
    con: duckdb.DuckDBPyConnection,
    org_level: str,
    org_code: str,
    *,
    built_at: datetime,
    infos: dict[str, MetricInfo] | None = None,
) -> str:
    """Read one org's values from the marts and render its page.

    `infos` can be passed in to read `dim_metrics` once when rendering many orgs.
    """
    infos = load_metric_infos(con) if infos is None else infos
    latest_month, metrics = summarise_metrics(load_org_values(con, org_level, org_code), infos)
    org_name = (
        load_org_name(con, org_level, org_code) or org_code or TIER_TITLES.get(org_level, org_level)
    )
    page = OrgPage(
        org_level=org_level,
        org_code=org_code,
        org_name=org_name,
        latest_month=latest_month,
        metrics=metrics,
        built_at=built_at,
    )
    return render_page(page, assets_href_for(page_relpath(org_level, org_code)))


# --- writing ----------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    # Replace in one step, so a web server never serves a half-written page.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` unless the file already holds exactly it; True when written."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    _write_atomic(path, data)
    return True


def write_plotlyjs(site_dir: Path) -> Path | None:
    """Copy plotly.js from the installed plotly package into assets/; the path if written."""
    path = site_dir / ASSETS_DIR / PLOTLY_JS
    written = write_if_changed(path, plotly.offline.get_plotlyjs().encode("utf-8"))
    return path if written else None


def build_site(warehouse: Path, site_dir: Path, *, built_at: datetime | None = None) -> SiteResult:
    """Build the dashboard site from the warehouse's marts into `site_dir`.

    Today: the group page (`index.html`) and `assets/plotly.min.js`.
    """
    started = time.perf_counter()
    built_at = built_at or datetime.now().astimezone()
    site_dir.mkdir(parents=True, exist_ok=True)
    asset = write_plotlyjs(site_dir)
    pages: list[Path] = []
    total = 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        group_code = find_group_code(con) or ""
        html_text = render_org_page(con, GROUP_LEVEL, group_code, built_at=built_at)
    finally:
        con.close()
    page_path = site_dir / page_relpath(GROUP_LEVEL, group_code)
    data = html_text.encode("utf-8")
    _write_atomic(page_path, data)
    pages.append(page_path)
    total += len(data)
    seconds = time.perf_counter() - started
    log.info("built %d dashboard page(s), %d bytes, in %.2fs", len(pages), total, seconds)
    return SiteResult(
        pages=pages,
        bytes=total,
        seconds=seconds,
        assets_written=[asset] if asset else [],
    )
