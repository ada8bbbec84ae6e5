"""How KPI values, month-on-month changes and their colours are shown on the dashboards.

Pure functions only, so every rule here is unit-tested without a warehouse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Literal

MISSING = "–"
MINUS = "−"  # U+2212: a real minus sign lines up with "+" in proportional fonts.

Tone = Literal["good", "bad", "neutral"]


@dataclass(frozen=True)
class UnitFormat:
    """Display rule for one `dim_metrics.unit`; changes use the same rule with `change_suffix`."""

    decimals: int
    suffix: str = ""
    prefix: str = ""
    scale: float = 1.0
    change_suffix: str | None = None
    # d3-format string for plotly axes and hovers; None keeps plotly's default.
    axis_format: str | None = None


# Percent metrics are stored as fractions 0..1; their changes are percentage points.
UNIT_FORMATS: dict[str, UnitFormat] = {
    "percent": UnitFormat(1, "%", scale=100.0, change_suffix=" pp", axis_format=".1~%"),
    "days": UnitFormat(1, " d"),
    "seconds": UnitFormat(0, " s"),
    "hours": UnitFormat(1, " h"),
    "points": UnitFormat(1),
    "per_10k": UnitFormat(2, " per 10k"),
    "cny": UnitFormat(0, prefix="¥"),
    "count": UnitFormat(0, axis_format=",d"),
    "ratio": UnitFormat(2),
}
# Metrics without a (known) unit: two decimals, enough for ratios and scores alike.
FALLBACK_FORMAT = UnitFormat(2)


def unit_format(unit: str | None) -> UnitFormat:
    """The display rule for a unit, falling back to a plain number for unknown units."""
    return UNIT_FORMATS.get(unit or "", FALLBACK_FORMAT)


def is_missing(value: float | None) -> bool:
    """True for SQL NULL and for NaN (pandas and some engines turn NULL into NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def display_number(value: float, unit: str | None) -> float:
    """The value in display units, rounded to the shown precision (never -0.0)."""
    fmt = unit_format(unit)
    # Adding 0.0 turns -0.0 into 0.0, so a tiny negative never shows as "-0.0".
    return round(value * fmt.scale, fmt.decimals) + 0.0


def _number(value: float, decimals: int) -> str:
    return f"{abs(value):,.{decimals}f}"


def format_value(value: float | None, unit: str | None) -> str:
    """Format a KPI value for display: 0.873 percent -> "87.3%", 2.44 days -> "2.4 d"."""
    if is_missing(value):
        return MISSING
    fmt = unit_format(unit)
    shown = display_number(value, unit)
    sign = MINUS if shown < 0 else ""
    return f"{sign}{fmt.prefix}{_number(shown, fmt.decimals)}{fmt.suffix}"


def format_change(delta: float | None, unit: str | None) -> str:
    """Format a month-on-month change with its sign: +0.012 percent -> "+1.2 pp"."""
    if is_missing(delta):
        return MISSING
    fmt = unit_format(unit)
    shown = display_number(delta, unit)
    sign = "+" if shown > 0 else MINUS if shown < 0 else "±"
    suffix = fmt.suffix if fmt.change_suffix is None else fmt.change_suffix
    return f"{sign}{fmt.prefix}{_number(shown, fmt.decimals)}{suffix}"


def change_tone(delta: float | None, direction: str | None) -> Tone | None:
    """Whether a change is good, bad or neutral for a metric with this direction.

    None when there is no change to judge (no previous value).
    """
    if is_missing(delta):
        return None
    if delta == 0 or direction not in ("higher_is_better", "lower_is_better"):
        return "neutral"
    went_up = delta > 0
    return "good" if went_up == (direction == "higher_is_better") else "bad"


def change_arrow(delta: float) -> str:
    """▲ for a rise, ▼ for a fall, = for no change."""
    return "▲" if delta > 0 else "▼" if delta < 0 else "="


def format_month(period: date) -> str:
    """A month as shown to managers: "Mar 2026"."""
    return period.strftime("%b %Y")
