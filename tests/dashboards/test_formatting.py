from __future__ import annotations

from datetime import date, datetime

import pytest

from dashboards.formatting import (
    MISSING,
    change,
    change_arrow,
    change_tone,
    format_change,
    format_count,
    format_month,
    format_target,
    format_timestamp,
    format_value,
    format_volume,
    is_low_volume,
    month_window,
    shift_month,
    status_class,
    status_label,
)


def test_format_value_percent() -> None:
    assert format_value(0.873, "percent") == "87.3%"
    assert format_value(1.0, "percent") == "100.0%"


def test_format_value_days() -> None:
    assert format_value(2.44, "days") == "2.4 d"


def test_format_value_seconds() -> None:
    assert format_value(312.4, "seconds") == "312 s"
    assert format_value(4321.0, "seconds") == "4,321 s"


def test_format_value_hours() -> None:
    assert format_value(5.06, "hours") == "5.1 h"


def test_format_value_points() -> None:
    assert format_value(34.46, "points") == "34.5"


def test_format_value_per_10k() -> None:
    assert format_value(0.4215, "per_10k") == "0.42 per 10k"


def test_format_value_cny_has_thousands_separators() -> None:
    assert format_value(1234567.4, "cny") == "¥1,234,567"
    assert format_value(-2500.0, "cny") == "−¥2,500"


def test_format_value_count_and_ratio() -> None:
    assert format_value(12345.0, "count") == "12,345"
    assert format_value(1.2345, "ratio") == "1.23"


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_format_value_missing_is_dash(missing: float | None) -> None:
    assert format_value(missing, "percent") == MISSING == "–"


@pytest.mark.parametrize("unit", [None, "", "furlongs"])
def test_format_value_unknown_unit_is_plain_number(unit: str | None) -> None:
    assert format_value(1234.567, unit) == "1,234.57"


def test_format_value_never_shows_negative_zero() -> None:
    assert format_value(-0.0001, "percent") == "0.0%"


def test_format_change_percent_in_points() -> None:
    assert format_change(0.012, "percent") == "+1.2 pp"
    assert format_change(-0.008, "percent") == "−0.8 pp"


def test_format_change_keeps_unit() -> None:
    assert format_change(-0.3, "days") == "−0.3 d"
    assert format_change(12000.0, "cny") == "+¥12,000"
    assert format_change(0.0, "seconds") == "±0 s"


def test_format_change_missing_is_dash() -> None:
    assert format_change(None, "days") == MISSING


def test_change_tone_higher_is_better() -> None:
    assert change_tone(1.0, "higher_is_better") == "good"
    assert change_tone(-1.0, "higher_is_better") == "bad"


def test_change_tone_lower_is_better() -> None:
    assert change_tone(-0.3, "lower_is_better") == "good"
    assert change_tone(0.3, "lower_is_better") == "bad"


@pytest.mark.parametrize("direction", ["none", None, "sideways"])
def test_change_tone_without_direction_is_neutral(direction: str | None) -> None:
    assert change_tone(5.0, direction) == "neutral"
    assert change_tone(-5.0, direction) == "neutral"


def test_change_tone_no_change_is_neutral() -> None:
    assert change_tone(0.0, "higher_is_better") == "neutral"


def test_change_tone_without_previous_is_none() -> None:
    assert change_tone(None, "higher_is_better") is None
    assert change_tone(float("nan"), "lower_is_better") is None


def test_change_arrow_points_the_way_of_the_change() -> None:
    assert change_arrow(0.1) == "▲"
    assert change_arrow(-0.1) == "▼"
    assert change_arrow(0.0) == "="


def test_format_month_short_month_and_year() -> None:
    assert format_month(date(2026, 3, 1)) == "Mar 2026"


def test_shift_month_crosses_years_both_ways() -> None:
    assert shift_month(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert shift_month(date(2026, 10, 1), -12) == date(2025, 10, 1)
    assert shift_month(date(2025, 12, 1), 1) == date(2026, 1, 1)


def test_month_window_ends_with_latest_oldest_first() -> None:
    window = month_window(date(2026, 10, 1), 13)
    assert len(window) == 13
    assert window[0] == date(2025, 10, 1)
    assert window[-1] == date(2026, 10, 1)


def test_change_is_latest_minus_base() -> None:
    assert change(0.9, 0.85) == pytest.approx(0.05)
    assert change(3.0, 4.5) == pytest.approx(-1.5)


@pytest.mark.parametrize(("latest", "base"), [(None, 1.0), (1.0, None), (float("nan"), 1.0)])
def test_change_missing_side_is_none(latest: float | None, base: float | None) -> None:
    assert change(latest, base) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [("green", "green"), ("AMBER", "amber"), (" red ", "red"), (None, "none"), ("blue", "none")],
)
def test_status_class_maps_dbt_status_to_css(status: str | None, expected: str) -> None:
    assert status_class(status) == expected


def test_status_label_has_words_not_only_colour() -> None:
    assert status_label("green") == ("On target", "达标")
    assert status_label("red")[0] == "Off target"
    assert status_label(None)[0] == "No target"


def test_format_volume_with_thousands_separators() -> None:
    assert format_volume(1314.0) == "n = 1,314"
    assert format_volume(None) is None


def test_is_low_volume_below_minimum_only() -> None:
    assert is_low_volume(3.0)
    assert not is_low_volume(30.0)
    # Percentiles have no denominator: nothing to judge, so never "small base".
    assert not is_low_volume(None)


def test_format_target_states_the_direction() -> None:
    assert format_target(0.9, "percent", "higher_is_better") == "≥ 90.0%"
    assert format_target(5.0, "days", "lower_is_better") == "≤ 5.0 d"
    assert format_target(1000.0, "cny", "none") == "≈ ¥1,000"
    assert format_target(None, "days", "lower_is_better") is None


def test_format_count_rounds_and_separates() -> None:
    assert format_count(1234567.4) == "1,234,567"
    assert format_count(None) == MISSING


def test_format_timestamp_to_the_minute() -> None:
    assert format_timestamp(datetime(2026, 11, 2, 6, 5, 59)) == "2026-11-02 06:05"
    assert format_timestamp(None) == MISSING


def test_format_change_per_10k_without_long_suffix() -> None:
    assert format_change(0.43, "per_10k") == "+0.43"
