from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import pytest

from dashboards.figures import (
    Line,
    axis_format,
    compact,
    compare_spec,
    hover_value,
    month_range,
    month_tick_step,
    plotly_text,
    sparkline_spec,
)
from dashboards.formatting import month_window
from tests.dashboards.reading import plotly_shown
from tests.dashboards.synthetic import HOSTILE_TEXTS

MONTHS = month_window(date(2026, 10, 1), 13)
VALUES = tuple([None] + [0.8 + 0.01 * i for i in range(12)])


def test_sparkline_spec_is_a_valid_plotly_figure() -> None:
    spec = sparkline_spec(MONTHS, VALUES, "percent", target=0.85)
    go.Figure(spec)  # raises on any unknown property
    line, last, target = spec["data"]
    assert line["y"][0] is None  # a gap, not an interpolated value
    assert line["hovertemplate"] == "%{x|%b %Y}: %{y:.1%}<extra></extra>"
    assert last["x"] == ["2026-10-01"]
    assert target["y"] == [0.85, 0.85]


def test_sparkline_spec_without_values_has_no_markers() -> None:
    spec = sparkline_spec(MONTHS, (None,) * 13, "days", target=3.0)
    assert len(spec["data"]) == 1


def test_compare_spec_is_a_valid_plotly_figure() -> None:
    lines = [Line("A", VALUES, "#000"), Line("B", VALUES, "#111", dash="dash", width=3)]
    spec = compare_spec(MONTHS, lines, "days", target=[5.0] * 13, target_name="Target")
    go.Figure(spec)
    assert [t["name"] for t in spec["data"]] == ["A", "B", "Target"]
    assert spec["layout"]["yaxis"]["ticksuffix"] == " d"
    assert spec["layout"]["xaxis"]["dtick"] == "M2"


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("percent", "%{y:.1%}"),
        ("days", "%{y:,.1f} d"),
        ("seconds", "%{y:,.0f} s"),
        ("cny", "¥%{y:,.0f}"),
        ("per_10k", "%{y:,.2f} per 10k"),
        (None, "%{y:,.2f}"),
    ],
)
def test_hover_value_matches_tile_formats(unit: str | None, expected: str) -> None:
    assert hover_value(unit) == expected


def test_compare_spec_omits_an_all_missing_target() -> None:
    spec = compare_spec(MONTHS, [Line("A", VALUES, "#000")], "days", target=[None] * 13)
    assert [t["name"] for t in spec["data"]] == ["A"]


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("percent", {"tickformat": ".1~%"}),
        ("days", {"tickformat": ",.1~f", "ticksuffix": " d"}),
        ("seconds", {"tickformat": ",~f", "ticksuffix": " s"}),
        ("cny", {"tickformat": ",.0f", "tickprefix": "¥"}),
        ("count", {"tickformat": ",d"}),
        ("per_10k", {}),
    ],
)
def test_axis_format_matches_tile_formats(unit: str, expected: dict) -> None:
    assert axis_format(unit) == expected


def test_compact_keeps_six_significant_digits() -> None:
    assert compact(0.123456789) == 0.123457
    assert compact(1234567.891) == 1234570.0
    assert compact(float("nan")) is None
    assert compact(float("inf")) is None  # JSON has no infinity: a gap, not a broken page


def test_month_range_pads_half_a_month() -> None:
    assert month_range([date(2026, 1, 1), date(2026, 3, 1)]) == ["2025-12-17", "2026-03-16"]
    assert month_range([]) is None


def test_month_tick_step_widens_with_the_window() -> None:
    assert [month_tick_step(n) for n in (6, 13, 24, 36)] == ["M1", "M2", "M3", "M6"]


@pytest.mark.parametrize("payload", HOSTILE_TEXTS)
def test_plotly_text_shows_every_payload_as_written(payload: str) -> None:
    for text in (payload, f"Unit {payload} name", payload * 2):
        assert plotly_shown(plotly_text(text)) == (text, [])


def test_plotly_shown_would_catch_unescaped_markup() -> None:
    assert plotly_shown('<a href="http://x">x</a> &amp;') == (
        "x &",
        ['<a href="http://x">', "</a>"],
    )


@pytest.mark.parametrize("payload", HOSTILE_TEXTS)
def test_compare_spec_names_lines_and_target_as_plain_text(payload: str) -> None:
    lines = [Line(f"A {payload}", VALUES, "#000"), Line(payload, VALUES, "#111")]
    spec = compare_spec(MONTHS, lines, "days", target=[5.0] * 13, target_name=f"T {payload}")
    go.Figure(spec)
    shown = [plotly_shown(trace["name"]) for trace in spec["data"]]
    assert shown == [(f"A {payload}", []), (payload, []), (f"T {payload}", [])]
