"""Names, labels and sources from the extracts and the catalog reach every page as inert text.

The hostile site is the synthetic one with a payload (HTML comment and script delimiters,
links, tags, entities, line separators, quotes, backslashes, CJK, emoji) in every org and
center name, metric label and source name (tests/dashboards/synthetic.HOSTILE_TEXTS).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards import SiteResult
from dashboards.site import page_relpath
from tests.dashboards.reading import (
    element_text,
    inline_script,
    page_data,
    parse_page,
    plotly_shown,
)
from tests.dashboards.synthetic import (
    ALL_UNITS,
    HELD_SOURCE,
    METRICS,
    hostile_label,
    hostile_names,
)

Site = tuple[Path, SiteResult]
NAMES = hostile_names()
SCRIPT_BREAKERS = ("<", ">", "&", "\u2028", "\u2029")


def relpaths(site: Site) -> list[str]:
    site_dir, result = site
    return sorted(p.relative_to(site_dir).as_posix() for p in result.pages)


def test_build_site_hostile_text_adds_no_element_comment_or_script(
    hostile_site: Site, synthetic_site: Site
) -> None:
    """Every page has exactly the elements of the same page with plain names."""
    assert relpaths(hostile_site) == relpaths(synthetic_site)
    for relpath in relpaths(hostile_site):
        hostile = parse_page((hostile_site[0] / relpath).read_text(encoding="utf-8"))
        plain = parse_page((synthetic_site[0] / relpath).read_text(encoding="utf-8"))
        assert hostile.comments == [], relpath
        assert hostile.tag_counts() == plain.tag_counts(), relpath
        assert "http://x" not in hostile.attribute_values("href"), relpath


def test_build_site_hostile_page_data_is_valid_json_without_markup(hostile_site: Site) -> None:
    site_dir, result = hostile_site
    with_data = 0
    for page in result.pages:
        raw = inline_script(page.read_text(encoding="utf-8"))
        if raw is None:
            continue
        with_data += 1
        assert [c for c in SCRIPT_BREAKERS if c in raw] == [], page
        data = json.loads(raw)
        assert data["sparks"] and data["compare"], page
    assert with_data == len(ALL_UNITS)


@pytest.mark.parametrize(
    ("level", "code", "lines"),
    [
        ("branch", "LIF-JS", ["LIF-JS-01", "LIF-JS-02", "LIF-JS"]),  # children, then itself
        ("sub_branch", "LIF-JS-01", ["LIF-JS-01", "LIF-JS"]),  # a leaf: itself and its parent
        ("subsidiary", "LIF", ["LIF-JS", "LIF-SH", "LIF"]),
    ],
)
def test_build_site_hostile_chart_names_show_as_written(
    hostile_site: Site, level: str, code: str, lines: list[str]
) -> None:
    site_dir, _ = hostile_site
    data = page_data((site_dir / page_relpath(level, code)).read_text(encoding="utf-8"))
    traces = data["compare"]["claims_cycle_time_days"]["data"]
    shown = [plotly_shown(t["name"]) for t in traces]
    assert [text for text, _ in shown] == [NAMES[c] for c in lines] + ["Target 目标"]
    assert [tags for _, tags in shown if tags] == []


def test_build_site_hostile_unit_names_show_as_written_in_headings(hostile_site: Site) -> None:
    site_dir, _ = hostile_site
    for level, code, _ in ALL_UNITS:
        content = (site_dir / page_relpath(level, code)).read_text(encoding="utf-8")
        heading = element_text(content, r'<h1 class="hero__title">(.*?)</h1>')
        assert heading == NAMES[code] + code, code
        title = element_text(content, r"<title>(.*?)</title>")
        assert title.startswith(NAMES[code] + " · "), code


def test_build_site_hostile_metric_labels_show_as_written(hostile_site: Site) -> None:
    site_dir, _ = hostile_site
    content = (site_dir / page_relpath("branch", "LIF-JS")).read_text(encoding="utf-8")
    page = parse_page(content)
    for i, (metric, label, label_zh, *_) in enumerate(METRICS):
        tile_label = element_text(
            # the tile's own article: a held-KPI notice above the tiles names the metric too
            content,
            rf'<article [^>]*data-metric="{metric}".*?<h3 class="tile__label"[^>]*>(.*?)</h3>',
        )
        assert tile_label == hostile_label(i, label), metric
        assert hostile_label(i + 1, label_zh) in page.attribute_values("data-zh"), metric


def test_build_site_hostile_source_names_show_as_written(hostile_site: Site) -> None:
    site_dir, result = hostile_site
    sources = {hostile_label(2, "claims"), hostile_label(3, HELD_SOURCE)}
    quality = parse_page((site_dir / "quality.html").read_text(encoding="utf-8"))
    assert set(quality.attribute_values("data-source")) == sources
    held = hostile_label(3, HELD_SOURCE)
    for page in result.pages:
        notice = element_text(
            page.read_text(encoding="utf-8"), r'<p class="notice notice--held"[^>]*>(.*?)</p>'
        )
        assert notice.startswith(f"{held} held back by "), page


def test_build_site_hostile_search_index_keeps_names_exact(hostile_site: Site) -> None:
    site_dir, _ = hostile_site
    script = (site_dir / "assets" / "units.js").read_text(encoding="utf-8")
    assert [c for c in SCRIPT_BREAKERS if c in script] == []
    units = json.loads(script.removeprefix("window.OPSVALUE_UNITS = ").rstrip().rstrip(";"))
    assert {u["c"]: u["n"] for u in units} == NAMES
