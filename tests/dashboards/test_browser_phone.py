"""Every page type at a phone's width: no sideways scroll, nothing past the screen, controls tap.

Chromium's mobile emulation (a 390 x 844 viewport, touch, `is_mobile`) as on a current phone.
Screenshots go to the pytest tmp dir; their paths are printed (see them with `pytest -s`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboards import build_site
from dashboards.site import page_relpath
from tests.dashboards.conftest import BUILT_AT, CHROMIUM
from tests.dashboards.test_browser import ALL_DRAWN

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
PACK_ORG = "LIF-JS"
# (site, page): every page type of the full site, and a branch manager's pack.
PHONE_PAGES = [
    ("full", page_relpath("group", "GRP").as_posix()),
    ("full", page_relpath("subsidiary", "LIF").as_posix()),
    ("full", page_relpath("branch", "LIF-JS").as_posix()),
    ("full", page_relpath("sub_branch", "LIF-JS-01").as_posix()),
    ("full", page_relpath("center", "C-CLM").as_posix()),
    ("full", "catalog.html"),
    ("full", "quality.html"),
    ("full", "league/sub-branch.html"),
    ("full", "league/center.html"),
    ("pack", "index.html"),
    ("pack", page_relpath("sub_branch", "LIF-JS-01").as_posix()),
    ("pack", "league/sub-branch.html"),
    ("pack", "catalog.html"),
    ("pack", "quality.html"),
]
# Elements whose box crosses the viewport's left or right edge, unless a scroll container that
# lies inside the viewport holds them (a wide table in its overflow-x box). Plotly's text
# measuring <svg id="js-plotly-tester"> sits at -10000px on purpose, unseen.
PAST_THE_EDGES = """() => {
  const width = document.documentElement.clientWidth;
  const inside = r => r.left >= -0.5 && r.right <= width + 0.5;
  const scrolls = el => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const held = el => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      if (scrolls(p)) { return inside(p.getBoundingClientRect()); }
    }
    return false;
  };
  return Array.from(document.body.querySelectorAll("*"))
    .filter(el => !el.closest("#js-plotly-tester"))
    .filter(el => {
      const r = el.getBoundingClientRect();
      return (r.width || r.height) && !inside(r) && !held(el);
    })
    .map(el => {
      const r = el.getBoundingClientRect();
      const cls = typeof el.className === "string" ? el.className : "";
      return `${el.tagName.toLowerCase()}.${cls} ${Math.round(r.left)}..${Math.round(r.right)}`;
    });
}"""
# The page's top-bar controls, each on screen and the element a tap at its centre reaches.
UNREACHABLE_CONTROLS = """() => {
  const width = document.documentElement.clientWidth;
  const height = document.documentElement.clientHeight;
  return Array.from(document.querySelectorAll(".nav a, #unit-search, [data-lang-set]"))
    .filter(el => {
      const r = el.getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      const onScreen = r.width > 0 && r.left >= 0 && r.right <= width && r.bottom <= height;
      return !onScreen || !el.contains(document.elementFromPoint(x, y));
    })
    .map(el => el.outerHTML.slice(0, 80));
}"""

# Search results that something else on the page covers: each, scrolled into view in the list,
# must be what a tap at its centre reaches.
COVERED_RESULTS = """() => Array.from(document.querySelectorAll("#unit-search-results a"))
  .filter(a => {
    a.scrollIntoView({block: "nearest"});
    const r = a.getBoundingClientRect();
    return !a.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2));
  })
  .map(a => a.textContent)"""


@pytest.fixture
def phone(browser) -> Iterator[object]:
    """A phone of its own per test: no language choice (localStorage) carried between tests."""
    context = browser.new_context(**PHONE)
    yield context
    context.close()


@pytest.fixture(scope="module")
def sites(
    synthetic_site, synthetic_warehouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    pack_dir = tmp_path_factory.mktemp("phone-pack") / "site"
    build_site(synthetic_warehouse, pack_dir, org=PACK_ORG, built_at=BUILT_AT)
    return {"full": synthetic_site[0], "pack": pack_dir}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("phone-screenshots")


class PhonePage:
    """A page opened on the phone, with its console errors and uncaught exceptions recorded."""

    def __init__(self, context, url: str) -> None:
        self.errors: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        # Charts take their width from their box once drawn: measure after they are.
        self.page.wait_for_function(ALL_DRAWN, timeout=30_000)

    def past_the_edges(self) -> list[str]:
        return self.page.evaluate(PAST_THE_EDGES)

    def scroll_width(self) -> tuple[int, int]:
        return self.page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )

    def unreachable_controls(self) -> list[str]:
        self.page.evaluate("window.scrollTo(0, 0)")
        return self.page.evaluate(UNREACHABLE_CONTROLS)

    def screenshot(self, folder: Path, name: str, *, full_page: bool = True) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        print(f"phone screenshot: {path}")
        return path


@pytest.fixture
def open_on_phone(phone) -> Iterator:
    opened: list[PhonePage] = []

    def open_page(url: str) -> PhonePage:
        opened.append(PhonePage(phone, url))
        return opened[-1]

    yield open_page
    for seen in opened:
        seen.page.close()


@pytest.mark.parametrize(("site", "page"), PHONE_PAGES, ids=[f"{s}:{p}" for s, p in PHONE_PAGES])
def test_phone_page_fits_the_screen_in_both_languages(
    site: str, page: str, sites: dict[str, Path], screenshots: Path, open_on_phone
) -> None:
    seen = open_on_phone((sites[site] / page).as_uri())
    name = f"{site}-{page.replace('/', '-').removesuffix('.html')}"
    for lang in ("en", "zh"):
        if lang == "zh":
            seen.page.locator('[data-lang-set="zh"]').tap()
            assert seen.page.locator("html").get_attribute("lang") == "zh-CN"
        scroll_width, client_width = seen.scroll_width()
        assert client_width == PHONE["viewport"]["width"]
        assert scroll_width <= client_width, (lang, scroll_width)
        assert seen.past_the_edges() == [], lang
        assert seen.unreachable_controls() == [], lang
        seen.screenshot(screenshots, f"{name}-{lang}")
    seen.page.locator('[data-lang-set="en"]').tap()
    assert seen.page.locator("html").get_attribute("lang") == "en"
    assert seen.errors == []


def test_phone_language_switch_works_by_tap(sites: dict[str, Path], open_on_phone) -> None:
    seen = open_on_phone((sites["full"] / page_relpath("branch", "LIF-JS")).as_uri())
    page = seen.page
    label = page.locator('.tile[data-metric="claims_auto_rate"] .tile__label')
    zh = page.locator('[data-lang-set="zh"]')
    zh.tap()
    assert label.inner_text() == "理赔自动化率"
    assert zh.get_attribute("aria-pressed") == "true"
    page.locator('[data-lang-set="en"]').tap()
    assert label.inner_text() == "Claims auto-processing rate"
    assert zh.get_attribute("aria-pressed") == "false"
    assert seen.errors == []


def test_phone_metric_about_opens_on_screen_by_tap(sites: dict[str, Path], open_on_phone) -> None:
    seen = open_on_phone((sites["full"] / page_relpath("branch", "LIF-JS")).as_uri())
    about = seen.page.locator('.tile[data-metric="claims_auto_rate"] .about')
    about.locator("summary").tap()
    body = about.locator(".about__body")
    assert body.is_visible()
    assert "Owner" in body.inner_text()
    assert seen.past_the_edges() == []
    assert seen.errors == []


@pytest.mark.parametrize(
    ("site", "page", "query", "hits"),
    [
        # a letter in nearly every unit: a list long enough to reach down over the tiles
        ("full", page_relpath("branch", "LIF-JS").as_posix(), "a", 14),
        ("pack", "index.html", "office", 2),
    ],
)
def test_phone_search_finds_and_opens_a_unit_by_tap(
    site: str,
    page: str,
    query: str,
    hits: int,
    sites: dict[str, Path],
    screenshots: Path,
    open_on_phone,
) -> None:
    """The results lie over the page: the last one, drawn over the tiles, takes the tap."""
    seen = open_on_phone((sites[site] / page).as_uri())
    search = seen.page.locator("#unit-search")
    search.tap()
    seen.page.keyboard.type(query)
    results = seen.page.locator("#unit-search-results a")
    assert results.count() == hits
    assert seen.past_the_edges() == []
    assert seen.page.evaluate(COVERED_RESULTS) == []
    seen.screenshot(screenshots, f"{site}-search", full_page=False)  # the screen, as seen
    last = results.last
    target = last.get_attribute("href").removeprefix("../")
    last.tap()
    seen.page.wait_for_url(f"**/{target}")
    assert seen.errors == []


# The drill-down chart's month labels, each as [left, right, top, bottom] on screen.
MONTH_LABELS = """() => Array.from(document.querySelectorAll("#compare-chart .xtick text"))
  .map(t => t.getBoundingClientRect())
  .map(r => [r.left, r.right, r.top, r.bottom])"""
CHART_AND_BOX = """() => {
  const box = document.getElementById("compare-chart");
  return [box.querySelector("svg.main-svg").getBoundingClientRect().width, box.clientWidth];
}"""


def overlapping(boxes: list[list[float]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, a in enumerate(boxes)
        for j, b in enumerate(boxes[i + 1 :], i + 1)
        if a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]
    ]


def test_overlapping_finds_boxes_that_share_an_area() -> None:
    assert overlapping([[0, 10, 0, 10], [10, 20, 0, 10], [0, 10, 10, 20]]) == []
    assert overlapping([[0, 10, 0, 10], [5, 15, 5, 15]]) == [(0, 1)]


@pytest.mark.parametrize("level", ["group", "branch", "sub_branch"])
def test_phone_chart_fits_its_box_with_level_month_labels_and_turns(
    level: str, sites: dict[str, Path], open_on_phone
) -> None:
    code = {"group": "GRP", "branch": "LIF-JS", "sub_branch": "LIF-JS-01"}[level]
    seen = open_on_phone((sites["full"] / page_relpath(level, code)).as_uri())
    page = seen.page
    chart_width, box_width = page.evaluate(CHART_AND_BOX)
    assert chart_width == box_width
    labels = page.evaluate(MONTH_LABELS)
    assert len(labels) >= 4
    assert overlapping(labels) == []
    assert all(bottom - top < 20 for _, _, top, bottom in labels)  # level text, not tilted
    page.set_viewport_size({"width": 844, "height": 390})  # the phone turned sideways
    page.wait_for_function(f"(([c, b]) => c === b && b > 700)(({CHART_AND_BOX})())")
    assert seen.past_the_edges() == []
    assert seen.errors == []
