from __future__ import annotations

import json
from pathlib import PurePosixPath

import pytest

from dashboards.governance_pages import version_text
from dashboards.layout import esc, json_for_script, metric_anchor, root_prefix, slug, tr
from dashboards.model import KpiPoint, MetricInfo, RankRow
from dashboards.org_pages import (
    Rankings,
    default_metric,
    scale_position,
    sibling_title,
)
from dashboards.org_tree import OrgUnit
from tests.dashboards.reading import element_text, parse_page
from tests.dashboards.synthetic import HOSTILE_TEXTS

INFO = MetricInfo("m", "M")


def test_tr_carries_the_chinese_in_data_zh() -> None:
    assert tr(("Rank", "排名"), "th", "r") == '<th class="r" data-zh="排名">Rank</th>'
    assert tr(("A & B", "A & B")) == "<span>A &amp; B</span>"


@pytest.mark.parametrize("payload", HOSTILE_TEXTS)
def test_json_for_script_is_inert_and_lossless(payload: str) -> None:
    value = {payload: [payload, {"name": f"x {payload} y"}], "n": 1.5}
    text = json_for_script(value)
    assert [c for c in ("<", ">", "&", "\u2028", "\u2029") if c in text] == []
    assert json.loads(text) == value


def test_json_for_script_keeps_cjk_and_emoji_readable() -> None:
    assert json_for_script({"zh": "理赔 🚀"}) == '{"zh":"理赔 🚀"}'


@pytest.mark.parametrize("payload", HOSTILE_TEXTS)
def test_tr_and_esc_keep_every_payload_text(payload: str) -> None:
    element = tr((payload, payload + " 中"), "h3")
    parsed = parse_page(element)
    assert parsed.tag_counts() == {"h3": 1} and parsed.comments == []
    assert parsed.tags[0][1]["data-zh"] == payload + " 中"
    assert element_text(element, r"<h3[^>]*>(.*)</h3>") == payload
    assert esc(payload).count("<") == esc(payload).count(">") == esc(payload).count('"') == 0


def test_root_prefix_climbs_out_of_tier_folders() -> None:
    assert root_prefix(PurePosixPath("index.html")) == ""
    assert root_prefix(PurePosixPath("sub_branch/lif-js-01.html")) == "../"


def test_slug_and_metric_anchor() -> None:
    assert slug("LIF-JS 01") == "lif-js-01"
    assert slug("人寿") == "人寿"
    assert metric_anchor("claims_auto_rate") == "metric-claims-auto-rate"


def test_scale_position_spreads_the_observed_range() -> None:
    assert scale_position(0.939, 0.939, 0.969) == 0.0
    assert scale_position(0.969, 0.939, 0.969) == 100.0
    assert round(scale_position(0.954, 0.939, 0.969)) == 50
    assert scale_position(5.0, 5.0, 5.0) == 50.0


def row(code: str, rank: int | None, value: float | None = 1.0, status: str | None = None):
    point = None if value is None else KpiPoint(value=value, status=status)
    return RankRow(OrgUnit(code, f"{code} name", "sub_branch", "B"), point, rank, rank is None)


def test_sibling_title_states_rank_among_peers() -> None:
    parent = OrgUnit("B", "Jiangsu Branch", "branch", "S")
    rows = [row("A", 1), row("C", 2), row("D", None)]
    en, zh = sibling_title(rows[1].unit, parent, rows)
    assert en == "Rank 2 of 2 among Jiangsu Branch sub-branches"
    assert zh == "在Jiangsu Branch支公司中排名第2（共2家）"
    en, _ = sibling_title(rows[2].unit, parent, rows)
    assert en.startswith("Not ranked among Jiangsu Branch sub-branches")


def test_default_metric_prefers_current_judged_and_varied_rankings() -> None:
    equal = Rankings(INFO, [row("A", 1, 0.0), row("B", 1, 0.0)], [])
    varied = Rankings(INFO, [row("A", 1, 2.0), row("B", 2, 1.0)], [])
    judged = Rankings(INFO, [row("A", 1, 2.0, "red"), row("B", 2, 1.0, "green")], [])
    lagging = Rankings(INFO, judged.children, [], current=False)
    assert default_metric([equal, varied]) == 1
    assert default_metric([lagging, varied, judged]) == 2
    assert default_metric([]) == 0


def test_version_text_joins_what_is_known() -> None:
    assert version_text(MetricInfo("m", "M", definition_version=2, definition_hash="a" * 40)) == (
        "v2 · aaaaaaaaaaaa"
    )
    assert version_text(INFO) == ""
