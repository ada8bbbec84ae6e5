"""The why views and the top movers in a real browser (Debian's chromium), desktop and phone.

Screenshots go to the pytest tmp dir; their paths are printed (see them with `pytest -s`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboards import build_site
from dashboards.site import page_relpath
from tests.dashboards.conftest import BUILT_AT, CHROMIUM
from tests.dashboards.test_browser import TIER_PAGES, VIEWPORT
from tests.dashboards.test_browser_phone import PAST_THE_EDGES, PHONE

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")

# A page per tier; the center is the contact center, whose KPIs the group splits over its
# centers (the claims center's are the owning units': it is in no breakdown).
PAGES = {**TIER_PAGES, "center": "C-CC"}
METRIC = {"center": "answer_time_seconds"}
DEFAULT_METRIC = "claims_auto_rate"
# Where each bar of a waterfall starts and ends on screen: its first piece's start and its last
# piece's end (a piece runs rightwards when it rises, data-dir="up", leftwards when it falls).
BAR_EDGES = """view => Array.from(view.querySelectorAll(".wf")).map(wf =>
  Array.from(wf.querySelectorAll(".wf__row:not(.wf__row--total)")).map(row => {
    const bars = Array.from(row.querySelectorAll(".wf__bar"));
    if (!bars.length) { return null; }
    const edge = (bar, first) => {
      const box = bar.getBoundingClientRect();
      return (bar.dataset.dir === "up") === first ? box.left : box.right;
    };
    return [edge(bars[0], true), edge(bars[bars.length - 1], false)];
  }).filter(edges => edges !== null))"""


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("why-screenshots")


@pytest.fixture(scope="module")
def pack(synthetic_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("why-pack") / "site"
    build_site(synthetic_warehouse, site_dir, org="LIF-JS", built_at=BUILT_AT)
    return site_dir


class Seen:
    """A page with every console error and uncaught exception recorded."""

    def __init__(self, context, url: str) -> None:
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def shot(self, folder: Path, name: str, selector: str | None = None) -> Path:
        path = folder / f"{name}.png"
        if selector:
            self.page.locator(selector).screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), full_page=True)
        print(f"why screenshot: {path}")
        return path


@pytest.fixture
def open_page(browser) -> Iterator:
    contexts = []

    def opener(url: str, **options) -> Seen:
        contexts.append(browser.new_context(**(options or {"viewport": VIEWPORT})))
        return Seen(contexts[-1], url)

    yield opener
    for context in contexts:
        context.close()


def page_url(site_dir: Path, level: str, code: str) -> str:
    return (site_dir / page_relpath(level, code)).as_uri()


def assert_bars_follow_on(view) -> None:
    """Each bar starts where the one before it ended (to a pixel), in every waterfall."""
    for rows in view.evaluate(BAR_EDGES):
        for (_, end), (start, _) in zip(rows, rows[1:], strict=False):
            assert start == pytest.approx(end, abs=1.0)


@pytest.mark.parametrize("tier", list(PAGES))
def test_why_view_opens_from_its_tile_on_every_tier(
    tier: str, synthetic_site, screenshots: Path, open_page
) -> None:
    site_dir, _ = synthetic_site
    metric = METRIC.get(tier, DEFAULT_METRIC)
    anchor = f"why-{metric.replace('_', '-')}"
    seen = open_page(page_url(site_dir, tier, PAGES[tier]))
    view = seen.page.locator(f"#{anchor}")
    assert view.get_attribute("open") is None  # closed until asked for
    seen.page.locator(f'.tile[data-metric="{metric}"] a[data-why="{anchor}"]').click()
    assert view.get_attribute("open") is not None
    assert view.locator(".why__body").is_visible()
    if tier in ("sub_branch", "center"):
        # a unit without children: its part in its parent's change, linked to the parent's
        leaf = view.locator(".why__leaf")
        assert leaf.count() == 2 and leaf.first.is_visible()
        assert "of" in leaf.first.inner_text() and "change of" in leaf.first.inner_text()
    else:
        waterfall = view.locator(".wf").first
        assert waterfall.is_visible()
        assert waterfall.locator(".wf__row--total").is_visible()
        assert view.locator(".wf__bar--rate").count() > 0  # a ratio: rate and mix apart
        assert view.locator(".wf__bar--mix").count() > 0
        assert_bars_follow_on(view)
    if metric == DEFAULT_METRIC:  # a ratio with a formula: its change over its inputs too
        inputs = view.locator(".wf--inputs").first
        assert inputs.is_visible()
        assert inputs.locator(".wf__row--input").count() == 2
    assert_bars_follow_on(view)
    seen.shot(screenshots, f"why-{tier}", f"#{anchor}")
    seen.page.locator('[data-lang-set="zh"]').click()
    assert view.locator(".why__when").first.inner_text().startswith(("环比", "同比"))
    assert seen.errors == []


@pytest.mark.parametrize(("level", "code"), [("group", "GRP"), ("subsidiary", "LIF")])
def test_top_movers_are_one_click_from_the_unit_that_caused_them(
    level: str, code: str, synthetic_site, screenshots: Path, open_page
) -> None:
    site_dir, _ = synthetic_site
    seen = open_page(page_url(site_dir, level, code))
    movers = seen.page.locator("#top-movers .top-mover")
    assert 1 <= movers.count() <= 5
    assert movers.first.is_visible()
    seen.shot(screenshots, f"movers-{level}", "#top-movers")
    first = movers.first
    metric, child = first.get_attribute("data-metric"), first.get_attribute("data-code")
    first.locator("a.top-mover__unit").click()
    child_level = "branch" if level == "subsidiary" else "subsidiary"
    seen.page.wait_for_url(f"**/{page_relpath(child_level, child).as_posix()}#why-*")
    view = seen.page.locator(f"#why-{metric.replace('_', '-')}")
    # the unit's own why view of that KPI, opened on arrival
    assert view.get_attribute("open") is not None
    assert view.locator(".why__body").is_visible()
    assert seen.page.locator("body").get_attribute("data-org-code") == child
    assert seen.errors == []


def test_waterfall_child_opens_its_own_why_view(synthetic_site, open_page) -> None:
    site_dir, _ = synthetic_site
    seen = open_page(page_url(site_dir, "branch", "LIF-JS") + "#why-claims-auto-rate")
    view = seen.page.locator("#why-claims-auto-rate")
    assert view.get_attribute("open") is not None  # opened by the link's fragment
    view.locator('a.wf__label[data-code="LIF-JS-01"]').first.click()
    seen.page.wait_for_url("**/sub_branch/lif-js-01.html#why-claims-auto-rate")
    leaf = seen.page.locator("#why-claims-auto-rate .why__leaf").first
    assert leaf.is_visible()
    leaf.locator('a[data-code="LIF-JS"]').click()  # and back up to the branch's
    seen.page.wait_for_url("**/branch/lif-js.html#why-claims-auto-rate")
    assert seen.errors == []


def test_pack_why_view_shows_the_rest_of_its_unit_unnamed(
    pack: Path, screenshots: Path, open_page
) -> None:
    seen = open_page((pack / "index.html").as_uri() + "#why-claims-auto-rate")
    view = seen.page.locator("#why-claims-auto-rate")
    rest = view.locator(".wf__row--outside")
    assert rest.count() == 1 and rest.is_visible()
    assert rest.inner_text().startswith("Rest of Jiangsu Branch: units outside this pack")
    assert rest.locator("a").count() == 0
    assert_bars_follow_on(view)
    seen.shot(screenshots, "why-pack", "#why-claims-auto-rate")
    assert seen.errors == []


@pytest.mark.parametrize(
    ("site", "level", "code"),
    [("full", "group", "GRP"), ("full", "branch", "LIF-JS"), ("pack", "branch", "LIF-JS")],
)
def test_phone_why_view_and_movers_fit_the_screen_in_both_languages(
    site: str, level: str, code: str, synthetic_site, pack: Path, screenshots: Path, open_page
) -> None:
    site_dir = synthetic_site[0] if site == "full" else pack
    url = (pack / "index.html").as_uri() if site == "pack" else page_url(site_dir, level, code)
    seen = open_page(url, **PHONE)
    page = seen.page
    for view in page.locator("details.why").all():
        view.evaluate("v => { v.open = true; }")
    for lang in ("en", "zh"):
        if lang == "zh":
            page.locator('[data-lang-set="zh"]').tap()
        width = page.evaluate("document.documentElement.clientWidth")
        assert width == PHONE["viewport"]["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width, lang
        assert page.evaluate(PAST_THE_EDGES) == [], lang
        assert_bars_follow_on(page.locator("#why"))
        seen.shot(screenshots, f"phone-why-{site}-{level}-{lang}", "#why")
    if level == "group":
        seen.shot(screenshots, "phone-movers-group", "#top-movers")
    assert seen.errors == []
