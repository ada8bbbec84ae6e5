"""Plausibility of the marts' durations and rates, whatever engine computed them.

Every dbt test passed on Spark while the claims' cycle times were 1000 times too large: the tests
check keys, codes and invariants, never whether a number can be true. These checks do, from what
a value is (its unit) and what it was computed from, without trusting the SQL that computed it:

- a mart column named for a time unit (`_days`, `_hours`, `_min`, `_sec`) is a duration between
  the record's own events: at least 0 and at most the time from its earliest `_at` timestamp to
  its latest; the few that are not measured between a record's events say why in BOUNDS;
- a mart column named as a rate or share (`_rate`, `_share`) lies in [0, 1];
- a KPI value, target or threshold lies in the range of its unit in the metric catalog
  (dim_metric_catalog.unit): percent in [0, 1], points in [-100, 100], counts and amounts at
  least 0; a mean or percentile of a duration lies between the smallest and the largest value of
  the measure it is computed from, read from its semantic model's table.

A column named for a unit, or a metric with a unit, that no rule covers is itself a finding, so a
new duration or rate cannot go unchecked. The checks read the marts through `Marts` (a few
portable selects), so tests/test_plausibility.py runs them on DuckDB's build and
tests/spark/compare.py on Spark's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

# Seconds per unit, by the column-name suffix (STYLE.md: a unit suffix where one could doubt).
DURATION_SUFFIXES = {"_days": 86_400, "_hours": 3_600, "_min": 60, "_sec": 1}
RATE_SUFFIXES = ("_rate", "_share")
# Seconds per unit, by the metric catalog's unit.
CATALOG_TIME_UNITS = {"days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}
CATALOG_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "percent": (0.0, 1.0),
    "points": (-100.0, 100.0),
    "per_10k": (0.0, 10_000.0),
    "count": (0.0, None),
    "cny": (0.0, None),
}
# Tables holding a value, target and threshold per metric, and those columns.
KPI_COLUMNS = {
    "fct_kpi_values": ("value", "target", "red_threshold"),
    "dim_metric_targets": ("target", "red_threshold"),
    "dim_metric_catalog": ("group_target", "group_red_threshold"),
}
# Relative slack for values computed in floating point (a mean equal to its largest sample).
SLACK = 1e-9
HOURS_IN_A_MONTH = 24 * 31


class Marts(Protocol):
    """Read access to one engine's marts (schema `marts`)."""

    def tables(self) -> list[str]: ...

    def columns(self, table: str) -> list[str]: ...

    def rows(self, sql: str) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Bound:
    """The range of a mart column that is not a duration between the record's own events, in
    the column's unit; `upper` may read other columns of the row."""

    why: str
    upper: Callable[[Mapping[str, Any]], float | None]
    columns: tuple[str, ...] = ()
    lower: float = 0.0


BOUNDS: dict[tuple[str, str], Bound] = {
    ("fct_contacts", "handle_time_sec"): Bound(
        "talk, hold and after-call work of one contact, which goes on after the contact ends:"
        " not bounded by its timestamps, but by a day",
        lambda row: 86_400.0,
    ),
    ("fct_endorsements", "sla_hours"): Bound(
        "a service-level target, not a measured time: at most a year", lambda row: 24.0 * 366
    ),
    ("fct_staffing_monthly", "productive_hours"): Bound(
        "a center's productive hours in a month: at most its FTE (rounded to hundredths) working"
        " every hour of the month",
        lambda row: None if row["fte"] is None else (float(row["fte"]) + 0.005) * HOURS_IN_A_MONTH,
        columns=("fte",),
    ),
}


def duration_unit(column: str) -> int | None:
    """Seconds per unit of a column named for a time unit, or None."""
    for suffix, seconds in DURATION_SUFFIXES.items():
        if column.endswith(suffix):
            return seconds
    return None


def is_rate(column: str) -> bool:
    return column.endswith(RATE_SUFFIXES)


def number(value: Any) -> float | None:
    return None if value is None else float(value)


def out_of_range(value: float, lower: float | None, upper: float | None) -> bool:
    """Outside [lower, upper] by more than floating-point slack."""
    slack = SLACK * max(1.0, abs(value))
    if lower is not None and value < lower - slack:
        return True
    return upper is not None and value > upper + slack


def instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise TypeError(f"not a timestamp: {value!r}")


def finding(table: str, column: str, bad: list[str], total: int, rule: str) -> str:
    return (
        f"marts.{table}.{column}: {len(bad)} of {total} values outside {rule}, e.g. "
        + "; ".join(bad[:3])
    )


def column_problems(marts: Marts) -> list[str]:
    """Durations and rates of every mart table outside their bounds, and any duration or rate
    column without a bound."""
    problems: list[str] = []
    for table in sorted(marts.tables()):
        columns = marts.columns(table)
        events = [c for c in columns if c.endswith("_at")]
        for column in columns:
            unit = duration_unit(column)
            if is_rate(column):
                problems += rate_problems(marts, table, column)
            elif unit is not None and (table, column) in BOUNDS:
                problems += bound_problems(marts, table, column, BOUNDS[(table, column)])
            elif unit is not None and len(events) >= 2:
                problems += elapsed_problems(marts, table, column, unit, events)
            elif unit is not None:
                problems.append(
                    f"marts.{table}.{column} is named for a time unit but its table has no two "
                    "event timestamps to bound it: add a Bound to BOUNDS in tests/plausibility.py"
                )
    return problems


def rate_problems(marts: Marts, table: str, column: str) -> list[str]:
    values = [number(v) for (v,) in marts.rows(f"select {column} from marts.{table}")]
    bad = [f"{v!r}" for v in values if v is not None and out_of_range(v, 0.0, 1.0)]
    return [finding(table, column, bad, len(values), "[0, 1]")] if bad else []


def bound_problems(marts: Marts, table: str, column: str, bound: Bound) -> list[str]:
    names = (column, *bound.columns)
    rows = marts.rows(f"select {', '.join(names)} from marts.{table}")
    bad = []
    for row in rows:
        named = dict(zip(names, row, strict=True))
        value, upper = number(named[column]), bound.upper(named)
        if value is not None and out_of_range(value, bound.lower, upper):
            bad.append(f"{value!r} (bound {upper!r})")
    rule = f"its bound ({bound.why})"
    return [finding(table, column, bad, len(rows), rule)] if bad else []


def elapsed_problems(
    marts: Marts, table: str, column: str, unit: int, events: Sequence[str]
) -> list[str]:
    """A duration between a record's events: within 0 and its first-to-last event span."""
    rows = marts.rows(f"select {column}, {', '.join(events)} from marts.{table}")
    bad = []
    for value, *stamps in rows:
        if value is None:
            continue
        times = [t for t in map(instant, stamps) if t is not None]
        span = (max(times) - min(times)).total_seconds() / unit if times else 0.0
        if out_of_range(float(value), 0.0, span):
            bad.append(f"{float(value)!r} with events {span!r} apart")
    rule = "0 and the time between the record's first and last event (" + ", ".join(events) + ")"
    return [finding(table, column, bad, len(rows), rule)] if bad else []


def catalog(marts: Marts) -> dict[str, tuple[str | None, str | None]]:
    """Each metric's unit and rollup kind."""
    rows = marts.rows("select metric_name, unit, rollup_kind from marts.dim_metric_catalog")
    return {name: (unit, rollup) for name, unit, rollup in rows}


def sample_ranges(
    marts: Marts, semantic_tables: Mapping[str, str]
) -> dict[str, tuple[float, float]]:
    """For each mean or percentile metric, the smallest and largest value of the measure it is
    computed from, over the whole table of its semantic model (its latest definition)."""
    rows = marts.rows(
        "select metric_name, definition_version, definition_json"
        " from marts.metric_definition_history"
    )
    latest: dict[str, tuple[int, str]] = {}
    for name, version, definition in rows:
        if name not in latest or version > latest[name][0]:
            latest[name] = (version, definition)
    ranges = {}
    for name, (_, definition) in sorted(latest.items()):
        parsed = json.loads(definition)
        if parsed["kind"] not in ("mean", "percentile"):
            continue
        part = parsed["parts"]["sample" if parsed["kind"] == "percentile" else "numerator"]
        relation = semantic_tables[part["semantic_model"]]
        ((low, high),) = marts.rows(
            f"select min({part['expr']}), max({part['expr']}) from {relation}"
        )
        if low is not None:
            ranges[name] = (float(low), float(high))
    return ranges


def kpi_problems(marts: Marts, semantic_tables: Mapping[str, str]) -> list[str]:
    """KPI values, targets and thresholds outside the range of their metric's unit."""
    units = catalog(marts)
    ranges = sample_ranges(marts, semantic_tables)
    problems = [
        f"metric {name} has unit {unit!r}, which tests/plausibility.py has no range for"
        for name, (unit, _) in sorted(units.items())
        if unit not in CATALOG_BOUNDS and unit not in CATALOG_TIME_UNITS
    ]
    for table, columns in KPI_COLUMNS.items():
        rows = marts.rows(f"select metric_name, {', '.join(columns)} from marts.{table}")
        for position, column in enumerate(columns, start=1):
            bad, metrics = [], set()
            for row in rows:
                name, value = row[0], number(row[position])
                unit = units.get(name, (None, None))[0]
                if value is None or unit is None:
                    continue
                if unit in CATALOG_TIME_UNITS:
                    lower, upper = 0.0, None
                    if column == "value" and name in ranges:
                        lower, upper = ranges[name]
                else:
                    lower, upper = CATALOG_BOUNDS.get(unit, (None, None))
                if out_of_range(value, lower, upper):
                    bad.append(f"{name} {value!r} ({unit}, range {lower!r} to {upper!r})")
                    metrics.add(name)
            if bad:
                rule = "its unit's range (metrics " + ", ".join(sorted(metrics)) + ")"
                problems.append(finding(table, column, bad, len(rows), rule))
    return problems


def implausible_values(marts: Marts, semantic_tables: Mapping[str, str]) -> list[str]:
    """Every finding of the checks, as messages naming the table, column and examples."""
    return column_problems(marts) + kpi_problems(marts, semantic_tables)


def semantic_model_tables(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Each semantic model's table as `schema.table`, from a dbt manifest."""
    return {
        node["name"]: f"{node['node_relation']['schema_name']}.{node['node_relation']['alias']}"
        for node in manifest["semantic_models"].values()
    }


class DuckDBMarts:
    """Marts of a DuckDB file, read through an open connection."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def tables(self) -> list[str]:
        return [
            t
            for (t,) in self.rows(
                "select table_name from duckdb_tables() where schema_name = 'marts'"
            )
        ]

    def columns(self, table: str) -> list[str]:
        return [
            c
            for (c,) in self.rows(
                "select column_name from duckdb_columns()"
                f" where schema_name = 'marts' and table_name = '{table}' order by column_index"
            )
        ]

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()
