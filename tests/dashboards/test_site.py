from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

import duckdb
import plotly.offline
import pytest

from dashboards import SiteResult, build_site
from dashboards.site import (
    NO_DATA_MESSAGE,
    MetricInfo,
    assets_href_for,
    page_relpath,
    previous_month,
    summarise_metrics,
)

BUILT_AT = datetime(2026, 4, 2, 7, 30, tzinfo=UTC)
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)

# metric_name, label, label_zh, unit, direction, dimension
METRICS = [
    (
        "claims_cycle_time_days",
        "Claims cycle time",
        "理赔周期",
        "days",
        "lower_is_better",
        "efficiency",
    ),
    (
        "service_level_20s",
        "Service level (20 s)",
        "20秒服务水平",
        "percent",
        "higher_is_better",
        "service",
    ),
    (
        "complaints_per_10k_policies",
        "Complaints per 10k policies",
        "万单投诉率",
        "per_10k",
        "lower_is_better",
        "quality",
    ),
    ("op_cost_cny", "Operating cost", "运营成本", "cny", "none", "value"),
]
# Group values per metric for Jan, Feb, Mar; None is a NULL value.
GROUP_VALUES = {
    "claims_cycle_time_days": [3.0, 2.7, 2.4],  # down 0.3 d: good
    "service_level_20s": [0.85, 0.881, 0.873],  # down 0.8 pp: bad
    "complaints_per_10k_policies": [0.5, None, 0.42],  # previous NULL: no change
    "op_cost_cny": [1_100_000.0, 1_200_000.0, 1_234_567.0],  # direction none: neutral
}
# Published for the group but absent from dim_metrics, and only for the latest month.
UNDESCRIBED_METRIC = "rpa_runs_total"
# Subsidiary values that must never appear on the group page.
SUBSIDIARY_VALUE = 0.5


def _create_marts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.fct_kpi_values (
            metric_name varchar, period_start date, org_level varchar, org_code varchar,
            numerator double, denominator double, value double
        )
        """
    )
    con.execute(
        """
        create table marts.dim_metrics (
            metric_name varchar, label varchar, label_zh varchar, description varchar,
            unit varchar, direction varchar, dimension varchar, owner varchar
        )
        """
    )
    con.execute(
        """
        create table marts.dim_org (
            org_code varchar, org_name varchar, org_level varchar, parent_code varchar,
            valid_from date, valid_to date, group_code varchar, subsidiary_code varchar,
            branch_code varchar, sub_branch_code varchar
        )
        """
    )
    con.executemany(
        "insert into marts.dim_metrics values (?, ?, ?, ?, ?, ?, ?, 'ops@example.com')",
        [(n, lbl, zh, f"{lbl}, monthly.", u, d, dim) for n, lbl, zh, u, d, dim in METRICS],
    )
    con.executemany(
        "insert into marts.dim_org values (?, ?, ?, ?, ?, ?, 'G001', ?, null, null)",
        [
            ("G001", "Old Group Name", "group", None, date(2020, 1, 1), date(2025, 1, 1), None),
            ("G001", "Harbour Insurance Group", "group", None, date(2025, 1, 1), None, None),
            ("S01", "Harbour Life", "subsidiary", "G001", date(2020, 1, 1), None, "S01"),
        ],
    )


def _insert_values(con: duckdb.DuckDBPyConnection) -> None:
    rows = []
    for metric, values in GROUP_VALUES.items():
        for period, value in zip((JAN, FEB, MAR), values, strict=True):
            rows.append((metric, period, "group", "G001", value))
            rows.append((metric, period, "subsidiary", "S01", SUBSIDIARY_VALUE))
    rows.append((UNDESCRIBED_METRIC, MAR, "group", "G001", 4321.0))
    con.executemany(
        "insert into marts.fct_kpi_values values (?, ?, ?, ?, null, null, ?)",
        rows,
    )


def _make_warehouse(path: Path, *, with_values: bool) -> Path:
    con = duckdb.connect(str(path))
    try:
        _create_marts(con)
        if with_values:
            _insert_values(con)
    finally:
        con.close()
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return _make_warehouse(tmp_path / "warehouse.duckdb", with_values=True)


@pytest.fixture
def empty_warehouse(tmp_path: Path) -> Path:
    return _make_warehouse(tmp_path / "empty.duckdb", with_values=False)


@pytest.fixture
def built(warehouse: Path, tmp_path: Path) -> tuple[SiteResult, str, Path]:
    site_dir = tmp_path / "site"
    result = build_site(warehouse, site_dir, built_at=BUILT_AT)
    return result, (site_dir / "index.html").read_text(encoding="utf-8"), site_dir


def _tile(page: str, metric_name: str) -> str:
    match = re.search(
        rf'<article class="tile" data-metric="{re.escape(metric_name)}".*?</article>', page, re.S
    )
    assert match, f"no tile for {metric_name}"
    return match.group(0)


def test_build_site_writes_index_and_reports_it(built: tuple[SiteResult, str, Path]) -> None:
    result, page, site_dir = built
    index = site_dir / "index.html"
    assert result.pages == [index]
    assert result.bytes == index.stat().st_size == len(page.encode("utf-8"))
    assert result.seconds > 0
    assert result.assets_written == [site_dir / "assets" / "plotly.min.js"]


def test_build_site_header_shows_current_group_name_month_and_build_time(
    built: tuple[SiteResult, str, Path],
) -> None:
    _, page, _ = built
    assert "Harbour Insurance Group" in page
    assert "Old Group Name" not in page
    assert '<dd class="latest-month">Mar 2026</dd>' in page
    assert "2026-04-02 07:30 UTC" in page


def test_build_site_shows_every_metric_label(built: tuple[SiteResult, str, Path]) -> None:
    _, page, _ = built
    for _, label, label_zh, *_ in METRICS:
        assert label in page
        assert label_zh in page


def test_build_site_shows_latest_values_formatted_by_unit(
    built: tuple[SiteResult, str, Path],
) -> None:
    _, page, _ = built
    expected = {
        "claims_cycle_time_days": "2.4 d",
        "service_level_20s": "87.3%",
        "complaints_per_10k_policies": "0.42 per 10k",
        "op_cost_cny": "¥1,234,567",
    }
    for metric, value in expected.items():
        assert f'<p class="tile__value">{value}</p>' in _tile(page, metric)


def test_build_site_uses_only_the_group_rows(built: tuple[SiteResult, str, Path]) -> None:
    _, page, _ = built
    assert "50.0%" not in page
    assert "Harbour Life" not in page


def test_build_site_colours_changes_by_direction(built: tuple[SiteResult, str, Path]) -> None:
    _, page, _ = built
    cycle = _tile(page, "claims_cycle_time_days")
    assert 'class="change change--good"' in cycle
    assert "▼ −0.3 d" in cycle
    assert "Feb 2026: 2.7 d" in cycle
    service = _tile(page, "service_level_20s")
    assert 'class="change change--bad"' in service
    assert "▼ −0.8 pp" in service
    cost = _tile(page, "op_cost_cny")
    assert 'class="change change--neutral"' in cost
    assert "▲ +¥34,567" in cost


def test_build_site_null_previous_value_shows_dash_and_no_change(
    built: tuple[SiteResult, str, Path],
) -> None:
    _, page, _ = built
    complaints = _tile(page, "complaints_per_10k_policies")
    assert "Feb 2026: –" in complaints
    assert "change--" not in complaints


def test_build_site_metric_missing_from_dim_metrics_uses_its_name(
    built: tuple[SiteResult, str, Path],
) -> None:
    _, page, _ = built
    tile = _tile(page, UNDESCRIBED_METRIC)
    assert f'class="tile__label" title="{UNDESCRIBED_METRIC}">{UNDESCRIBED_METRIC}</h3>' in tile
    # No unit: a plain number. Single month: no previous value and no change.
    assert '<p class="tile__value">4,321.00</p>' in tile
    assert "change--" not in tile
    assert "No value for Feb 2026" in tile
    assert 'data-dimension="Other"' in page


def test_build_site_groups_tiles_by_dimension_in_order(
    built: tuple[SiteResult, str, Path],
) -> None:
    _, page, _ = built
    dimensions = re.findall(r'data-dimension="([^"]+)"', page)
    assert dimensions == ["Value", "Efficiency", "Quality", "Service", "Other"]


def test_build_site_references_local_plotlyjs_and_no_network(
    built: tuple[SiteResult, str, Path],
) -> None:
    _, page, site_dir = built
    assert '<script src="assets/plotly.min.js"></script>' in page
    for page_path in site_dir.rglob("*.html"):
        text = page_path.read_text(encoding="utf-8")
        assert "https://" not in text
        assert "http://" not in text
        assert "cdn.plot.ly" not in text


def test_build_site_figure_count(built: tuple[SiteResult, str, Path]) -> None:
    _, page, _ = built
    metrics_on_page = len(GROUP_VALUES) + 1
    # One sparkline per metric tile plus the small-multiples trend figure.
    assert page.count("Plotly.newPlot") == metrics_on_page + 1
    assert page.count('<article class="tile"') == metrics_on_page


def test_build_site_writes_plotlyjs_once(warehouse: Path, tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    build_site(warehouse, site_dir, built_at=BUILT_AT)
    asset = site_dir / "assets" / "plotly.min.js"
    assert asset.read_text(encoding="utf-8") == plotly.offline.get_plotlyjs()
    # Back-date the file so an unwanted rewrite would be visible even within one clock tick.
    os.utime(asset, ns=(1_000_000_000, 1_000_000_000))
    second = build_site(warehouse, site_dir, built_at=BUILT_AT)
    assert asset.stat().st_mtime_ns == 1_000_000_000
    assert second.assets_written == []


def test_build_site_rewrites_stale_plotlyjs(warehouse: Path, tmp_path: Path) -> None:
    asset = tmp_path / "site" / "assets" / "plotly.min.js"
    asset.parent.mkdir(parents=True)
    asset.write_text("/* an older plotly.js */", encoding="utf-8")
    result = build_site(warehouse, tmp_path / "site", built_at=BUILT_AT)
    assert result.assets_written == [asset]
    assert asset.read_text(encoding="utf-8") == plotly.offline.get_plotlyjs()


def test_build_site_empty_fct_renders_no_data_message(
    empty_warehouse: Path, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    result = build_site(empty_warehouse, site_dir, built_at=BUILT_AT)
    page = (site_dir / "index.html").read_text(encoding="utf-8")
    assert result.pages == [site_dir / "index.html"]
    assert NO_DATA_MESSAGE in page
    assert "Harbour Insurance Group" in page
    assert "Plotly.newPlot" not in page
    assert "https://" not in page


def test_build_site_leaves_the_warehouse_untouched(warehouse: Path, tmp_path: Path) -> None:
    before = warehouse.read_bytes()
    build_site(warehouse, tmp_path / "site", built_at=BUILT_AT)
    assert warehouse.read_bytes() == before


def test_previous_month_wraps_the_year() -> None:
    assert previous_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert previous_month(date(2026, 3, 1)) == date(2026, 2, 1)


def test_summarise_metrics_compares_latest_with_the_calendar_month_before() -> None:
    infos = {"a": MetricInfo("a", "A", unit="days", dimension="efficiency")}
    rows = [("a", JAN, 1.0), ("a", MAR, 3.0), ("b", MAR, float("nan"))]
    latest, summaries = summarise_metrics(rows, infos)
    assert latest == MAR
    by_name = {s.info.metric_name: s for s in summaries}
    # Feb is missing for "a": no previous value and so no change, despite Jan.
    assert by_name["a"].latest == 3.0
    assert not by_name["a"].has_previous
    assert by_name["a"].delta is None
    assert by_name["b"].latest is None
    assert by_name["b"].info.label == "b"


def test_summarise_metrics_empty_has_no_latest_month() -> None:
    assert summarise_metrics([], {}) == (None, ())


def test_page_relpath_and_assets_href_for_future_tiers() -> None:
    assert page_relpath("group", "G001") == PurePosixPath("index.html")
    assert assets_href_for(PurePosixPath("index.html")) == "assets"
    branch = page_relpath("branch", "B 12")
    assert branch == PurePosixPath("branch/b-12.html")
    assert assets_href_for(branch) == "../assets"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless chromium (apt-get install chromium)")
def test_build_site_renders_figures_in_a_real_browser(
    built: tuple[SiteResult, str, Path],
) -> None:
    _, _, site_dir = built
    dom = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            (site_dir / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    # plotly.js draws one <svg class="main-svg"> (or more) into every figure it renders.
    rendered = re.findall(r'<div id="(spark-[^"]+|trends-all)" class="[^"]*js-plotly-plot', dom)
    assert len(rendered) == len(GROUP_VALUES) + 2
    assert "main-svg" in dom
