"""The value-management sections in a real browser (Debian's chromium, no download): the score
header, the value tree, the value bridge and the league tables of every tier, with no console
error. Screenshots go to the pytest tmp dir; their paths are printed (`pytest -s`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dashboards import build_site
from dashboards.site import page_relpath
from tests.dashboards.conftest import BUILT_AT, CHROMIUM
from tests.dashboards.test_browser import ALL_DRAWN, TIER_PAGES, VIEWPORT

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")

LEAGUES = ["subsidiary", "branch", "sub_branch", "center"]
TEXTS = "els => els.map(e => e.textContent)"
# The bridge's bar labels top to bottom (plotly's DOM order is the axis order, reversed here).
BRIDGE_LABELS = (
    "els => els.map(e => [e.getBoundingClientRect().top, e.textContent])"
    ".sort((a, b) => a[0] - b[0]).map(pair => pair[1])"
)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scorecard-screenshots")


class Seen:
    """A page opened at desktop width, its console errors and uncaught exceptions recorded."""

    def __init__(self, browser, url: str) -> None:
        self.errors: list[str] = []
        self.page = browser.new_page(viewport=VIEWPORT)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def shot(self, folder: Path, name: str) -> None:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")


@pytest.fixture
def visit(browser) -> Iterator:
    opened: list[Seen] = []

    def open_page(url: str) -> Seen:
        opened.append(Seen(browser, url))
        return opened[-1]

    yield open_page
    for seen in opened:
        seen.page.close()


def latest(warehouse: Path, sql: str, params: list) -> tuple:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchone()


@pytest.mark.parametrize("tier", list(TIER_PAGES))
def test_tier_page_shows_score_header_value_tree_and_bridge(
    tier: str, synthetic_site, synthetic_warehouse: Path, screenshots: Path, visit
) -> None:
    site_dir, _ = synthetic_site
    code = TIER_PAGES[tier]
    seen = visit((site_dir / page_relpath(tier, code)).as_uri())
    page = seen.page
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    score, grade = latest(
        synthetic_warehouse,
        "select score, grade from marts.fct_unit_scores where org_level = ? and org_code = ?"
        " order by period_start desc limit 1",
        [tier, code],
    )
    header = page.locator("#score")
    assert header.is_visible()
    # the header comes before the tiles: the page opens with it
    assert header.evaluate("e => e.getBoundingClientRect().top") < page.locator(
        ".tile"
    ).first.evaluate("e => e.getBoundingClientRect().top")
    assert header.locator(".scorehead__value").inner_text() == f"{score:.1f}"
    assert header.locator(".grade").inner_text() == grade
    tree = page.locator("#value-tree")
    assert tree.is_visible() and tree.locator(".vnode--goal").count() >= 1
    assert tree.locator(".vnode--kpi").first.is_visible()
    bridge = page.locator("#value-bridge")
    assert bridge.locator("#bridge-chart svg.main-svg").count() >= 1
    labels = bridge.locator("#bridge-chart .ytick text").evaluate_all(BRIDGE_LABELS)
    assert labels[-1] == ("Value created" if tier == "center" else "Net value")
    assert bridge.locator(".bridge-table").is_visible()
    seen.shot(screenshots, f"{tier}-{code}")
    assert seen.errors == []


@pytest.mark.parametrize("level", LEAGUES)
def test_league_page_sorts_by_a_column_heading_tap(
    level: str, synthetic_site, synthetic_warehouse: Path, screenshots: Path, visit
) -> None:
    site_dir, _ = synthetic_site
    seen = visit((site_dir / "league" / f"{level.replace('_', '-')}.html").as_uri())
    page = seen.page
    with duckdb.connect(str(synthetic_warehouse), read_only=True) as con:
        rows = con.execute(
            """
            select org_code, score from marts.fct_unit_scores
            where org_level = ? and period_start = (
                select max(period_start) from marts.fct_unit_scores where org_level = ?
            )
            """,
            [level, level],
        ).fetchall()
    scored = sorted((s, c) for c, s in rows if s is not None)
    unscored = [c for c, s in rows if s is None]

    def codes() -> list[str]:
        return page.locator(".league-table tbody tr").evaluate_all(
            "rows => rows.map(r => r.getAttribute('data-code'))"
        )

    assert len(codes()) == len(rows)
    head = page.locator(".league-table th").nth(2)  # unit, rank in tier, score
    head.locator("button").click()
    assert codes() == [c for _, c in scored] + unscored  # ascending, no score last
    assert head.get_attribute("aria-sort") == "ascending"
    head.locator("button").click()
    assert codes() == [c for _, c in reversed(scored)] + unscored
    assert head.get_attribute("aria-sort") == "descending"
    page.locator(".league-table th").first.locator("button").click()
    names = page.locator(".league-table tbody .unit-name").evaluate_all(TEXTS)
    assert names == sorted(names, key=str.lower)
    seen.shot(screenshots, f"league-{level}")
    assert seen.errors == []


def test_value_tree_and_movers_go_to_their_tiles(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    seen = visit((site_dir / page_relpath("branch", "LIF-JS")).as_uri())
    page = seen.page
    kpi = page.locator('#value-tree .vnode--kpi[data-metric="claims_cycle_time_days"]')
    driver = kpi.locator('.vnode--driver[data-metric="claims_auto_rate"]')
    assert not driver.is_visible()  # folded until the KPI is opened
    kpi.locator("summary").click(position={"x": 2, "y": 8})
    assert driver.is_visible()
    kpi.locator("a.vnode__name").first.click()
    page.wait_for_url("**#tile-claims-cycle-time-days")
    assert page.locator("#tile-claims-cycle-time-days").is_visible()
    mover = page.locator("#score .movers a").first
    target = mover.get_attribute("href")
    mover.click()
    page.wait_for_url(f"**{target}")
    assert page.locator(target).is_visible()
    assert seen.errors == []


def test_value_bridge_labels_follow_the_language_switch(synthetic_site, visit) -> None:
    site_dir, _ = synthetic_site
    seen = visit((site_dir / page_relpath("branch", "LIF-JS")).as_uri())
    page = seen.page
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    ticks = page.locator("#bridge-chart .ytick text")
    assert ticks.evaluate_all(BRIDGE_LABELS)[0] == "Operations cost"
    page.locator('[data-lang-set="zh"]').click()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#bridge-chart .ytick text'))"
        ".some(e => e.textContent === '运营成本')"
    )
    assert ticks.evaluate_all(BRIDGE_LABELS)[-1] == "净价值"
    assert page.locator("#score .scorehead__label").inner_text().startswith("综合得分")
    page.locator('[data-lang-set="en"]').click()
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#bridge-chart .ytick text'))"
        ".some(e => e.textContent === 'Operations cost')"
    )
    assert seen.errors == []


def test_pack_pages_show_the_sections_for_its_own_units(
    synthetic_warehouse: Path, tmp_path: Path, screenshots: Path, visit
) -> None:
    site_dir = tmp_path / "pack"
    build_site(synthetic_warehouse, site_dir, org="LIF-JS", built_at=BUILT_AT)
    seen = visit((site_dir / "index.html").as_uri())
    page = seen.page
    page.wait_for_function(ALL_DRAWN, timeout=30_000)
    assert "under the same parent" in page.locator("#score").inner_text()
    page.locator('#score .league-links a[data-league="sub_branch"]').click()
    page.wait_for_url("**/league/sub-branch.html")
    codes = page.locator(".league-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-code'))"
    )
    assert sorted(codes) == ["LIF-JS-01", "LIF-JS-02"]
    seen.shot(screenshots, "pack-league-sub-branch")
    assert seen.errors == []
