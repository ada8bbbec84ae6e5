"""Plotly figures for the dashboard pages, as plain plotly.js specs (data + layout dicts).

Specs are embedded in each page as JSON and drawn by assets/site.js with the one local copy of
plotly.js: no per-figure copy of plotly.js and no CDN. Building dicts instead of
`plotly.graph_objects` figures keeps a full build in seconds; the tests validate every spec with
`go.Figure` so a misspelt property still fails. Every text a figure shows that comes from the
data (unit names in legends and hover labels) passes through `plotly_text`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from dashboards.formatting import is_missing, unit_format

LINE_COLOR = "#2563eb"
UNIT_COLOR = "#111827"
TARGET_COLOR = "#9ca3af"
GRID_COLOR = "#e5e7eb"
TEXT_COLOR = "#374151"
# Colour-blind-safe qualitative palette (Okabe-Ito, then Tableau) for the children's lines.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#4E79A7",
    "#B07AA1",
    "#9C755F",
    "#76B7B2",
    "#EDC948",
)
STATUS_COLORS = {"green": "#15803d", "amber": "#d97706", "red": "#dc2626", "none": LINE_COLOR}
FONT_FAMILY = (
    "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans CJK SC', "
    "'PingFang SC', 'Microsoft YaHei', sans-serif"
)
SPARKLINE_HEIGHT_PX = 56
COMPARE_HEIGHT_PX = 380
SIGNIFICANT_DIGITS = 6  # enough for any KPI, and keeps the embedded JSON small

Spec = dict[str, object]


@dataclass(frozen=True)
class Line:
    """One named line of a chart: a value per month of the chart's window (None: no value)."""

    name: str  # plain text, as the org tree spells it: compare_spec escapes it for plotly
    values: tuple[float | None, ...]
    color: str
    dash: str = "solid"
    width: float = 2.0


def plotly_text(text: str) -> str:
    """Text that plotly.js shows as written: its label markup escaped.

    Plotly renders a subset of HTML in legends, hover labels, titles and ticks (<br>, <b>,
    <a href>, entities). A unit or metric name from an extract must stay text: never a tag, a
    line break or a live link. Plotly splits tags first and decodes entities once, after.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def compact(value: float | None) -> float | None:
    """The value rounded to SIGNIFICANT_DIGITS, None for missing or infinite (a gap)."""
    if is_missing(value) or not math.isfinite(value):
        return None
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def month_range(periods: Sequence[date]) -> list[str] | None:
    """An x range from half a month before the first period to half a month after the last."""
    if not periods:
        return None
    half_month = timedelta(days=15)
    return [(min(periods) - half_month).isoformat(), (max(periods) + half_month).isoformat()]


def month_tick_step(n_months: int) -> str:
    """A plotly `dtick` that keeps month labels readable in a narrow panel."""
    if n_months <= 6:
        return "M1"
    if n_months <= 14:
        return "M2"
    if n_months <= 24:
        return "M3"
    return "M6"


def hover_value(unit: str | None) -> str:
    """A plotly hover template for a value in the tiles' format: "%{y:.1%}", "¥%{y:,.0f}"."""
    fmt = unit_format(unit)
    # percent values are fractions: d3's "%" type multiplies by 100 and adds the sign itself
    spec = f".{fmt.decimals}%" if fmt.scale == 100.0 else f",.{fmt.decimals}f"
    suffix = "" if fmt.scale == 100.0 else fmt.suffix
    return f"{fmt.prefix}%{{y:{spec}}}{suffix}"


def hover_template(unit: str | None, *, named: bool = False) -> str:
    """ "Mar 2026: 87.3%", with the line's name in the hover box's side label when `named`."""
    extra = "%{fullData.name}" if named else ""
    return f"%{{x|%b %Y}}: {hover_value(unit)}<extra>{extra}</extra>"


def axis_format(unit: str | None) -> dict[str, str]:
    """Tick format, prefix and suffix of a y axis, matching the tiles' number formats."""
    fmt = unit_format(unit)
    axis: dict[str, str] = {}
    if fmt.axis_format:
        axis["tickformat"] = fmt.axis_format
    # Short units (" d", " s") go on every tick; long ones (" per 10k") would crowd the axis.
    if fmt.scale == 1.0 and fmt.suffix and len(fmt.suffix.strip()) <= 3:
        axis["ticksuffix"] = fmt.suffix
    if fmt.prefix:
        axis["tickprefix"] = fmt.prefix
    return axis


def sparkline_spec(
    months: Sequence[date],
    values: Sequence[float | None],
    unit: str | None,
    *,
    target: float | None = None,
    color: str = LINE_COLOR,
) -> Spec:
    """A small axis-free trend line for a tile, last point marked, target as a faint line."""
    x = [m.isoformat() for m in months]
    y = [compact(v) for v in values]
    data: list[dict[str, object]] = [
        {
            "type": "scatter",
            "x": x,
            "y": y,
            "mode": "lines",
            "line": {"color": color, "width": 2},
            "connectgaps": False,
            "hovertemplate": hover_template(unit),
            "showlegend": False,
        }
    ]
    shown = [i for i, v in enumerate(y) if v is not None]
    if shown:
        last = shown[-1]
        data.append(
            {
                "type": "scatter",
                "x": [x[last]],
                "y": [y[last]],
                "mode": "markers",
                "marker": {"color": color, "size": 7},
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    if not is_missing(target) and shown:
        data.append(
            {
                "type": "scatter",
                "x": [x[0], x[-1]],
                "y": [compact(target), compact(target)],
                "mode": "lines",
                "line": {"color": TARGET_COLOR, "width": 1, "dash": "dot"},
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    return {
        "data": data,
        "layout": {
            "height": SPARKLINE_HEIGHT_PX,
            "margin": {"l": 2, "r": 6, "t": 4, "b": 4},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": {"visible": False, "fixedrange": True, "range": month_range(months)},
            "yaxis": {"visible": False, "fixedrange": True},
            "hovermode": "closest",
            "showlegend": False,
            "font": {"family": FONT_FAMILY, "size": 11, "color": TEXT_COLOR},
        },
    }


def compare_spec(
    months: Sequence[date],
    lines: Sequence[Line],
    unit: str | None,
    *,
    target: Sequence[float | None] | None = None,
    target_name: str = "Target",
) -> Spec:
    """Lines over the window, one per unit (children, or the unit and its parent), plus target."""
    x = [m.isoformat() for m in months]
    data: list[dict[str, object]] = []
    for line in lines:
        data.append(
            {
                "type": "scatter",
                "name": plotly_text(line.name),
                "x": x,
                "y": [compact(v) for v in line.values],
                "mode": "lines+markers",
                "line": {"color": line.color, "width": line.width, "dash": line.dash},
                "marker": {"size": 4, "color": line.color},
                "connectgaps": False,
                "hovertemplate": hover_template(unit, named=True),
            }
        )
    if target is not None and any(not is_missing(t) for t in target):
        data.append(
            {
                "type": "scatter",
                "name": plotly_text(target_name),
                "x": x,
                "y": [compact(t) for t in target],
                "mode": "lines",
                "line": {"color": TARGET_COLOR, "width": 2, "dash": "dot", "shape": "hv"},
                "hovertemplate": hover_template(unit, named=True),
            }
        )
    return {
        "data": data,
        "layout": {
            "height": COMPARE_HEIGHT_PX,
            "margin": {"l": 64, "r": 16, "t": 8, "b": 8},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "font": {"family": FONT_FAMILY, "size": 12, "color": TEXT_COLOR},
            "hovermode": "closest",
            "xaxis": {
                "range": month_range(months),
                "dtick": month_tick_step(len(months)),
                "tickformat": "%b %y",
                "showgrid": False,
                "linecolor": GRID_COLOR,
                "ticks": "outside",
                "tickcolor": GRID_COLOR,
                "fixedrange": True,
                "automargin": True,
            },
            "yaxis": {
                "gridcolor": GRID_COLOR,
                "zeroline": False,
                "nticks": 6,
                "fixedrange": True,
                "automargin": True,
                **axis_format(unit),
            },
            "legend": {
                "orientation": "h",
                "x": 0,
                "xanchor": "left",
                "y": -0.12,
                "yanchor": "top",
                "font": {"size": 11},
            },
            "showlegend": True,
        },
    }


BRIDGE_ROW_PX = 34  # height per bar of the value bridge: a phone's finger and a label's line
BRIDGE_COLORS = {"increasing": "#15803d", "decreasing": "#dc2626", "totals": "#1e3a5f"}


def bridge_spec(
    steps: Sequence[tuple[str, str, float | None]], total: tuple[str, str, float | None]
) -> Spec:
    """A horizontal waterfall from the operations cost (negative) through each value stream to
    the net, which plotly draws as the total of the steps.

    `steps` are (English label, Chinese label, CNY), the cost already negative; a step without a
    value counts as 0. Plotly sums the steps into the total bar itself; `total` carries the
    published net as its value for the hover and the tests. Bars run top to bottom with the
    labels beside them, so the chart reads on a phone; site.js swaps the labels for the Chinese
    ones (kept in the trace's `meta`).
    """
    en = [plotly_text(label) for label, _, _ in steps] + [plotly_text(total[0])]
    zh = [plotly_text(label) for _, label, _ in steps] + [plotly_text(total[1])]
    x = [compact(value) or 0.0 for _, _, value in steps] + [compact(total[2]) or 0.0]
    return {
        "data": [
            {
                "type": "waterfall",
                "orientation": "h",
                "y": en,
                "x": x,
                "measure": ["relative"] * len(steps) + ["total"],
                "meta": {"en": en, "zh": zh},
                "texttemplate": "¥%{x:,.0f}",
                "textposition": "auto",
                "hovertemplate": "%{y}: ¥%{x:,.0f}<extra></extra>",
                "connector": {"line": {"color": GRID_COLOR}},
                "increasing": {"marker": {"color": BRIDGE_COLORS["increasing"]}},
                "decreasing": {"marker": {"color": BRIDGE_COLORS["decreasing"]}},
                "totals": {"marker": {"color": BRIDGE_COLORS["totals"]}},
                "showlegend": False,
            }
        ],
        "layout": {
            "height": 60 + BRIDGE_ROW_PX * len(en),
            "margin": {"l": 8, "r": 16, "t": 8, "b": 8},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "font": {"family": FONT_FAMILY, "size": 12, "color": TEXT_COLOR},
            "hovermode": "closest",
            "xaxis": {
                "gridcolor": GRID_COLOR,
                "zeroline": True,
                "zerolinecolor": TEXT_COLOR,
                "tickprefix": "¥",
                "tickformat": "~s",
                "nticks": 5,
                "fixedrange": True,
                "automargin": True,
            },
            "yaxis": {"autorange": "reversed", "fixedrange": True, "automargin": True},
            "showlegend": False,
        },
    }
