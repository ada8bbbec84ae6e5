"""How KPI values, changes, targets, volumes and statuses are shown on the dashboards.

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
StatusClass = Literal["green", "amber", "red", "none"]

# Statuses are computed in dbt (fct_kpi_values.status); the site only shows them.
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "green": ("On target", "达标"),
    "amber": ("Near target", "接近目标"),
    "red": ("Off target", "未达标"),
    "none": ("No target", "无目标"),
}
# Ratios over fewer cases than this are shown but not ranked: a sub-branch with 3 claims, all
# automated, must not top the auto-processing league.
LOW_VOLUME_MIN = 30


@dataclass(frozen=True)
class UnitFormat:
    """Display rule for one catalog unit; changes use the same rule with `change_suffix`."""

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
    "days": UnitFormat(1, " d", axis_format=",.1~f"),
    "seconds": UnitFormat(0, " s", axis_format=",~f"),
    "hours": UnitFormat(1, " h"),
    "minutes": UnitFormat(1, " min"),
    "points": UnitFormat(1),
    "per_10k": UnitFormat(2, " per 10k", change_suffix=""),
    "cny": UnitFormat(0, prefix="¥", axis_format=",.0f"),
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


def _formatted(value: float, unit: str | None, signs: tuple[str, str, str], change: bool) -> str:
    """`value` in its unit's display form, with the sign for (positive, negative, zero)."""
    fmt = unit_format(unit)
    shown = display_number(value, unit)
    sign = signs[0] if shown > 0 else signs[1] if shown < 0 else signs[2]
    suffix = fmt.change_suffix if change and fmt.change_suffix is not None else fmt.suffix
    return f"{sign}{fmt.prefix}{_number(shown, fmt.decimals)}{suffix}"


def format_value(value: float | None, unit: str | None) -> str:
    """Format a KPI value for display: 0.873 percent -> "87.3%", 2.44 days -> "2.4 d"."""
    if is_missing(value):
        return MISSING
    return _formatted(value, unit, ("", MINUS, ""), change=False)


def format_change(delta: float | None, unit: str | None) -> str:
    """Format a month-on-month change with its sign: +0.012 percent -> "+1.2 pp"."""
    if is_missing(delta):
        return MISSING
    return _formatted(delta, unit, ("+", MINUS, "±"), change=True)


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


def format_month_short(period: date) -> str:
    """A month in a compact comparison label: "Mar 25"."""
    return period.strftime("%b %y")


def shift_month(period: date, months: int) -> date:
    """First day of the month `months` months after (negative: before) `period`'s month."""
    index = period.year * 12 + period.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_window(latest: date, length: int) -> tuple[date, ...]:
    """The `length` months ending with `latest`, oldest first."""
    return tuple(shift_month(latest, -k) for k in range(length - 1, -1, -1))


def change(latest: float | None, base: float | None) -> float | None:
    """latest - base, or None when either side is missing (no value, no change)."""
    if is_missing(latest) or is_missing(base):
        return None
    return latest - base


def status_class(status: str | None) -> StatusClass:
    """The CSS status of a KPI row: its dbt status when valid, "none" otherwise."""
    cleaned = (status or "").strip().lower()
    return cleaned if cleaned in ("green", "amber", "red") else "none"  # type: ignore[return-value]


def status_label(status: str | None) -> tuple[str, str]:
    """(English, Chinese) words for a status, never colour alone."""
    return STATUS_LABELS[status_class(status)]


def format_count(value: float | None) -> str:
    """A whole number with thousands separators: 1314.0 -> "1,314"."""
    if is_missing(value):
        return MISSING
    return f"{round(value):,}"


def format_volume(denominator: float | None) -> str | None:
    """How many cases a ratio is over, "n = 1,314"; None for percentiles (no denominator)."""
    if is_missing(denominator):
        return None
    return f"n = {format_count(denominator)}"


def is_low_volume(denominator: float | None, minimum: float = LOW_VOLUME_MIN) -> bool:
    """True when a ratio rests on too few cases to be compared with its peers."""
    return not is_missing(denominator) and denominator < minimum


def target_operator(direction: str | None) -> str:
    """≥ for higher-is-better metrics, ≤ for lower-is-better, ≈ when no direction."""
    return {"higher_is_better": "≥", "lower_is_better": "≤"}.get(direction or "", "≈")


def format_target(target: float | None, unit: str | None, direction: str | None) -> str | None:
    """The target as a condition, "≥ 90.0%" or "≤ 3.0 d"; None when there is no target."""
    if is_missing(target):
        return None
    return f"{target_operator(direction)} {format_value(target, unit)}"


def format_timestamp(value: object) -> str:
    """A timestamp as "2026-11-25 23:34" (no seconds); "–" when missing."""
    if value is None or not hasattr(value, "strftime"):
        return MISSING
    return value.strftime("%Y-%m-%d %H:%M")
