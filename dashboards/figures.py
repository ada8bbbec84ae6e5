"""Plotly figures for the dashboard pages: a sparkline per metric tile and small multiples.

Figures are rendered as HTML fragments without plotly.js (the page loads the local copy in
assets/) and with a minimal template, because the default template is ~6 kB per figure.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.formatting import format_month, format_value, is_missing, unit_format

LINE_COLOR = "#2563eb"
GRID_COLOR = "#e5e7eb"
TEXT_COLOR = "#374151"
FONT_FAMILY = (
    "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans CJK SC', "
    "'PingFang SC', 'Microsoft YaHei', sans-serif"
)
PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True}

SPARKLINE_HEIGHT_PX = 64
TRENDS_COLUMNS = 4
TRENDS_ROW_HEIGHT_PX = 200
TRENDS_TITLE_WIDTH_CHARS = 40


@dataclass(frozen=True)
class Series:
    """One metric's monthly values for one org, oldest first; None where not published."""

    key: str
    title: str
    unit: str | None
    periods: tuple[date, ...]
    values: tuple[float | None, ...]


def _y(values: Sequence[float | None]) -> list[float | None]:
    # None leaves a gap in the line instead of interpolating over a month with no value.
    return [None if is_missing(v) else v for v in values]


def _hover_text(series: Series) -> list[str]:
    return [
        f"{format_month(p)}: {format_value(v, series.unit)}"
        for p, v in zip(series.periods, series.values, strict=True)
    ]


def month_tick_step(n_months: int) -> str:
    """A plotly `dtick` that keeps month labels readable in a narrow panel."""
    if n_months <= 6:
        return "M1"
    if n_months <= 12:
        return "M2"
    if n_months <= 24:
        return "M3"
    return "M6"


def month_range(periods: Sequence[date]) -> list[str] | None:
    """An x range from half a month before the first period to half a month after the last."""
    if not periods:
        return None
    half_month = timedelta(days=15)
    return [(min(periods) - half_month).isoformat(), (max(periods) + half_month).isoformat()]


def _trace(series: Series, *, show_markers: bool) -> go.Scatter:
    single = len(series.periods) == 1
    return go.Scatter(
        x=[p.isoformat() for p in series.periods],
        y=_y(series.values),
        mode="lines+markers" if show_markers or single else "lines",
        line={"color": LINE_COLOR, "width": 2},
        marker={"color": LINE_COLOR, "size": 5},
        connectgaps=False,
        text=_hover_text(series),
        hovertemplate="%{text}<extra></extra>",
        showlegend=False,
    )


def sparkline_figure(series: Series, x_range: list[str] | None = None) -> go.Figure:
    """A small axis-free trend line for a metric tile, last point highlighted.

    Pass the page's `month_range` as `x_range` so all tiles share one timeline.
    """
    fig = go.Figure(_trace(series, show_markers=False))
    last = [i for i, v in enumerate(series.values) if not is_missing(v)][-1:]
    if last:
        i = last[0]
        fig.add_trace(
            go.Scatter(
                x=[series.periods[i].isoformat()],
                y=[series.values[i]],
                mode="markers",
                marker={"color": LINE_COLOR, "size": 7},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.update_layout(
        template="none",
        height=SPARKLINE_HEIGHT_PX,
        margin={"l": 4, "r": 8, "t": 6, "b": 6},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        xaxis={"visible": False, "fixedrange": True, "range": x_range},
        yaxis={"visible": False, "fixedrange": True},
        hovermode="closest",
        font={"family": FONT_FAMILY, "size": 11, "color": TEXT_COLOR},
    )
    return fig


def _wrap_title(title: str) -> str:
    lines = textwrap.wrap(title, TRENDS_TITLE_WIDTH_CHARS, max_lines=2, placeholder="…")
    return "<br>".join(lines) or title


def trends_figure(all_series: Sequence[Series]) -> go.Figure:
    """Small multiples: one panel per metric, in tile order, each with its own y axis."""
    cols = TRENDS_COLUMNS
    rows = max(1, math.ceil(len(all_series) / cols))
    height = rows * TRENDS_ROW_HEIGHT_PX + 40
    # Spacing is a fraction of the figure; fixed pixels keep two-line titles clear of the
    # panel above whatever the number of rows.
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_wrap_title(s.title) for s in all_series],
        vertical_spacing=min(0.3, 78 / height),
        horizontal_spacing=0.06,
    )
    all_periods = sorted({p for s in all_series for p in s.periods})
    for i, series in enumerate(all_series):
        row, col = divmod(i, cols)
        fig.add_trace(_trace(series, show_markers=True), row=row + 1, col=col + 1)
        axis_format = unit_format(series.unit).axis_format
        if axis_format:
            fig.update_yaxes(tickformat=axis_format, row=row + 1, col=col + 1)
    fig.update_xaxes(
        # Every panel spans the same months, so a metric published late still lines up.
        range=month_range(all_periods),
        dtick=month_tick_step(len(all_periods)),
        tickformat="%b %y",
        showgrid=False,
        linecolor=GRID_COLOR,
        ticks="outside",
        tickcolor=GRID_COLOR,
        fixedrange=True,
    )
    fig.update_yaxes(
        gridcolor=GRID_COLOR,
        zeroline=False,
        nticks=4,
        fixedrange=True,
        automargin=True,
    )
    fig.update_annotations(font={"size": 12, "color": TEXT_COLOR})
    fig.update_layout(
        template="none",
        height=height,
        margin={"l": 48, "r": 16, "t": 40, "b": 30},
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": FONT_FAMILY, "size": 11, "color": TEXT_COLOR},
        hovermode="closest",
    )
    return fig


def figure_html(fig: go.Figure, div_id: str) -> str:
    """The figure as a `<div>` + `Plotly.newPlot` script, without plotly.js or any CDN link."""
    height = fig.layout.height
    return fig.to_html(
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        config=PLOTLY_CONFIG,
        div_id=div_id,
        default_height=f"{height}px" if height else "100%",
    )
