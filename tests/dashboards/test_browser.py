"""The built site in a real browser: Debian's chromium driven by Playwright, no download.

Pages are loaded from disk (file://) and over HTTP from `dashboards.commands.make_server`.
A screenshot per tier goes to test-artifacts/screenshots/ for review.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dashboards.commands import make_server, server_url
from dashboards.site import page_relpath
from tests.dashboards.conftest import CHROMIUM
from tests.dashboards.synthetic import (
    HELD_SOURCE,
    METRICS,
    STALE_METRIC,
    fct_statuses,
    hostile_names,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}
# One page per tier of the fixture.
TIER_PAGES = {
    "group": "GRP",
    "subsidiary": "LIF",
    "branch": "LIF-JS",
    "sub_branch": "LIF-JS-01",
    "center": "C-CLM",
}
# The stylesheet's status colours: the pill's background and the tile's left border.
PILL_BACKGROUND = {
    "green": "rgb(220, 252, 231)",
    "amber": "rgb(254, 243, 199)",
    "red": "rgb(254, 226, 226)",
}
TILE_BORDER = {
    "green": "rgb(21, 128, 61)",
    "amber": "rgb(217, 119, 6)",
    "red": "rgb(220, 38, 38)",
    "none": "rgb(203, 213, 225)",
}
RENDERED_PLOTS = (
    "Array.from(document.querySelectorAll('.js-plotly-plot'))"
    ".filter(d => d.querySelector('svg.main-svg')).length"
)
# Every figure container of the page has been drawn into.
FIGURES = "[data-spark], #compare-chart, #bridge-chart"
ALL_DRAWN = f"{RENDERED_PLOTS} === document.querySelectorAll('{FIGURES}').length"
# Besides a sparkline per tile: the drill-down chart and the value bridge (every synthetic unit
# has one, fct_value_created).
OTHER_PLOTS = 2


@pytest.fixture(scope="module")
def site_url(synthetic_site) -> Iterator[str]:
    site_dir, _ = synthetic_site
    server = make_server(site_dir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_url(server)
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


class Visit:
    """A page with every console error and uncaught exception recorded."""

    def __init__(self, browser, url: str) -> None:
        self.errors: list[str] = []
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def wait_for_plots(self) -> int:
        """The number of plots drawn, once every figure container of the page is drawn."""
        self.page.wait_for_function(ALL_DRAWN, timeout=30_000)
        return self.page.evaluate(RENDERED_PLOTS)

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def visit(browser) -> Iterator:
    opened: list[Visit] = []

    def open_page(url: str) -> Visit:
        opened.append(Visit(browser, url))
        return opened[-1]

    yield open_page
    for page in opened:
        page.close()


def file_url(site_dir: Path, level: str, code: str) -> str:
    return (site_dir / page_relpath(level, code)).as_uri()


@pytest.mark.parametrize("tier", list(TIER_PAGES))
def test_tier_page_renders_every_plot_without_console_errors(
    tier: str, synthetic_site, synthetic_warehouse: Path, visit
) -> None:
    site_dir, _ = synthetic_site
    code = TIER_PAGES[tier]
    expected = fct_statuses(synthetic_warehouse, tier, code)
    seen = visit(file_url(site_dir, tier, code))
    # a sparkline per metric tile, plus the drill-down chart and the value bridge
    assert seen.wait_for_plots() == len(expected) + OTHER_PLOTS
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seen.page.screenshot(path=str(SCREENSHOTS / f"{tier}.png"), full_page=True)
    assert seen.errors == []


@pytest.mark.parametrize("tier", list(TIER_PAGES))
def test_tier_page_status_colours_match_the_kpi_table(
    tier: str, synthetic_site, synthetic_warehouse: Path, visit
) -> None:
    site_dir, _ = synthetic_site
    code = TIER_PAGES[tier]
    page = visit(file_url(site_dir, tier, code)).page
    for metric, status in fct_statuses(synthetic_warehouse, tier, code).items():
        tile = page.locator(f'.tile[data-metric="{metric}"]')
        if metric == STALE_METRIC:
            continue  # greyed out whatever its status; checked below
        border = tile.evaluate("e => getComputedStyle(e).borderLeftColor")
        assert border == TILE_BORDER[status or "none"], (code, metric)
        if status:
            pill = tile.locator(".status")
            assert pill.is_visible()
            background = pill.evaluate("e => getComputedStyle(e).backgroundColor")
            assert background == PILL_BACKGROUND[status], (code, metric)
        else:
            assert tile.locator(".status").count() == 0


def test_drill_down_and_breadcrumb_navigate(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    seen = visit(file_url(site_dir, "group", "GRP"))
    page = seen.page
    page.locator('.drill a[data-code="LIF"]').click()
    page.wait_for_url("**/subsidiary/lif.html")
    page.locator('.rank a[data-code="LIF-JS"]:visible').first.click()
    page.wait_for_url("**/branch/lif-js.html")
    page.locator('.drill a[data-code="LIF-JS-01"]').click()
    page.wait_for_url("**/sub_branch/lif-js-01.html")
    page.locator('.crumbs a[data-code="LIF-JS"]').click()
    page.wait_for_url("**/branch/lif-js.html")
    page.locator('.crumbs a[data-code="GRP"]').click()
    page.wait_for_url("**/index.html")
    assert seen.errors == []


def test_held_source_notice_and_stale_tile_are_visible(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    page = visit(file_url(site_dir, "branch", "LIF-JS")).page
    notice = page.locator(".notice--held")
    assert notice.is_visible()
    assert notice.inner_text().startswith(f"{HELD_SOURCE} held back by")
    assert page.locator(".notice--published").is_visible()
    stale = page.locator(f'.tile[data-metric="{STALE_METRIC}"]')
    assert stale.locator(".stale-badge").is_visible()
    assert stale.locator(".stale-badge").inner_text().lower() == "stale"
    assert stale.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(244, 244, 245)"


def test_search_box_finds_a_unit_by_name(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    seen = visit(file_url(site_dir, "group", "GRP"))
    page = seen.page
    page.locator("#unit-search").fill("kunshan")
    results = page.locator("#unit-search-results a")
    assert results.count() == 1
    results.first.click()
    page.wait_for_url("**/sub_branch/lif-js-03.html")
    assert seen.errors == []


def test_metric_picker_switches_ranking_and_chart(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    seen = visit(file_url(site_dir, "branch", "LIF-JS"))
    page = seen.page
    assert seen.wait_for_plots() == len(METRICS) + OTHER_PLOTS
    page.select_option("#metric-picker", "answer_time_seconds")
    visible = page.locator("[data-rank-metric]:visible")
    assert {visible.nth(i).get_attribute("data-rank-metric") for i in range(visible.count())} == {
        "answer_time_seconds"
    }
    assert page.locator("#compare-metric-label").inner_text() == "Average speed of answer"
    chart = page.locator("#compare-chart")
    legend = chart.locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert legend == ["Nanjing Office", "Suzhou Office", "Jiangsu Branch", "Target 目标"]
    ticks = chart.locator(".ytick text").evaluate_all("els => els.map(e => e.textContent)")
    assert ticks and all(t.endswith(" s") for t in ticks)  # seconds now, not ¥ or days
    assert seen.errors == []


def test_language_switch_shows_the_catalog_chinese_labels(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    page = visit(file_url(site_dir, "group", "GRP")).page
    label = page.locator('.tile[data-metric="claims_auto_rate"] .tile__label')
    assert label.inner_text() == "Claims auto-processing rate"
    page.locator('[data-lang-set="zh"]').click()
    assert label.inner_text() == "理赔自动化率"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.locator('[data-lang-set="en"]').click()
    assert label.inner_text() == "Claims auto-processing rate"


@pytest.mark.parametrize(("level", "code"), [("group", "GRP"), ("branch", "LIF-JS")])
def test_page_served_over_http_renders_without_errors(
    level: str, code: str, site_url: str, synthetic_warehouse: Path, visit
) -> None:
    seen = visit(site_url + page_relpath(level, code).as_posix())
    tiles = len(fct_statuses(synthetic_warehouse, level, code))
    assert seen.wait_for_plots() == tiles + OTHER_PLOTS
    assert seen.page.locator(".notice--held").is_visible()
    assert seen.errors == []


@pytest.mark.parametrize("name", ["catalog.html", "quality.html"])
def test_catalog_and_quality_pages_load_without_errors(name: str, synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    seen = visit((site_dir / name).as_uri())
    assert seen.page.locator("h1").is_visible()
    assert seen.errors == []


def test_any_unit_in_two_clicks_from_any_page(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    seen = visit(file_url(site_dir, "sub_branch", "PNC-BJ-02"))
    page = seen.page
    page.locator('.nav a[href$="index.html#directory"]').click()
    page.locator('#directory a[data-code="LIF-JS-03"]').click()
    page.wait_for_url("**/sub_branch/lif-js-03.html")
    assert seen.errors == []


@pytest.mark.parametrize(
    ("level", "code", "lines"),
    [
        ("sub_branch", "LIF-JS-01", ["LIF-JS-01", "LIF-JS"]),  # a leaf: itself and its parent
        ("branch", "LIF-JS", ["LIF-JS-01", "LIF-JS-02", "LIF-JS"]),  # children, then itself
        ("subsidiary", "LIF", ["LIF-JS", "LIF-SH", "LIF"]),
    ],
)
def test_hostile_names_draw_every_chart_with_names_as_text(
    level: str, code: str, lines: list[str], hostile_site, synthetic_warehouse: Path, visit
) -> None:
    """Org names carrying <!--, </script>, links and tags: charts drawn, names shown as text."""
    site_dir, _ = hostile_site
    seen = visit(file_url(site_dir, level, code))
    page = seen.page
    assert (
        seen.wait_for_plots() == len(fct_statuses(synthetic_warehouse, level, code)) + OTHER_PLOTS
    )
    page.select_option("#metric-picker", "claims_cycle_time_days")
    chart = page.locator("#compare-chart")
    legend = chart.locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)")
    names = hostile_names()
    assert legend == [names[c] for c in lines] + ["Target 目标"]
    assert page.locator(".js-plotly-plot a, .js-plotly-plot b").count() == 0
    assert page.locator("#page-error").count() == 0
    assert page.locator("h1").text_content() == names[code] + code
    assert seen.errors == []


def unreadable_data(page: Path) -> None:
    content = page.read_text(encoding="utf-8")
    page.write_text(content.replace('id="page-data">{', 'id="page-data">{,', 1), encoding="utf-8")


def empty_chart_data(page: Path) -> None:
    content = page.read_text(encoding="utf-8")
    empty = '<script type="application/json" id="page-data">{"sparks":{},"compare":{}}</script>'
    page.write_text(
        re.sub(r'<script type="application/json" id="page-data">.*?</script>', empty, content),
        encoding="utf-8",
    )


def no_plotly(page: Path) -> None:
    (page.parent.parent / "assets" / "plotly.min.js").unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (unreadable_data, "The charts of this page cannot be shown: its chart data is unreadable."),
        (empty_chart_data, "Some charts of this page cannot be shown: their data is missing"),
        (no_plotly, "The charts of this page cannot be shown: the chart library"),
    ],
)
def test_page_that_cannot_draw_its_charts_says_so(
    damage: Callable[[Path], None], message: str, synthetic_site, tmp_path: Path, visit
) -> None:
    site_dir = shutil.copytree(synthetic_site[0], tmp_path / "site")
    page_path = site_dir / page_relpath("branch", "LIF-JS")
    damage(page_path)
    page = visit(page_path.as_uri()).page
    error = page.locator("#page-error")
    error.wait_for(state="visible", timeout=10_000)
    assert error.inner_text().startswith(message)
    assert error.get_attribute("role") == "alert"
    page.locator('[data-lang-set="zh"]').click()
    assert error.inner_text().startswith("本页")
