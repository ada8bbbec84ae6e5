"""The "why it moved" views and the top movers, against marts.fct_kpi_attribution itself.

The waterfalls are read from the built pages (every row's numbers are in data- attributes) and
compared with the mart's rows, queried here in SQL; the top movers with a pick written in SQL
over the mart and the KPI table. Shaping and geometry get unit tests of their own.
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from dashboards import build_site
from dashboards.attribution import CHILD, OUTSIDE, OWN, Part, shape_attribution, top_movers
from dashboards.model import KpiPoint, MetricInfo, Tile
from dashboards.org_tree import OrgTree, OrgUnit
from dashboards.site import page_relpath
from dashboards.why_view import Segment, part_segments, waterfall
from tests.dashboards.conftest import BUILT_AT
from tests.dashboards.reading import movers, number, parse_page, waterfalls
from tests.dashboards.synthetic import ALL_UNITS, BUILDING_BLOCK, LATEST, SEGMENTED, UNITS

TOLERANCE = 1e-9
# every page with children: the parents of the attribution
PARENTS = [(level, code) for level, code, _, _ in UNITS if level != "sub_branch"]
MOVER_PAGES = [(level, code) for level, code, _, _ in UNITS if level in ("group", "subsidiary")]


def mart_rows(warehouse: Path, level: str, code: str) -> dict[tuple, dict[str, tuple]]:
    """The mart's rows of a parent in its metrics' latest months, by (metric, comparison,
    child_level) then child_code."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """
            select metric_name, comparison, child_level, child_code, rate_effect, mix_effect,
                contribution, parent_change
            from marts.fct_kpi_attribution
            where org_level = ? and org_code = ? and period_start = ?
            """,
            [level, code, LATEST],
        ).fetchall()
    found: dict[tuple, dict[str, tuple]] = {}
    for metric, comparison, child_level, child, rate, mix, contribution, change in rows:
        found.setdefault((metric, comparison, child_level), {})[child] = (
            rate,
            mix,
            contribution,
            change,
        )
    return found


def read_page(site_dir: Path, level: str, code: str) -> str:
    return (site_dir / page_relpath(level, code)).read_text(encoding="utf-8")


@pytest.mark.parametrize(("level", "code"), PARENTS)
def test_waterfall_bars_equal_the_mart_rows_and_sum_to_the_parent_change(
    level: str, code: str, synthetic_site, synthetic_warehouse: Path
) -> None:
    content = read_page(synthetic_site[0], level, code)
    expected = mart_rows(synthetic_warehouse, level, code)
    shown = [w for w in waterfalls(content) if not w.inputs]
    # every last-month and last-year breakdown of the unit is on its page, once
    assert sorted((w.metric, w.comparison, w.child_level) for w in shown) == sorted(
        key for key in expected if key[1] in ("mom", "yoy")
    )
    for wf in shown:
        mart = expected[(wf.metric, wf.comparison, wf.child_level)]
        bars = {(row["data-code"] if row["kind"] == "child" else code): row for row in wf.rows}
        assert sorted(bars) == sorted(mart), (wf.metric, wf.comparison)
        running = 0.0
        for row in wf.rows:
            child = row["data-code"] if row["kind"] == "child" else code
            rate, mix, contribution, change = mart[child]
            assert number(row["data-rate"]) == rate
            assert number(row["data-mix"]) == mix
            assert number(row["data-contribution"]) == contribution
            # each bar starts where the one before ended
            assert number(row["data-start"]) == pytest.approx(running, abs=TOLERANCE)
            running += contribution
            assert change == wf.parent_change
        assert running == pytest.approx(wf.parent_change, abs=TOLERANCE * max(1, abs(running)))
        assert wf.total == wf.parent_change


def driver_mart_rows(warehouse: Path, level: str, code: str) -> dict[tuple, list[tuple]]:
    """fct_driver_attribution of a unit in the latest month, by (metric, comparison)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """
            select metric_name, comparison, input_role, input_metric, input_base_value,
                input_value, contribution, parent_change
            from marts.fct_driver_attribution
            where org_level = ? and org_code = ? and period_start = ?
            order by metric_name, comparison, input_role desc
            """,
            [level, code, LATEST],
        ).fetchall()
    found: dict[tuple, list[tuple]] = {}
    for metric, comparison, *rest in rows:
        found.setdefault((metric, comparison), []).append(tuple(rest))
    return found


@pytest.mark.parametrize(("level", "code"), [(lvl, code) for lvl, code, _ in ALL_UNITS])
def test_input_waterfalls_equal_the_driver_mart_and_sum_to_the_change(
    level: str, code: str, synthetic_site, synthetic_warehouse: Path
) -> None:
    """Every tier, leaves and centers too: where the tree has a formula, the KPI's change at
    the unit over its numerator and denominator, as fct_driver_attribution publishes it."""
    content = read_page(synthetic_site[0], level, code)
    expected = driver_mart_rows(synthetic_warehouse, level, code)
    shown = [w for w in waterfalls(content) if w.inputs]
    assert sorted((w.metric, w.comparison) for w in shown) == sorted(expected)
    assert expected or code == "C-CC"  # the contact center's KPIs have no formula here
    for wf in shown:
        rows = [
            (
                r["data-role"],
                r["data-input"],
                number(r["data-base"]),
                number(r["data-value"]),
                number(r["data-contribution"]),
                wf.parent_change,
            )
            for r in wf.rows
        ]
        assert rows == expected[(wf.metric, wf.comparison)]  # numerator first, then denominator
        starts = [number(r["data-start"]) for r in wf.rows]
        assert starts == pytest.approx([0.0, rows[0][4]], abs=TOLERANCE)
        assert sum(r[4] for r in rows) == pytest.approx(wf.parent_change, abs=TOLERANCE)
        assert wf.total == wf.parent_change


def test_input_waterfall_names_inputs_from_the_catalog(synthetic_site) -> None:
    content = read_page(synthetic_site[0], "branch", "LIF-JS")
    why = content[content.index('id="why-complaints-per-10k-policies"') :]
    why = why[: why.index("</details>")]
    assert "Policies in force · denominator" in why  # the catalog's label
    assert 'data-zh="有效保单数 · 分母"' in why
    assert "complaints · numerator" in why  # a component the catalog does not list
    assert "Shapley split" in why


def test_waterfall_shows_rate_and_mix_apart_and_links_each_child(synthetic_site) -> None:
    content = read_page(synthetic_site[0], "branch", "LIF-JS")
    why = content[content.index('id="why-claims-auto-rate"') :]
    why = why[: why.index("</details>")]
    assert "wf__bar--rate" in why and "wf__bar--mix" in why
    for child in ("lif-js-01", "lif-js-02"):
        assert f'href="../sub_branch/{child}.html#why-claims-auto-rate"' in why
    # LIF-JS-03 left for LIF-SH in March: last year it was under LIF-JS, its bar all mix
    moved = next(
        r
        for w in waterfalls(content)
        if (w.metric, w.comparison) == ("claims_auto_rate", "yoy")
        for r in w.rows
        if r.get("data-code") == "LIF-JS-03"
    )
    assert number(moved["data-rate"]) == 0.0 and number(moved["data-mix"]) != 0.0
    # the additive operating cost: each child's own change, no rate or mix
    cost = [w for w in waterfalls(content) if w.metric == "op_cost_cny"]
    assert cost and all(r["data-rate"] == "" and r["data-mix"] == "" for w in cost for r in w.rows)


def test_group_splits_center_handled_kpis_by_subsidiary_and_by_center(synthetic_site) -> None:
    shown = [w for w in waterfalls(read_page(synthetic_site[0], "group", "GRP")) if not w.inputs]
    levels = {w.child_level for w in shown if w.metric == "service_level_20s"}
    assert levels == {"subsidiary", "center"}
    assert {w.child_level for w in shown if w.metric == "claims_auto_rate"} == {"subsidiary"}


@pytest.mark.parametrize(("level", "code"), [("sub_branch", "LIF-JS-01"), ("center", "C-CC")])
def test_leaf_shows_its_part_in_its_parents_change(
    level: str, code: str, synthetic_site, synthetic_warehouse: Path
) -> None:
    content = read_page(synthetic_site[0], level, code)
    parent_level, parent = ("branch", "LIF-JS") if level == "sub_branch" else ("group", "GRP")
    child_level = "sub_branch" if level == "sub_branch" else "center"
    mart = mart_rows(synthetic_warehouse, parent_level, parent)
    shown = [
        (attrs["data-metric"], attrs["data-comparison"], number(attrs["data-contribution"]))
        for tag, attrs in parse_page(content).tags
        if tag == "p" and "why__leaf" in (attrs.get("class") or "")
    ]
    expected = [
        (metric, comparison, children[code][2])
        for (metric, comparison, level_below), children in mart.items()
        if level_below == child_level and comparison != "target" and code in children
    ]
    assert shown and sorted(shown) == sorted(expected)


def independent_movers(warehouse: Path, level: str, code: str) -> list[tuple[str, str, str, float]]:
    """(metric, child, comparison, size) of the five largest adverse contributions, in SQL.

    Per KPI of the unit in its latest month: against target when it is off target (red) and
    short of it, else against last month when it worsened; the children whose contribution has
    the sign of that adverse change, ranked by |contribution| / |the base it is compared with|.
    """
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            """
            with latest as (
                select metric_name, max(period_start) as period_start
                from marts.fct_kpi_values group by metric_name
            ),
            kpis as (
                select kpi.metric_name, kpi.period_start, kpi.status, kpi.value, catalog.direction
                from marts.fct_kpi_values as kpi
                inner join latest using (metric_name, period_start)
                inner join marts.dim_metric_catalog as catalog using (metric_name)
                where kpi.org_level = ? and kpi.org_code = ? and catalog.is_kpi
            ),
            adverse as (
                select attr.*, kpis.status, kpis.value - attr.parent_change as base
                from marts.fct_kpi_attribution as attr
                inner join kpis using (metric_name, period_start)
                where attr.org_level = ? and attr.org_code = ?
                    and (
                        (kpis.direction = 'higher_is_better' and attr.parent_change < 0)
                        or (kpis.direction = 'lower_is_better' and attr.parent_change > 0)
                    )
            ),
            chosen as (
                -- 'mom' < 'target': the gap to target when off target and split, else the fall
                select metric_name, max(comparison) as comparison
                from adverse
                where (comparison = 'target' and status = 'red') or comparison = 'mom'
                group by metric_name
            )
            select metric_name, child_code, comparison, abs(contribution) / abs(base) as size
            from adverse
            inner join chosen using (metric_name, comparison)
            where child_code <> org_code and contribution / parent_change > 0 and base <> 0
            order by size desc
            limit 5
            """,
            [level, code, level, code],
        ).fetchall()


@pytest.mark.parametrize(("level", "code"), MOVER_PAGES)
def test_top_movers_equal_an_independent_pick_from_the_mart(
    level: str, code: str, synthetic_site, synthetic_warehouse: Path
) -> None:
    content = read_page(synthetic_site[0], level, code)
    shown = [
        (m["data-metric"], m["data-code"], m["data-comparison"], number(m["data-size"]))
        for m in movers(content)
    ]
    expected = independent_movers(synthetic_warehouse, level, code)
    assert [s[:3] for s in shown] == [e[:3] for e in expected]
    assert [s[3] for s in shown] == pytest.approx([e[3] for e in expected], rel=1e-12)
    assert 0 < len(shown) <= 5
    assert all(0 < s[3] < 2 for s in shown)  # KPIs move by a fraction of their size
    assert all(number(m["data-share"]) > 0 for m in movers(content))
    # each one click from the unit that caused it: its page, at the KPI's why view
    for mover in movers(content):
        assert f'#why-{mover["data-metric"].replace("_", "-")}"' in content


def test_top_movers_only_on_the_group_and_subsidiaries(synthetic_site) -> None:
    site_dir = synthetic_site[0]
    for level, code, _, _ in UNITS:
        has = 'id="top-movers"' in read_page(site_dir, level, code)
        assert has == (level in ("group", "subsidiary")), code


@pytest.fixture(scope="module")
def percentile_site(tmp_path_factory: pytest.TempPathFactory, synthetic_warehouse: Path) -> Path:
    """claims_cycle_time_days published as a percentile: the mart has no rows for it."""
    root = tmp_path_factory.mktemp("percentile")
    warehouse = Path(shutil.copy(synthetic_warehouse, root / "w.duckdb"))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update marts.dim_metric_catalog set rollup_kind = 'percentile'"
            " where metric_name = 'claims_cycle_time_days'"
        )
        con.execute(
            "delete from marts.fct_kpi_attribution where metric_name = 'claims_cycle_time_days'"
        )
    build_site(warehouse, root / "site", built_at=BUILT_AT)
    return root / "site"


@pytest.mark.parametrize(("level", "code"), [("group", "GRP"), ("sub_branch", "LIF-JS-01")])
def test_percentile_says_it_is_not_decomposable(level: str, code: str, percentile_site) -> None:
    content = read_page(percentile_site, level, code)
    why = content[content.index('id="why-claims-cycle-time-days"') :]
    why = why[: why.index("</details>")]
    assert "A percentile is not decomposable" in why
    assert 'data-zh="分位数指标无法分解到下级机构' in why
    assert 'class="wf"' not in why


def test_site_without_the_attribution_mart_still_links_every_why_view(
    synthetic_warehouse: Path, tmp_path: Path
) -> None:
    warehouse = Path(shutil.copy(synthetic_warehouse, tmp_path / "w.duckdb"))
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table marts.fct_kpi_attribution")
    build_site(warehouse, tmp_path / "site", built_at=BUILT_AT)
    content = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'id="top-movers"' not in content and 'class="wf"' not in content
    assert content.count('class="why"') == content.count("data-why=") > 0
    assert "Not split for this month." in content


# --- the pure parts -----------------------------------------------------------------------------


def tree() -> OrgTree:
    return OrgTree.of(
        [
            OrgUnit("B", "Branch", "branch"),
            OrgUnit("S1", "One", "sub_branch", "B"),
            OrgUnit("S2", "Two", "sub_branch", "B"),
        ],
        "B",
    )


def row(child: str, rate: float | None, mix: float | None, contribution: float, **keys) -> dict:
    return {
        "metric_name": "m",
        "period_start": date(2026, 10, 1),
        "comparison": "yoy",
        "org_level": "branch",
        "org_code": "B",
        "child_level": "sub_branch",
        "child_code": child,
        "rate_effect": rate,
        "mix_effect": mix,
        "contribution": contribution,
        "parent_change": 0.5,
    } | keys


def test_shape_attribution_sums_children_outside_a_pack_into_one_nameless_part() -> None:
    rows = [
        row("S1", 0.2, 0.1, 0.3),
        row("GONE1", 0.0, 0.15, 0.15),
        row("GONE2", 0.0, -0.05, -0.05),
        row("B", 0.1, 0.0, 0.1),
        row("X", 9.0, 9.0, 18.0, org_level="branch", org_code="OTHER"),  # not in the pack
    ]
    shaped = shape_attribution(rows, tree(), scoped=True)
    assert list(shaped) == [("branch", "B")]
    (breakdown,) = shaped[("branch", "B")][("m", date(2026, 10, 1), "yoy")]
    assert [(p.kind, p.code) for p in breakdown.parts] == [
        (CHILD, "S1"),
        (OWN, "B"),
        (OUTSIDE, None),
    ]
    outside = breakdown.parts[-1]
    assert outside.rate == 0.0 and outside.mix == pytest.approx(0.1)
    assert outside.contribution == pytest.approx(0.1)
    assert sum(p.contribution for p in breakdown.parts) == pytest.approx(breakdown.parent_change)
    # the full site keeps a unit closed since under its own code
    (full,) = shape_attribution(rows, tree(), scoped=False)[("branch", "B")].values()
    assert [(p.kind, p.code) for p in full[0].parts] == [
        (CHILD, "S1"),
        (CHILD, "GONE1"),
        (CHILD, "GONE2"),
        (OWN, "B"),
    ]


def test_part_segments_put_the_mix_after_the_rate_and_an_additive_change_whole() -> None:
    assert part_segments(Part(CHILD, "S1", 0.2, -0.5, -0.3), 1.0) == [
        Segment("rate", 1.0, 1.2),
        Segment("mix", 1.2, pytest.approx(0.7)),
    ]
    assert part_segments(Part(CHILD, "S1", None, None, 4.0), -1.0) == [Segment("own", -1.0, 3.0)]
    assert part_segments(Part(CHILD, "S1", 0.0, 0.3, 0.3), 0.0) == [Segment("mix", 0.0, 0.3)]


def test_waterfall_starts_each_bar_where_the_last_ended() -> None:
    shaped = shape_attribution(
        [row("S1", 0.2, 0.1, 0.3), row("S2", -0.1, 0.0, -0.1), row("B", None, None, 0.3)],
        tree(),
        scoped=False,
    )
    (breakdown,) = shaped[("branch", "B")][("m", date(2026, 10, 1), "yoy")]
    starts = [start for _, start, _ in waterfall(breakdown)]
    assert starts == pytest.approx([0.0, 0.3, 0.2])


def test_building_block_gets_no_why_view(synthetic_site) -> None:
    content = read_page(synthetic_site[0], "group", "GRP")
    assert f'id="why-{BUILDING_BLOCK.replace("_", "-")}"' not in content
    assert 'id="why-claims-auto-rate"' in content


def tile(status: str, value: float) -> Tile:
    info = MetricInfo("m", "M", unit="percent", direction="higher_is_better")
    month = date(2026, 10, 1)
    point = KpiPoint(value=value, target=0.9, status=status)
    return Tile(info, month, (month,), (value,), point, None, None)


def test_top_movers_explain_the_gap_to_target_first_then_last_months_fall() -> None:
    rows = [
        # against target: S1 -0.15 of the parent's -0.1 gap, S2 +0.05
        row("S1", -0.15, 0.0, -0.15, comparison="target", parent_change=-0.1),
        row("S2", 0.05, 0.0, 0.05, comparison="target", parent_change=-0.1),
        # since last month: S2 pulled it down 0.02 of the parent's -0.01
        row("S1", 0.01, 0.0, 0.01, comparison="mom", parent_change=-0.01),
        row("S2", -0.02, 0.0, -0.02, comparison="mom", parent_change=-0.01),
    ]
    shaped = shape_attribution(rows, tree(), scoped=False)
    red = top_movers(shaped, ("branch", "B"), [tile("red", 0.8)], tree())
    assert [(m.code, m.comparison) for m in red] == [("S1", "target")]
    assert red[0].share == pytest.approx(1.5) and red[0].size == pytest.approx(0.15 / 0.9)
    amber = top_movers(shaped, ("branch", "B"), [tile("amber", 0.8)], tree())
    assert [(m.code, m.comparison) for m in amber] == [("S2", "mom")]
    assert amber[0].size == pytest.approx(0.02 / 0.81)


# --- raw and mix-adjusted ranks (fct_kpi_standardised) ------------------------------------------

RANK_TABLE = re.compile(r'<div data-rank-metric="([^"]+)"[^>]*>(.*?)</table>', re.S)
RANK_ROW = re.compile(
    r'<tr class="[^"]*" data-code="([^"]+)"[^>]*><td class="r num">([^<]+)</td>'
    r'(?:<td class="r num mix-rank" data-mix-rank="(\d+)")?'
)


def independent_mix_ranks(warehouse: Path, metric: str, codes: list[str]) -> dict[str, int]:
    """The units' ranks by their value at the group's mix, in SQL (ties share a rank)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """
            select std.org_code, rank() over (
                order by case when catalog.direction = 'lower_is_better'
                    then std.standardised_value else -std.standardised_value end
            )
            from marts.fct_kpi_standardised as std
            inner join marts.dim_metric_catalog as catalog using (metric_name)
            where std.metric_name = ? and std.period_start = ? and list_contains(?, std.org_code)
            """,
            [metric, LATEST, codes],
        ).fetchall()
    return dict(rows)


@pytest.mark.parametrize(("level", "code"), [(lvl, code) for lvl, code, _ in ALL_UNITS])
def test_rank_tables_show_raw_and_mix_adjusted_ranks_side_by_side(
    level: str, code: str, synthetic_site, synthetic_warehouse: Path
) -> None:
    content = read_page(synthetic_site[0], level, code)
    tables = 0
    for metric, table in RANK_TABLE.findall(content):
        rows = RANK_ROW.findall(table)
        with_mix = [r for r in rows if r[2]]
        if metric not in SEGMENTED:
            assert with_mix == [] and "At group mix" not in table, metric
            continue
        tables += 1
        ranked = [c for c, raw, _ in rows if raw.strip().isdigit()]
        assert {c for c, _, mix in rows if mix} == set(ranked)  # the same units, unranked alike
        shown = {c: int(mix) for c, _, mix in with_mix}
        assert shown == independent_mix_ranks(synthetic_warehouse, metric, ranked), metric
    assert tables > 0 or level == "center"  # a center has no children, nor peers publishing


def test_mix_adjusted_ranks_reorder_some_units(synthetic_site) -> None:
    """The synthetic mix shifts are large enough that the column says something."""
    differ = 0
    for level, code, _ in ALL_UNITS:
        for _, table in RANK_TABLE.findall(read_page(synthetic_site[0], level, code)):
            differ += sum(1 for _, raw, mix in RANK_ROW.findall(table) if mix and raw != mix)
    assert differ > 0
