from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

import duckdb
import plotly.graph_objects as go
import plotly.offline
import pytest

from dashboards import SiteResult, build_site
from dashboards import site as site_module
from dashboards.marts import read_marts
from dashboards.site import MAX_PAGE_BYTES, assets_href_for, page_relpath
from tests.dashboards.conftest import BUILT_AT
from tests.dashboards.synthetic import (
    ALL_UNITS,
    BUILDING_BLOCK,
    HELD_CHECK,
    HELD_KPI,
    HELD_OWNER,
    HELD_SOURCE,
    METRICS,
    STALE_METRIC,
    TINY_UNIT,
    build_warehouse,
    fct_statuses,
    metric_value,
)

Site = tuple[Path, SiteResult]


def page_path(site_dir: Path, level: str, code: str) -> Path:
    return site_dir / page_relpath(level, code)


def read(site_dir: Path, level: str, code: str) -> str:
    return page_path(site_dir, level, code).read_text(encoding="utf-8")


TILE = re.compile(
    r'<article class="([^"]*)" id="tile-[^"]*" data-metric="([^"]+)" data-status="([^"]+)">'
    r"(.*?)</article>",
    re.S,
)


def tiles(page: str) -> dict[str, tuple[str, str, str]]:
    """metric_name -> (classes, status, inner html) of every tile on a page."""
    return {m: (cls, status, body) for cls, m, status, body in TILE.findall(page)}


def text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_build_site_writes_a_page_for_every_unit_and_center(synthetic_site: Site) -> None:
    site_dir, result = synthetic_site
    for level, code, name in ALL_UNITS:
        path = page_path(site_dir, level, code)
        assert path in result.pages, code
        assert name in path.read_text(encoding="utf-8")
    assert site_dir / "catalog.html" in result.pages
    assert site_dir / "quality.html" in result.pages
    leagues = [site_dir / "league" / f"{t}.html" for t in ("subsidiary", "branch", "sub-branch")]
    assert all(page in result.pages for page in [*leagues, site_dir / "league" / "center.html"])
    assert len(result.pages) == len(ALL_UNITS) + 2 + 4


def test_build_site_reports_sizes_and_assets(synthetic_site: Site) -> None:
    site_dir, result = synthetic_site
    assert result.bytes == sum(p.stat().st_size for p in result.pages)
    assert result.largest_page_bytes == max(p.stat().st_size for p in result.pages)
    assert result.seconds > 0
    assert sorted(p.name for p in result.assets_written) == [
        "plotly.min.js",
        "site.css",
        "site.js",
        "units.js",
    ]
    assert result.assets_bytes > len(plotly.offline.get_plotlyjs())


def test_build_site_index_is_the_group_page_with_every_unit_linked(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    assert "<h1" in index and "Harbour Group" in index
    assert 'id="unit-search"' in index
    for level, code, _ in ALL_UNITS[1:]:
        assert f'href="{page_relpath(level, code)}" data-code="{code}"' in index, code


def test_build_site_every_link_resolves(synthetic_site: Site) -> None:
    site_dir, result = synthetic_site
    for page in result.pages:
        for href in re.findall(r'href="([^"#]+\.html)', page.read_text(encoding="utf-8")):
            assert (page.parent / href).resolve().is_file(), f"{page.name} -> {href}"


def test_build_site_breadcrumbs_go_up_to_the_group(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    page = read(site_dir, "sub_branch", "LIF-JS-03")
    crumbs = re.search(r'<ol class="crumbs".*?</ol>', page, re.S).group(0)
    assert re.findall(r'data-code="([^"]+)"', crumbs) == ["GRP", "LIF", "LIF-SH"]
    assert "../index.html" in crumbs and "../branch/lif-sh.html" in crumbs
    assert text(crumbs).endswith("Kunshan Office")


def test_build_site_moved_sub_branch_is_under_its_current_parent(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    drill = re.compile(r'<nav class="drill".*?</nav>', re.S)
    jiangsu = drill.search(read(site_dir, "branch", "LIF-JS")).group(0)
    shanghai = drill.search(read(site_dir, "branch", "LIF-SH")).group(0)
    assert "LIF-JS-03" not in jiangsu
    assert 'data-code="LIF-JS-03"' in shanghai


def test_build_site_tile_status_matches_the_kpi_table(
    synthetic_site: Site, synthetic_warehouse: Path
) -> None:
    site_dir, _ = synthetic_site
    seen = set()
    for level, code, _ in ALL_UNITS:
        expected = fct_statuses(synthetic_warehouse, level, code)
        shown = tiles(read(site_dir, level, code))
        assert set(shown) == set(expected), code
        for metric, (classes, status, body) in shown.items():
            assert status == (expected[metric] or "none"), (code, metric)
            assert f"tile--{status}" in classes
            if status != "none":
                assert f'class="status status--{status}"' in body
            seen.add(status)
    assert seen == {"green", "amber", "red", "none"}, "the fixture must show every status"


def test_build_site_tile_shows_value_target_volume_and_changes(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    _, status, body = tiles(read(site_dir, "branch", "LIF-JS"))["claims_cycle_time_days"]
    k = 3  # LIF-JS is the fourth unit of the fixture
    latest, previous, year_ago = (metric_value("claims_cycle_time_days", k, i) for i in (14, 13, 2))
    shown = text(body)
    assert f"{latest:.1f} d" in shown
    assert "Target ≤ 5.0 d" in shown
    assert "n = 511" in shown
    assert f"MoM = ±0.0 d Sep 26: {previous:.1f} d" in shown
    assert f"YoY ▼ −0.6 d Oct 25: {year_ago:.1f} d" in shown
    assert 'class="change change--good"' in body  # a shorter cycle time is good


def test_build_site_money_and_percent_formats(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    shown = tiles(read(site_dir, "group", "GRP"))
    assert re.search(r"¥1,\d{3},\d{3}<", shown["op_cost_cny"][2])
    assert re.search(r'class="tile__value">\d+\.\d%<', shown["claims_auto_rate"][2])
    assert re.search(r'class="tile__value">\d+ s<', shown["answer_time_seconds"][2])


def test_build_site_missing_previous_month_shows_no_change(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    _, _, body = tiles(read(site_dir, "sub_branch", "LIF-JS-01"))["service_level_20s"]
    assert "MoM – Sep 26: –" in text(body)


def test_build_site_flags_yoy_across_definition_versions(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    shown = tiles(read(site_dir, "group", "GRP"))
    assert "definition changed since v1 → v2" in text(shown["claims_auto_rate"][2])
    assert "definition changed" not in text(shown["claims_cycle_time_days"][2])


def test_build_site_stale_metric_tiles_are_greyed_and_labelled(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    for level, code in (("group", "GRP"), ("center", "C-CC")):
        shown = tiles(read(site_dir, level, code))
        classes, _, body = shown[STALE_METRIC]
        assert "tile--stale" in classes
        assert 'class="stale-badge"' in body and ">stale<" in body
        assert all("tile--stale" not in c for m, (c, _, _) in shown.items() if m != STALE_METRIC)


def test_build_site_a_kpi_held_at_one_unit_is_stale_there_only(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    check, metric, level, code, reason, _ = HELD_KPI
    classes, _, body = tiles(read(site_dir, level, code))[metric]
    assert "tile--stale" in classes
    badge = re.search(r'class="stale-badge"[^>]* title="([^"]*)"', body)
    assert badge, body
    assert check in html.unescape(badge.group(1)) and reason in html.unescape(badge.group(1))
    for other_level, other in (("sub_branch", "PNC-BJ-02"), ("branch", "PNC-BJ")):
        classes, _, _ = tiles(read(site_dir, other_level, other))[metric]
        assert "tile--stale" not in classes, other


def test_build_site_names_held_kpis_in_the_notice_and_on_the_quality_page(
    synthetic_site: Site,
) -> None:
    site_dir, result = synthetic_site
    check, metric, level, code, reason, _ = HELD_KPI
    notice = re.compile(
        rf'<p class="notice notice--held-kpi" data-metric="{metric}" data-org-code="{code}" '
        rf'data-check="{check}" title="([^"]*)"[^>]*>([^<]*)</p>'
    )
    for page in result.pages:
        found = notice.search(page.read_text(encoding="utf-8"))
        assert found, page
        assert html.unescape(found.group(1)) == reason
        assert f"at {level} {code} held back by {check}" in html.unescape(found.group(2))
    quality = (site_dir / "quality.html").read_text(encoding="utf-8")
    table = quality[quality.index('id="held-kpis"') :]
    assert f'data-metric="{metric}" data-org-code="{code}"' in table
    assert html.escape(reason, quote=False) in table


def test_build_site_publication_notice_on_every_page(synthetic_site: Site) -> None:
    site_dir, result = synthetic_site
    held = f"{HELD_SOURCE} held back by {HELD_CHECK} since 2026-11-01 05:00 — owner {HELD_OWNER}"
    for page in result.pages:
        content = page.read_text(encoding="utf-8")
        assert "Data last published 2026-11-02 06:00" in content, page
        assert html.escape(held, quote=True) in content, page
        assert "All data gates passing" not in content


def test_build_site_ranks_children_and_the_unit_among_siblings(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    page = read(site_dir, "branch", "LIF-JS")
    tables = re.findall(
        r'<div data-rank-metric="claims_cycle_time_days"[^>]*>.*?</table>', page, re.S
    )
    children, siblings = tables
    assert re.findall(r'<tr class="[^"]*" data-code="([^"]+)"', children) == [
        "LIF-JS-01",
        "LIF-JS-02",
    ]
    assert re.findall(r'<tr class="([^"]*)" data-code="LIF-JS"', siblings) == ["is-self"]
    assert "Rank 1 of 2 among Harbour Life branches" in siblings


def test_build_site_small_base_is_listed_unranked(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    page = read(site_dir, "branch", "PNC-BJ")
    rows = re.findall(rf'<tr class="is-small" data-code="{TINY_UNIT}".*?</tr>', page, re.S)
    assert rows, "the tiny unit must be flagged in the ranking"
    for row in rows:
        assert '<td class="r num">–</td>' in row
        assert "small base" in row


def test_build_site_about_links_reach_catalog_anchors(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    catalog = (site_dir / "catalog.html").read_text(encoding="utf-8")
    page = read(site_dir, "branch", "LIF-JS")
    anchors = re.findall(r'href="\.\./catalog\.html#([^"]+)"', page)
    assert len(anchors) == len(METRICS)
    for anchor in anchors:
        assert f'id="{anchor}"' in catalog
    _, _, body = tiles(page)["claims_auto_rate"]
    assert "Claims Data Office" in body and "v2" in body


def test_build_site_labels_in_english_and_chinese_from_the_catalog(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    shown = tiles(read(site_dir, "group", "GRP"))
    for name, label, label_zh, *_ in METRICS:
        body = shown[name][2]
        assert f'data-zh="{label_zh}">{html.escape(label)}</h3>' in body
    assert 'data-lang-set="zh"' in read(site_dir, "group", "GRP")


def test_build_site_catalog_groups_by_owner_with_targets_and_versions(
    synthetic_site: Site,
) -> None:
    site_dir, _ = synthetic_site
    catalog = (site_dir / "catalog.html").read_text(encoding="utf-8")
    owners = re.findall(r'<section class="owner" data-owner="([^"]+)"', catalog)
    assert owners == sorted(owners) and "Claims Data Office" in owners
    card = re.search(
        r'<article class="metric-card" id="metric-claims-auto-rate">.*?</article>', catalog, re.S
    ).group(0)
    shown = text(card)
    assert "Reopened claims excluded" in shown and "v2" in shown
    # the change note of version 2, beside it
    assert "Reopened claims were counted twice" in shown
    assert "Claims operations" in shown and "Data office" in shown
    assert "≥ 60.0%" in shown and "claims@example.com" in shown
    assert "sum(numerator_claims_auto_rate)" in shown
    stale_card = re.search(r'id="metric-service-level-20s">.*?</article>', catalog, re.S).group(0)
    assert "tag--stale" in stale_card


def test_build_site_building_blocks_are_in_the_catalog_not_on_tiles(synthetic_site: Site) -> None:
    site_dir, result = synthetic_site
    for page in result.pages:
        # a tile never; the value tree shows it under the KPIs computed from it
        assert BUILDING_BLOCK not in tiles(page.read_text(encoding="utf-8")), page
    catalog = (site_dir / "catalog.html").read_text(encoding="utf-8")
    card = re.search(r'id="metric-policies-in-force">.*?</article>', catalog, re.S).group(0)
    assert "building block" in card


def test_build_site_quality_page_by_source_and_owner(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    quality = (site_dir / "quality.html").read_text(encoding="utf-8")
    assert re.findall(r'<section class="panel" data-owner="([^"]+)"', quality) == [
        "claims",
        "customer_service",
    ]
    held_row = re.search(r'<tr data-source="contact_center" data-state="held">.*?</tr>', quality)
    assert held_row and HELD_CHECK in held_row.group(0)
    assert "not_null_id: 310" in quality  # 10 + the 300 of the held month
    assert "cell--warn" in quality and "cell--good" in quality  # 97.3% and over 99%


def test_build_site_search_index_lists_every_unit(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    script = (site_dir / "assets" / "units.js").read_text(encoding="utf-8")
    units = json.loads(script.removeprefix("window.OPSVALUE_UNITS = ").rstrip().rstrip(";"))
    assert {(u["c"], u["n"]) for u in units} == {(code, name) for _, code, name in ALL_UNITS}
    assert {u["p"] for u in units} >= {"index.html", "sub_branch/lif-js-03.html"}


def test_build_site_has_no_network_references(synthetic_site: Site) -> None:
    site_dir, result = synthetic_site
    for path in [*result.pages, *(site_dir / "assets").glob("site.*")]:
        content = path.read_text(encoding="utf-8")
        assert "http://" not in content and "https://" not in content, path
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    assert '<script src="assets/plotly.min.js"></script>' in index
    branch = read(site_dir, "branch", "LIF-JS")
    assert '<script src="../assets/plotly.min.js"></script>' in branch


def test_build_site_pages_stay_under_the_weight_limit(synthetic_site: Site) -> None:
    _, result = synthetic_site
    assert result.largest_page_bytes < MAX_PAGE_BYTES
    assert all(p.stat().st_size < MAX_PAGE_BYTES for p in result.pages)


def page_data(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page, re.S)
    return json.loads(raw.group(1).replace("<\\/", "</"))


def test_build_site_figure_specs_are_valid_and_counted(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    page = read(site_dir, "branch", "LIF-JS")
    data = page_data(page)
    assert set(data["compare"]) == set(tiles(page))
    assert len(data["sparks"]) == len(tiles(page)) == page.count('data-spark="')
    for spec in [*data["sparks"].values(), *data["compare"].values()]:
        go.Figure(spec)
    names = [t["name"] for t in data["compare"]["claims_cycle_time_days"]["data"]]
    assert names == ["Nanjing Office", "Suzhou Office", "Jiangsu Branch", "Target 目标"]


def test_build_site_rebuild_without_changes_rewrites_nothing(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    site_dir = tmp_path / "site"
    first = build_site(synthetic_warehouse, site_dir, built_at=BUILT_AT)
    for path in first.pages:  # back-date so an unwanted rewrite shows within one clock tick
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    second = build_site(synthetic_warehouse, site_dir)  # a later build time
    assert second.pages_written == [] and second.assets_written == []
    assert all(p.stat().st_mtime_ns == 1_000_000_000 for p in second.pages)


def test_build_site_rebuild_rewrites_only_pages_whose_data_changed(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    warehouse = Path(shutil.copy(synthetic_warehouse, tmp_path / "copy.duckdb"))
    site_dir = tmp_path / "site"
    build_site(warehouse, site_dir, built_at=BUILT_AT)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """
            update marts.fct_kpi_values set value = value + 1
            where org_code = 'LIF-JS-01' and metric_name = 'claims_cycle_time_days'
              and period_start = date '2026-10-01'
            """
        )
    result = build_site(warehouse, site_dir, built_at=BUILT_AT)
    # the unit itself, its parent's ranking and chart, its sibling's ranking: nothing else
    assert sorted(p.relative_to(site_dir).as_posix() for p in result.pages_written) == [
        "branch/lif-js.html",
        "sub_branch/lif-js-01.html",
        "sub_branch/lif-js-02.html",
    ]


def test_build_site_removes_pages_no_longer_in_the_site(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    """A closed unit's page goes; files the build did not write stay, even pages."""
    warehouse = Path(shutil.copy(synthetic_warehouse, tmp_path / "copy.duckdb"))
    site_dir = tmp_path / "site"
    build_site(warehouse, site_dir, built_at=BUILT_AT)
    foreign = [site_dir / "notes.txt", site_dir / "branch" / "hand-made.html"]
    for path in foreign:
        path.write_text("not ours", encoding="utf-8")
    with duckdb.connect(str(warehouse)) as con:
        # the unit closed: no current row, no values
        con.execute(
            "update marts.dim_org set is_current = false, valid_to = date '2026-10-01'"
            " where org_code = ?",
            [TINY_UNIT],
        )
        con.execute("delete from marts.fct_kpi_values where org_code = ?", [TINY_UNIT])
    result = build_site(warehouse, site_dir, built_at=BUILT_AT)
    gone = page_path(site_dir, "sub_branch", TINY_UNIT)
    assert result.removed == [gone] and not gone.exists()
    assert all(path.read_text(encoding="utf-8") == "not ours" for path in foreign)


def test_build_site_rewrites_stale_plotlyjs(synthetic_warehouse: Path, tmp_path: Path) -> None:
    build_site(synthetic_warehouse, tmp_path / "site", built_at=BUILT_AT)
    asset = tmp_path / "site" / "assets" / "plotly.min.js"
    asset.write_text("/* an older plotly.js */", encoding="utf-8")
    result = build_site(synthetic_warehouse, tmp_path / "site", built_at=BUILT_AT)
    assert asset in result.assets_written
    assert asset.read_text(encoding="utf-8") == plotly.offline.get_plotlyjs()


def test_build_site_leaves_the_warehouse_untouched(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    before = synthetic_warehouse.read_bytes()
    build_site(synthetic_warehouse, tmp_path / "site", built_at=BUILT_AT)
    assert synthetic_warehouse.read_bytes() == before


def test_build_site_degrades_without_the_coming_columns(tmp_path: Path) -> None:
    """Before targets, gates and the catalog's new columns exist, the site still builds."""
    warehouse = build_warehouse(tmp_path / "minimal.duckdb", full=False)
    site_dir = tmp_path / "site"
    result = build_site(warehouse, site_dir, built_at=BUILT_AT)
    assert len(result.pages) == len(ALL_UNITS) + 2
    page = read(site_dir, "branch", "LIF-JS")
    assert {status for _, status, _ in tiles(page).values()} == {"none"}
    assert "status--" not in "".join(body for _, _, body in tiles(page).values())
    assert "Data last published" not in page and "held back" not in page
    assert "All data gates passing" not in page and "stale-badge" not in page
    assert "No target" in page
    quality = (site_dir / "quality.html").read_text(encoding="utf-8")
    assert "not published yet" in quality
    catalog = (site_dir / "catalog.html").read_text(encoding="utf-8")
    assert 'id="metric-claims-auto-rate"' in catalog


def test_build_site_all_gates_passing_notice(synthetic_warehouse: Path, tmp_path: Path) -> None:
    warehouse = Path(shutil.copy(synthetic_warehouse, tmp_path / "copy.duckdb"))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update meta.source_gate_state set state = 'ok'")
        con.execute("delete from meta.stale_metrics")
        con.execute("delete from meta.kpi_holds")
    build_site(warehouse, tmp_path / "site", built_at=BUILT_AT)
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "All data gates passing" in index
    assert "held back" not in index and "tile--stale" not in index


def test_build_site_empty_fct_renders_no_data_message(tmp_path: Path) -> None:
    warehouse = build_warehouse(tmp_path / "empty.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        for table in ("fct_kpi_values", "fct_value_created", "fct_unit_scores"):
            con.execute(f"delete from marts.{table}")
    build_site(warehouse, tmp_path / "site", built_at=BUILT_AT)
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "No data published yet." in index and "Harbour Group" in index
    assert "plotly.min.js" not in index and 'id="directory"' in index


def test_build_site_without_a_warehouse_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no warehouse"):
        build_site(tmp_path / "missing.duckdb", tmp_path / "site")


def test_build_site_without_the_kpi_table_raises(tmp_path: Path) -> None:
    warehouse = build_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table marts.fct_kpi_values")
    with pytest.raises(ValueError, match="marts.fct_kpi_values"):
        build_site(warehouse, tmp_path / "site")


def test_page_relpath_and_assets_href_for() -> None:
    assert page_relpath("group", "G001") == PurePosixPath("index.html")
    assert assets_href_for(PurePosixPath("index.html")) == "assets"
    branch = page_relpath("branch", "B 12")
    assert branch == PurePosixPath("branch/b-12.html")
    assert assets_href_for(branch) == "../assets"


def test_build_site_lagging_metric_shows_its_own_month(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    """A cohort metric published a year behind shows its latest value "as of" its month."""
    warehouse = Path(shutil.copy(synthetic_warehouse, tmp_path / "copy.duckdb"))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """
            delete from marts.fct_kpi_values
            where metric_name = 'op_cost_cny' and period_start > date '2025-10-01'
            """
        )
    build_site(warehouse, tmp_path / "site", built_at=BUILT_AT)
    page = read(tmp_path / "site", "branch", "LIF-JS")
    cost = text(tiles(page)["op_cost_cny"][2])
    assert "as of Oct 2025" in cost and "¥1,0" in cost
    assert "as of" not in text(tiles(page)["claims_auto_rate"][2])
    assert "Operating cost" in page and "Sub-branches ranked · Oct 2025" in page


def site_bytes(site_dir: Path) -> dict[str, bytes]:
    return {
        path.relative_to(site_dir).as_posix(): path.read_bytes()
        for path in sorted(site_dir.rglob("*"))
        if path.is_file()
    }


def test_build_site_on_several_cores_writes_the_same_bytes(
    synthetic_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The units' pages rendered in shares by forked workers: the same site, byte for byte, as
    rendered one after another, with this process rendering the first share and the workers
    the rest."""
    one = build_site(synthetic_warehouse, tmp_path / "one", built_at=BUILT_AT, workers=1)
    renderers = tmp_path / "renderers.txt"
    original = site_module.render_org_page

    def noting_the_process(ctx, code):  # appends: each process's lines are its own
        with renderers.open("a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {code}\n")
        return original(ctx, code)

    monkeypatch.setattr(site_module, "PARALLEL_MIN_UNITS", 2)
    monkeypatch.setattr(site_module, "render_org_page", noting_the_process)
    three = build_site(synthetic_warehouse, tmp_path / "three", built_at=BUILT_AT, workers=3)
    assert site_bytes(tmp_path / "three") == site_bytes(tmp_path / "one")
    assert [p.relative_to(tmp_path / "three") for p in three.pages] == [
        p.relative_to(tmp_path / "one") for p in one.pages
    ]
    lines = [line.split() for line in renderers.read_text(encoding="utf-8").splitlines()]
    tree = site_module.site_context(read_marts(synthetic_warehouse)).tree
    order = [unit.code for unit in tree.ordered()]
    assert sorted(order) == sorted(code for _, code, _ in ALL_UNITS)
    here = [code for pid, code in lines if pid == str(os.getpid())]
    elsewhere = [code for pid, code in lines if pid != str(os.getpid())]
    assert here == order[0::3]  # this process: the first share of three, in order
    assert sorted(elsewhere) == sorted(order[1::3] + order[2::3])  # the workers: each unit once


def worker_raises(code: str) -> None:
    raise ValueError(f"cannot render {code}")


def worker_killed(code: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize(
    ("in_a_worker", "error", "match"),
    [
        (worker_raises, ValueError, "cannot render"),
        (worker_killed, site_module.SiteWorkerDied, "died"),
    ],
    ids=["raises", "killed"],
)
def test_build_site_a_worker_failing_fails_the_build_and_writes_nothing(
    synthetic_warehouse: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    in_a_worker,
    error: type[Exception],
    match: str,
) -> None:
    """A worker's exception comes back as itself; a killed worker is a clear error."""
    original = site_module.render_org_page
    parent = os.getpid()

    def failing_in_a_worker(ctx, code):
        if os.getpid() != parent:
            in_a_worker(code)
        return original(ctx, code)

    monkeypatch.setattr(site_module, "PARALLEL_MIN_UNITS", 2)
    monkeypatch.setattr(site_module, "render_org_page", failing_in_a_worker)
    with pytest.raises(error, match=match):
        build_site(synthetic_warehouse, tmp_path / "site", built_at=BUILT_AT, workers=2)
    assert not (tmp_path / "site").exists()


def test_build_site_refuses_fewer_than_one_worker(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        build_site(synthetic_warehouse, tmp_path / "site", built_at=BUILT_AT, workers=0)


ORPHANED_WORKER = """
import os, sys, time
from pathlib import Path
from dashboards import site
original, parent = site.render_org_page, os.getpid()

def stuck_in_a_worker(ctx, code):
    if os.getpid() != parent:
        print(os.getpid(), flush=True)
        time.sleep(120)
    return original(ctx, code)

site.PARALLEL_MIN_UNITS, site.render_org_page = 2, stuck_in_a_worker
site.build_site(Path(sys.argv[1]), Path(sys.argv[2]), workers=2)
"""


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited, not yet reaped by whoever adopted it


def test_build_site_a_worker_exits_when_its_parent_is_killed(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    """A worker whose parent died does not wait for it forever (holding copies of its files)."""
    builder = subprocess.Popen(
        [sys.executable, "-c", ORPHANED_WORKER, str(synthetic_warehouse), str(tmp_path / "s")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    worker = int(builder.stdout.readline())
    try:
        assert not process_gone(worker)
        builder.send_signal(signal.SIGKILL)
        builder.wait()
        deadline = time.monotonic() + 10
        while not process_gone(worker):
            assert time.monotonic() < deadline, "the worker outlived its parent"
            time.sleep(0.1)
    finally:
        builder.kill()
        if not process_gone(worker):
            os.kill(worker, signal.SIGKILL)
