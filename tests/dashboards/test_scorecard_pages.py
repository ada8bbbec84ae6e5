"""The value-management sections against the marts: each figure a page shows equals the row it
comes from, read here straight from the DuckDB file with SQL of its own (issue 15, item 5)."""

from __future__ import annotations

import html
import math
import re
from datetime import date
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import pytest

from dashboards import SiteResult
from dashboards.figures import bridge_spec
from dashboards.site import page_relpath
from tests.dashboards.reading import page_data, parse_page
from tests.dashboards.synthetic import (
    ALL_UNITS,
    BUILDING_BLOCK,
    PARTIAL_METRIC,
    TINY_UNIT,
    UNSCORED,
    hostile_names,
)

Site = tuple[Path, SiteResult]
STREAM_EXCLUDED = ("ops_cost_cny", "value_created_cny", "net_value_cny")
SCORED_UNITS = [(level, code) for level, code, _ in ALL_UNITS if (level, code) != UNSCORED]


def read(site_dir: Path, level: str, code: str) -> str:
    return (site_dir / page_relpath(level, code)).read_text(encoding="utf-8")


def section(content: str, cls: str) -> str:
    match = re.search(rf'<section class="panel {cls}"[^>]*>.*?</section>', content, re.S)
    assert match, cls
    return match.group(0)


def attrs_of(fragment: str, tag: str = "section") -> dict[str, str | None]:
    return next(attrs for name, attrs in parse_page(fragment).tags if name == tag)


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def latest_score(warehouse: Path, level: str, code: str) -> dict:
    cols = (
        "period_start, score, grade, rank_in_siblings, rank_in_tier, rank_band_low,"
        " rank_band_high, is_partial, kpis_scored, kpis_in_profile, parent_code"
    )
    rows = query(
        warehouse,
        f"""
        select {cols} from marts.fct_unit_scores
        where org_level = ? and org_code = ?
        order by period_start desc limit 1
        """,
        [level, code],
    )
    return dict(zip([c.strip() for c in cols.split(",")], rows[0], strict=True))


def siblings_ranked(warehouse: Path, level: str, parent: str | None, month: date) -> int:
    return query(
        warehouse,
        """
        select count(*) from marts.fct_unit_scores
        where org_level = ? and period_start = ? and parent_code is not distinct from ?
            and rank_in_siblings is not null
        """,
        [level, month, parent],
    )[0][0]


@pytest.mark.parametrize(("level", "code"), SCORED_UNITS)
def test_score_header_equals_the_unit_scores_row(
    level: str, code: str, synthetic_site: Site, synthetic_warehouse: Path
) -> None:
    site_dir, _ = synthetic_site
    header = section(read(site_dir, level, code), "scorehead")
    attrs = attrs_of(header)
    row = latest_score(synthetic_warehouse, level, code)
    assert 0 <= row["score"] <= 100  # plausibility of the fixture itself
    assert float(attrs["data-score"]) == row["score"]
    assert attrs["data-grade"] == row["grade"]
    assert attrs["data-month"] == row["period_start"].isoformat()
    assert attrs["data-partial"] == ("true" if row["is_partial"] else "false")
    shown = text(header)
    assert f"{row['score']:.1f} {row['grade']}" in shown
    assert f"{row['kpis_scored']} / {row['kpis_in_profile']}" in shown
    if level == "group":
        assert "The group has no peers" in shown and "Rank among peers" not in shown
        return
    assert int(attrs["data-rank-siblings"]) == row["rank_in_siblings"]
    assert int(attrs["data-rank-tier"]) == row["rank_in_tier"]
    assert int(attrs["data-band-low"]) == row["rank_band_low"]
    assert int(attrs["data-band-high"]) == row["rank_band_high"]
    count = siblings_ranked(synthetic_warehouse, level, row["parent_code"], row["period_start"])
    assert 1 <= row["rank_in_siblings"] <= count
    assert f"{row['rank_in_siblings']} of {count} " in shown
    low, high = row["rank_band_low"], row["rank_band_high"]
    assert (f"{low}–{high}" if low != high else f"Rank band {low}") in shown


def test_score_header_names_the_three_kpis_that_moved_it_most(
    synthetic_site: Site, synthetic_warehouse: Path
) -> None:
    site_dir, _ = synthetic_site
    for level, code in SCORED_UNITS:
        page = read(site_dir, level, code)
        movers = re.findall(
            r'<li data-metric="([^"]+)" data-contribution="([^"]+)">', section(page, "scorehead")
        )
        expected = query(
            synthetic_warehouse,
            """
            select metric_name, contribution from marts.fct_score_contributions
            where org_level = ? and org_code = ? and contribution <> 0
                and period_start = (
                    select max(period_start) from marts.fct_unit_scores
                    where org_level = ? and org_code = ?
                )
            order by abs(contribution) desc, metric_name
            limit 3
            """,
            [level, code, level, code],
        )
        assert [(m, float(c)) for m, c in movers] == expected, code
        assert len(expected) == (2 if level == "center" else 3), code
        for metric, _ in movers:  # each links to its tile, which is on the page
            assert f'href="#tile-{metric.replace("_", "-")}"' in section(page, "scorehead")
            assert f'id="tile-{metric.replace("_", "-")}"' in page


def test_partial_score_is_flagged_not_zeroed(
    synthetic_site: Site, synthetic_warehouse: Path
) -> None:
    site_dir, _ = synthetic_site
    header = section(read(site_dir, "sub_branch", TINY_UNIT), "scorehead")
    row = latest_score(synthetic_warehouse, "sub_branch", TINY_UNIT)
    assert row["is_partial"] and row["score"] > 0
    shown = text(header)
    assert f"{row['score']:.1f}" in shown and "partial" in shown
    assert "Left out of the score · 1" in shown and "small base" in shown
    assert f'<li data-metric="{PARTIAL_METRIC}">' in header


def test_unit_without_a_score_says_so(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    header = section(read(site_dir, *UNSCORED), "scorehead")
    shown = text(header)
    assert "Not scored: none of the profile's KPIs has a usable value." in shown
    assert "Rank among peers" not in shown and "Moved the score most" not in shown
    assert attrs_of(header)["data-score"] == ""


def expected_bridge(warehouse: Path, level: str, code: str) -> dict[str, float | None]:
    """The bridge's month: the latest with an operations cost (the net needs one)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(
            """
            select * from marts.fct_value_created
            where org_level = ? and org_code = ?
            order by ops_cost_cny is not null desc, period_start desc
            limit 1
            """,
            [level, code],
        )
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


@pytest.mark.parametrize(("level", "code"), [(lvl, c) for lvl, c, _ in ALL_UNITS])
def test_value_bridge_equals_the_mart_and_nets_cost_against_the_streams(
    level: str, code: str, synthetic_site: Site, synthetic_warehouse: Path
) -> None:
    site_dir, _ = synthetic_site
    page = read(site_dir, level, code)
    bridge = section(page, "bridge")
    row = expected_bridge(synthetic_warehouse, level, code)
    assert attrs_of(bridge)["data-month"] == row["period_start"].isoformat()
    shown = {
        line: float(value) if value else None
        for line, value in re.findall(r'data-line="([^"]+)" data-value="([^"]*)"', bridge)
    }
    streams = {k: v for k, v in row.items() if k.endswith("_cny") and k not in STREAM_EXCLUDED}
    assert len(streams) == 4
    cost = row["ops_cost_cny"]
    assert shown["ops_cost_cny"] == (None if cost is None else -cost)
    for name, value in streams.items():
        assert shown[name] == value, name
    assert shown["value_created_cny"] == row["value_created_cny"]
    assert shown["net_value_cny"] == row["net_value_cny"]
    # the mart's definition, computed here: net = the streams' sum less the operations cost
    created = sum(streams.values())
    assert math.isclose(row["value_created_cny"], created, rel_tol=1e-12)
    if cost is None:
        assert row["net_value_cny"] is None
    else:
        assert math.isclose(row["net_value_cny"], created - cost, rel_tol=1e-12)
    # the waterfall: its steps add up to its total bar, which is the net (or, without a cost,
    # the value created); plotly's figures are rounded to 6 significant digits
    trace = page_data(page)["bridge"]["data"][0]
    *steps, total = trace["x"]
    assert trace["measure"] == ["relative"] * len(steps) + ["total"]
    assert len(steps) == len(streams) + (cost is not None)
    expected_total = created if cost is None else created - cost
    assert math.isclose(sum(steps), expected_total, rel_tol=1e-5)
    assert math.isclose(total, expected_total, rel_tol=1e-5)


def test_bridge_spec_is_a_valid_plotly_figure_with_both_languages() -> None:
    spec = bridge_spec(
        [("Operations cost", "运营成本", -100.0), ("<b>Savings</b>", "节约", 30.0)],
        ("Net value", "净价值", -70.0),
    )
    go.Figure(spec)  # raises on any unknown property
    trace = spec["data"][0]
    assert trace["y"] == ["Operations cost", "&lt;b&gt;Savings&lt;/b&gt;", "Net value"]
    assert trace["meta"]["zh"] == ["运营成本", "节约", "净价值"]
    assert trace["x"] == [-100.0, 30.0, -70.0]


def test_value_tree_runs_from_goals_to_drivers_with_the_units_values(
    synthetic_site: Site, synthetic_warehouse: Path
) -> None:
    site_dir, _ = synthetic_site
    page = read(site_dir, "branch", "LIF-JS")
    tree = section(page, "vtree")
    # quality and risk has no KPI in the fixture: no empty branch
    goals = re.findall(r'class="vnode vnode--goal" data-node="([^"]+)"', tree)
    assert goals == ["customer_experience", "cost_efficiency"]
    dims = re.findall(r'class="vnode vnode--dimension" data-node="([^"]+)"', tree)
    assert dims == ["service", "value", "efficiency"]
    kpis = re.findall(r'class="vnode vnode--kpi" data-metric="([^"]+)"', tree)
    tiles = re.findall(r'<article class="[^"]*" id="tile-[^"]*" data-metric="([^"]+)"', page)
    assert sorted(kpis) == sorted(tiles)
    for metric in kpis:  # every KPI node goes to its tile
        assert f'href="#tile-{metric.replace("_", "-")}"' in tree
    cycle = re.search(r'data-metric="claims_cycle_time_days".*?</details>', tree, re.S).group(0)
    assert re.search(r'vnode--driver" data-metric="claims_auto_rate".*?>↓<', cycle, re.S)
    # the building block under the KPI computed from it, with the unit's own latest value
    complaints = re.search(
        r'data-metric="complaints_per_10k_policies".*?</details>', tree, re.S
    ).group(0)
    ((value,),) = query(
        synthetic_warehouse,
        """
        select value from marts.fct_kpi_values
        where metric_name = ? and org_level = 'branch' and org_code = 'LIF-JS'
        order by period_start desc limit 1
        """,
        [BUILDING_BLOCK],
    )
    node = re.search(rf'vnode--formula" data-metric="{BUILDING_BLOCK}".*?</li>', complaints, re.S)
    assert f">{value:,.0f}</span>" in node.group(0)
    assert 'href="#tile-policies-in-force"' not in tree  # no tile: no link


def league_rows(content: str) -> list[str]:
    return re.findall(r'<tr data-code="([^"]+)" data-partial', content)


@pytest.mark.parametrize("level", ["subsidiary", "branch", "sub_branch", "center"])
def test_league_table_lists_the_tier_in_rank_order(
    level: str, synthetic_site: Site, synthetic_warehouse: Path
) -> None:
    site_dir, _ = synthetic_site
    content = (site_dir / "league" / f"{level.replace('_', '-')}.html").read_text("utf-8")
    rows = query(
        synthetic_warehouse,
        """
        select org_code, score, grade, rank_in_tier, is_partial from marts.fct_unit_scores
        where org_level = ?
            and period_start = (
                select max(period_start) from marts.fct_unit_scores where org_level = ?
            )
        order by rank_in_tier nulls last, org_code
        """,
        [level, level],
    )
    assert league_rows(content) == [r[0] for r in rows]
    ranked = sum(1 for r in rows if r[3] is not None)
    for code, score, grade, rank, partial in rows:
        row = re.search(rf'<tr data-code="{code}".*?</tr>', content, re.S).group(0)
        assert f'data-partial="{"true" if partial else "false"}"' in row
        if score is not None:
            assert f">{score:.1f}</td>" in row and f">{grade}</span>" in row
            assert f">{rank} / {ranked}</td>" in row
    # the tier's middle, computed here by hand: five or more scored units only
    scores = sorted(r[1] for r in rows if r[1] is not None)
    stats = re.search(r'<p class="tier-stats"[^>]*>', content).group(0)
    if len(scores) >= 5:
        n = len(scores)
        median = (scores[(n - 1) // 2] + scores[n // 2]) / 2
        assert math.isclose(float(re.search(r'data-median="([^"]+)"', stats).group(1)), median)
    else:
        assert "data-median" not in stats and "Fewer than five units scored" in content


def test_league_tables_are_linked_from_every_unit_page(synthetic_site: Site) -> None:
    site_dir, _ = synthetic_site
    for level, code, _ in ALL_UNITS:
        page = read(site_dir, level, code)
        links = re.findall(r'href="((?:\.\./)?league/[a-z-]+\.html)"', page)
        assert len(links) == 4, code
        for link in links:
            assert (site_dir / page_relpath(level, code)).parent.joinpath(link).is_file()


def test_hostile_names_in_the_league_table_stay_text(hostile_site: Site) -> None:
    site_dir, _ = hostile_site
    content = (site_dir / "league" / "sub-branch.html").read_text("utf-8")
    names = hostile_names()
    for code in league_rows(content):
        row = re.search(rf'<tr data-code="{code}".*?</tr>', content, re.S).group(0)
        assert (
            html.unescape(re.search(r'class="unit-name"[^>]*>(.*?)</a>', row).group(1))
            == (names[code])
        )
