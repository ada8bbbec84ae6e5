from __future__ import annotations

from datetime import date, datetime

import pytest

from dashboards.marts import Marts
from dashboards.model import (
    KpiPoint,
    MetricInfo,
    metric_infos,
    metric_latest_months,
    outlier_flags,
    rank_units,
    unit_tiles,
    values_by_unit,
)
from dashboards.notices import publication, quarantine_counts
from dashboards.org_tree import OrgUnit, build_org_tree, current_org_rows, scope_tree

START = date(2015, 1, 1)
MOVE = date(2026, 3, 1)


def org(code, level, parent, valid_from=START, valid_to=None, is_current=None, name=None):
    return {
        "org_code": code,
        "org_name": name or f"{code} name",
        "org_level": level,
        "parent_code": parent,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "is_current": is_current,
    }


ORG_ROWS = [
    org("GRP", "group", None),
    org("LIF", "subsidiary", "GRP"),
    org("PNC", "subsidiary", "GRP"),
    org("LIF-JS", "branch", "LIF"),
    org("LIF-SH", "branch", "LIF"),
    org("PNC-BJ", "branch", "PNC"),
    org("LIF-JS-01", "sub_branch", "LIF-JS"),
    # moved: the old row under LIF-JS is closed, the current one is under LIF-SH
    org("LIF-JS-03", "sub_branch", "LIF-JS", valid_to=MOVE, is_current=False),
    org("LIF-JS-03", "sub_branch", "LIF-SH", valid_from=MOVE, is_current=True),
    org("PNC-BJ-01", "sub_branch", "PNC-BJ"),
]
CENTER_ROWS = [{"center_code": "C-CC", "center_name": "Contact Center", "function": "cc"}]


@pytest.fixture
def tree():
    return build_org_tree(ORG_ROWS, CENTER_ROWS, ["C-CLM"])


def codes(units) -> list[str]:
    return [u.code for u in units]


def test_current_org_rows_keeps_one_current_row_per_code() -> None:
    rows = current_org_rows(ORG_ROWS)
    moved = [r for r in rows if r["org_code"] == "LIF-JS-03"]
    assert len(rows) == 9
    assert [r["parent_code"] for r in moved] == ["LIF-SH"]


def test_current_org_rows_without_is_current_uses_open_validity() -> None:
    rows = [{**r, "is_current": None} for r in ORG_ROWS]
    moved = [r for r in current_org_rows(rows) if r["org_code"] == "LIF-JS-03"]
    assert [r["parent_code"] for r in moved] == ["LIF-SH"]


def test_build_org_tree_places_moved_sub_branch_under_new_parent(tree) -> None:
    assert codes(tree.children("LIF-JS")) == ["LIF-JS-01"]
    assert codes(tree.children("LIF-SH")) == ["LIF-JS-03"]


def test_build_org_tree_root_is_the_group_and_centers_hang_off_it(tree) -> None:
    assert tree.root == "GRP"
    assert codes(tree.centers()) == ["C-CC", "C-CLM"]  # C-CLM only known from its values
    assert tree.unit("C-CLM").name == "C-CLM"
    assert tree.parent("C-CC").code == "GRP"


def test_org_tree_children_exclude_centers(tree) -> None:
    assert codes(tree.children("GRP")) == ["LIF", "PNC"]


def test_org_tree_breadcrumbs_top_first(tree) -> None:
    assert codes(tree.breadcrumbs("LIF-JS-03")) == ["GRP", "LIF", "LIF-SH", "LIF-JS-03"]
    assert codes(tree.breadcrumbs("C-CC")) == ["GRP", "C-CC"]


def test_org_tree_siblings_include_the_unit(tree) -> None:
    assert codes(tree.siblings("LIF-JS")) == ["LIF-JS", "LIF-SH"]
    assert codes(tree.siblings("C-CC")) == ["C-CC", "C-CLM"]
    assert tree.siblings("GRP") == []


def test_org_tree_ordered_lists_subtree_then_centers(tree) -> None:
    assert codes(tree.ordered()) == [
        "GRP",
        "LIF",
        "LIF-JS",
        "LIF-JS-01",
        "LIF-SH",
        "LIF-JS-03",
        "PNC",
        "PNC-BJ",
        "PNC-BJ-01",
        "C-CC",
        "C-CLM",
    ]


def test_scope_tree_keeps_only_the_subtree(tree) -> None:
    scoped = scope_tree(tree, "LIF")
    assert scoped.root == "LIF"
    assert sorted(scoped.units) == ["LIF", "LIF-JS", "LIF-JS-01", "LIF-JS-03", "LIF-SH"]


def test_scope_tree_breadcrumbs_and_siblings_stop_at_the_scoped_root(tree) -> None:
    scoped = scope_tree(tree, "LIF-JS")
    assert codes(scoped.breadcrumbs("LIF-JS-01")) == ["LIF-JS", "LIF-JS-01"]
    assert codes(scoped.breadcrumbs("LIF-JS")) == ["LIF-JS"]
    assert scoped.siblings("LIF-JS") == []
    assert scoped.unit("LIF-JS").parent is None


def test_scope_tree_center_is_its_page_only(tree) -> None:
    scoped = scope_tree(tree, "C-CC")
    assert list(scoped.units) == ["C-CC"]
    assert scoped.siblings("C-CC") == []


def test_scope_tree_group_is_the_whole_tree(tree) -> None:
    assert scope_tree(tree, "GRP") is tree


def test_scope_tree_unknown_code_names_it(tree) -> None:
    with pytest.raises(ValueError, match="'NOPE'"):
        scope_tree(tree, "NOPE")


def test_metric_infos_reads_list_and_json_columns() -> None:
    infos = metric_infos(
        [
            {"metric_name": "a", "source_systems": ["claims", "hr"], "source_columns": "x, y"},
            {"metric_name": "b", "label": " B ", "source_systems": '["cc"]', "dimension": "zz"},
        ]
    )
    assert infos["a"].source_systems == ("claims", "hr")
    assert infos["a"].source_columns == ("x", "y")
    assert infos["a"].label == "a"
    assert infos["b"].label == "B"
    assert infos["b"].source_systems == ("cc",)
    assert infos["b"].dimension_key == "other"


def kpi(metric: str, period: date, value: float | None, **extra) -> dict:
    return {
        "metric_name": metric,
        "period_start": period,
        "org_level": "branch",
        "org_code": "B1",
        "value": value,
        **extra,
    }


def test_unit_tiles_compare_previous_month_and_same_month_last_year() -> None:
    rows = [
        kpi("rate", date(2025, 10, 1), 0.80, definition_version=1),
        kpi("rate", date(2026, 9, 1), 0.86, definition_version=2),
        kpi("rate", date(2026, 10, 1), 0.90, denominator=120.0, definition_version=2),
    ]
    infos = {"rate": MetricInfo("rate", "Rate", unit="percent", direction="higher_is_better")}
    month, (tile,) = unit_tiles(values_by_unit(rows)[("branch", "B1")], infos)
    assert month == date(2026, 10, 1)
    assert tile.mom == pytest.approx(0.04)
    assert tile.yoy == pytest.approx(0.10)
    assert tile.volume == 120.0
    assert tile.yoy_definition_changed
    assert tile.version == 2
    assert tile.values[0] == 0.80 and tile.values[-1] == 0.90  # 13-month window
    assert len(tile.months) == 13


def test_unit_tiles_missing_months_give_no_change() -> None:
    rows = [kpi("a", date(2026, 8, 1), 1.0), kpi("a", date(2026, 10, 1), 2.0)]
    _, (tile,) = unit_tiles(values_by_unit(rows)[("branch", "B1")], {})
    assert tile.previous is None and tile.mom is None
    assert tile.year_ago is None and tile.yoy is None
    assert tile.info.label == "a"


def test_unit_tiles_mark_stale_metrics() -> None:
    rows = [kpi("a", date(2026, 10, 1), 1.0), kpi("b", date(2026, 10, 1), 1.0)]
    _, tiles = unit_tiles(values_by_unit(rows)[("branch", "B1")], {}, {"b": "held"})
    assert [(t.info.metric_name, t.is_stale, t.stale_reason) for t in tiles] == [
        ("a", False, None),
        ("b", True, "held"),
    ]


def test_unit_tiles_order_by_dimension_then_label() -> None:
    infos = {
        "z": MetricInfo("z", "Zeta", dimension="value"),
        "a": MetricInfo("a", "Alpha", dimension="service"),
        "m": MetricInfo("m", "Mu", dimension="efficiency"),
    }
    rows = [kpi(name, date(2026, 10, 1), 1.0) for name in ("a", "m", "z")]
    _, tiles = unit_tiles(values_by_unit(rows)[("branch", "B1")], infos)
    assert [t.info.metric_name for t in tiles] == ["z", "m", "a"]


def unit(code: str) -> OrgUnit:
    return OrgUnit(code, code, "branch", "P")


def point(value: float | None, denominator: float | None = 100.0) -> KpiPoint:
    return KpiPoint(value=value, denominator=denominator)


def test_rank_units_best_first_for_the_direction() -> None:
    entries = [(unit("A"), point(0.7)), (unit("B"), point(0.9)), (unit("C"), point(0.8))]
    higher = rank_units(entries, "higher_is_better")
    lower = rank_units(entries, "lower_is_better")
    assert [(r.unit.code, r.rank) for r in higher] == [("B", 1), ("C", 2), ("A", 3)]
    assert [r.unit.code for r in lower] == ["A", "C", "B"]


def test_rank_units_small_base_follows_unranked() -> None:
    entries = [(unit("TINY"), point(1.0, denominator=3.0)), (unit("BIG"), point(0.8, 500.0))]
    rows = rank_units(entries, "higher_is_better")
    assert [(r.unit.code, r.rank, r.low_volume) for r in rows] == [
        ("BIG", 1, False),
        ("TINY", None, True),
    ]


def test_rank_units_missing_values_last() -> None:
    entries = [(unit("NONE"), None), (unit("NAN"), point(None)), (unit("A"), point(1.0))]
    rows = rank_units(entries, "higher_is_better")
    assert [(r.unit.code, r.rank) for r in rows] == [("A", 1), ("NAN", None), ("NONE", None)]


def test_rank_units_ties_share_a_rank() -> None:
    entries = [(unit("A"), point(0.5)), (unit("B"), point(0.5)), (unit("C"), point(0.4))]
    rows = rank_units(entries, "higher_is_better")
    assert [(r.unit.code, r.rank) for r in rows] == [("A", 1), ("B", 1), ("C", 3)]


def test_rank_units_percentiles_without_volume_are_ranked() -> None:
    rows = rank_units([(unit("A"), point(7.0, denominator=None))], "lower_is_better")
    assert rows[0].rank == 1 and not rows[0].low_volume


def test_outlier_flags_flags_a_far_value() -> None:
    assert outlier_flags([1.0, 1.1, 0.9, 1.05, 0.95, 5.0]) == [False] * 5 + [True]


def test_outlier_flags_nothing_with_few_values_or_no_spread() -> None:
    assert outlier_flags([1.0, 9.0, 1.0]) == [False] * 3
    assert outlier_flags([2.0, 2.0, 2.0, 2.0, 9.0]) == [False] * 5


@pytest.mark.parametrize(
    "value",
    [
        '{"not_null_id": 3, "valid_date": 1, "zero": 0}',
        {"not_null_id": 3, "valid_date": 1},
        [{"key": "valid_date", "value": 1}, {"key": "not_null_id", "value": 3}],
    ],
)
def test_quarantine_counts_largest_first(value: object) -> None:
    assert quarantine_counts(value) == (("not_null_id", 3.0), ("valid_date", 1.0))


@pytest.mark.parametrize("value", [None, "", "not json", "[1, 2]"])
def test_quarantine_counts_unreadable_is_empty(value: object) -> None:
    assert quarantine_counts(value) == ()


def test_publication_reads_held_sources_and_stale_metrics() -> None:
    marts = Marts(
        tables={
            "meta.publication": [
                {"published_at": datetime(2026, 10, 2)},
                {"published_at": datetime(2026, 11, 2, 6)},
            ],
            "meta.source_gate_state": [
                {"source": "claims", "state": "ok"},
                {"source": "cc", "state": "held", "check_name": "rows", "data_owner": "svc"},
            ],
            "meta.stale_metrics": [{"metric_name": "sl", "reason": None}],
        },
        present=frozenset({"meta.publication", "meta.source_gate_state", "meta.stale_metrics"}),
    )
    notice = publication(marts)
    assert notice.published_at == datetime(2026, 11, 2, 6)
    assert notice.gates_known
    assert [(h.source, h.check_name, h.data_owner) for h in notice.held] == [("cc", "rows", "svc")]
    assert notice.stale_metrics == {"sl": "stale"}


HOLDS = [
    {
        "check_name": "values_within_plausible_bounds",
        "metric_name": "cycle",
        "org_level": "center",
        "org_code": "C-CL",
        "reason": "2026-10: value 400 outside",
        "since": datetime(2026, 11, 2, 6),
    },
    {
        "check_name": "group_reconciles_with_subsidiaries",
        "metric_name": "auto",
        "org_level": None,
        "org_code": None,
        "reason": "2026-10 group GRP: group 61, subsidiaries sum to 60",
        "since": None,
    },
]


def held_marts() -> Marts:
    return Marts(
        tables={
            "meta.stale_metrics": [{"metric_name": "sl", "reason": "held source cc"}],
            "meta.kpi_holds": HOLDS,
        },
        present=frozenset({"meta.stale_metrics", "meta.kpi_holds"}),
    )


def test_publication_marks_a_kpi_held_at_one_unit_stale_there_only() -> None:
    notice = publication(held_marts())
    assert [(h.metric_name, h.org_code) for h in notice.held_kpis] == [
        ("auto", None),
        ("cycle", "C-CL"),
    ]
    here = notice.stale_for("center", "C-CL")
    assert set(here) == {"sl", "cycle", "auto"}
    assert here["cycle"].startswith("held back by values_within_plausible_bounds since 2026-11-02")
    assert "value 400 outside" in here["cycle"] and "values as last published" in here["cycle"]
    elsewhere = notice.stale_for("center", "C-CC")
    assert set(elsewhere) == {"sl", "auto"}, "a unit hold greys out that unit's tile only"
    assert set(notice.stale_for("branch", "C-CL")) == {"sl", "auto"}, "level and code"
    assert set(notice.stale_everywhere()) == {"sl", "auto"}


def test_publication_of_a_scoped_site_names_only_its_own_units_holds() -> None:
    mine = publication(held_marts(), units={("center", "C-CC")})
    assert [(h.metric_name, h.org_code, h.reason) for h in mine.held_kpis] == [
        ("auto", None, None)  # the whole-metric hold stays, its reason quotes the group
    ]
    held_here = publication(held_marts(), units={("center", "C-CL")})
    assert [h.org_code for h in held_here.held_kpis] == [None, "C-CL"]


def test_publication_without_meta_tables_is_empty() -> None:
    notice = publication(Marts(tables={}, present=frozenset()))
    assert notice.published_at is None
    assert not notice.gates_known
    assert notice.held == () and dict(notice.stale_metrics) == {} and notice.held_kpis == ()


def test_metric_latest_months_over_all_units() -> None:
    rows = [
        kpi("cohort", date(2025, 9, 1), 0.9),
        {**kpi("cohort", date(2025, 10, 1), 0.8), "org_code": "B2"},
        kpi("rate", date(2026, 10, 1), 0.5),
    ]
    assert metric_latest_months(values_by_unit(rows)) == {
        "cohort": date(2025, 10, 1),
        "rate": date(2026, 10, 1),
    }


def test_unit_tiles_use_each_metrics_own_latest_month() -> None:
    rows = [
        kpi("cohort", date(2025, 9, 1), 0.9),
        kpi("rate", date(2026, 9, 1), 0.4),
        kpi("rate", date(2026, 10, 1), 0.5),
    ]
    months = {"cohort": date(2025, 9, 1), "rate": date(2026, 10, 1)}
    month, tiles = unit_tiles(values_by_unit(rows)[("branch", "B1")], {}, None, months)
    by_name = {t.info.metric_name: t for t in tiles}
    assert month == date(2026, 10, 1)
    assert by_name["cohort"].month == date(2025, 9, 1) and by_name["cohort"].value == 0.9
    assert by_name["cohort"].months[-1] == date(2025, 9, 1)
    # a unit missing the metric's latest month shows no value rather than an older one
    late = {"cohort": date(2025, 10, 1), "rate": date(2026, 10, 1)}
    _, tiles = unit_tiles(values_by_unit(rows)[("branch", "B1")], {}, None, late)
    assert {t.info.metric_name: t.value for t in tiles}["cohort"] is None


def test_unit_tiles_skip_building_blocks() -> None:
    rows = [kpi("kpi", date(2026, 10, 1), 0.5), kpi("volume", date(2026, 10, 1), 500.0)]
    infos = {"volume": MetricInfo("volume", "Volume", is_kpi=False)}
    _, tiles = unit_tiles(values_by_unit(rows)[("branch", "B1")], infos)
    assert [t.info.metric_name for t in tiles] == ["kpi"]
