"""Checks on the published KPIs (marts.fct_kpi_values), configured in expectations/kpi_checks.yml.

Each function returns the findings (empty = passed) as plain rows, so the Dagster checks
(defs/checks) and the tests call the same logic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from dagster_project.core.settings import KPI_CHECKS_FILE

KPI_TABLE = "marts.fct_kpi_values"
CATALOG_TABLES = ("dim_metric_catalog", "dim_metrics")


@dataclass(frozen=True)
class Finding:
    metric_name: str
    period_start: str
    org_level: str
    org_code: str
    problem: str

    def __str__(self) -> str:
        return (
            f"{self.metric_name} {self.period_start} {self.org_level} {self.org_code}: "
            f"{self.problem}"
        )


def load_config(expectations_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((expectations_dir / KPI_CHECKS_FILE).read_text(encoding="utf-8")) or {}


def _catalog(con: duckdb.DuckDBPyConnection) -> str | None:
    """The metric catalog table with unit and source_systems, or None before it exists."""
    for table in CATALOG_TABLES:
        row = con.execute(
            "select count(*) from information_schema.columns where table_schema = 'marts' "
            "and table_name = ? and column_name in ('metric_name', 'unit', 'source_systems')",
            [table],
        ).fetchone()
        if row and row[0] == 3:
            return f"marts.{table}"
    return None


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    schema, name = table.split(".")
    row = con.execute(
        "select count(*) from information_schema.columns where table_schema = ? "
        "and table_name = ? and column_name = ?",
        [schema, name, column],
    ).fetchone()
    return bool(row and row[0])


def _findings(rows: list[tuple]) -> list[Finding]:
    return [Finding(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def reconciliation(con: duckdb.DuckDBPyConnection, config: dict[str, Any]) -> list[Finding]:
    """Group numerator and denominator = sums over the subsidiaries, month by month."""
    settings = config.get("reconciliation") or {}
    tolerance = float(settings.get("tolerance", 1e-6))
    skip = [str(s) for s in settings.get("skip_source_systems") or []]
    catalog = _catalog(con)
    skipped = "false"
    if catalog and skip:
        patterns = " or ".join(
            f"list_contains(string_split(source_systems, ','), '{s}')" for s in skip
        )
        skipped = f"metric_name in (select metric_name from {catalog} where {patterns})"
    rows = con.execute(
        f"""
        with group_rows as (
            select metric_name, period_start, org_code, numerator, denominator
            from {KPI_TABLE}
            where org_level = 'group' and numerator is not null and not ({skipped})
        ),
        subsidiaries as (
            select metric_name, period_start, sum(numerator) as numerator,
                sum(denominator) as denominator
            from {KPI_TABLE}
            where org_level = 'subsidiary'
            group by metric_name, period_start
        )
        select g.metric_name, g.period_start, 'group', g.org_code,
            printf('group numerator %.6g / denominator %.6g, subsidiaries sum to %.6g / %.6g',
                g.numerator, g.denominator, s.numerator, s.denominator)
        from group_rows g
        join subsidiaries s using (metric_name, period_start)
        where abs(g.numerator - s.numerator) > ? * greatest(1, abs(g.numerator))
            or abs(coalesce(g.denominator, 0) - coalesce(s.denominator, 0))
                > ? * greatest(1, abs(coalesce(g.denominator, 0)))
        order by 1, 2
        """,
        [tolerance, tolerance],
    ).fetchall()
    return _findings(rows)


def rates(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Metrics with unit percent lie in [0, 1] at every tier."""
    catalog = _catalog(con)
    if catalog is None:
        return []
    rows = con.execute(
        f"""
        select k.metric_name, k.period_start, k.org_level, k.org_code,
            printf('rate %.6g outside [0, 1]', k.value)
        from {KPI_TABLE} k join {catalog} c using (metric_name)
        where c.unit = 'percent' and (k.value < 0 or k.value > 1)
        order by 1, 2, 3, 4
        """
    ).fetchall()
    return _findings(rows)


def bounds(con: duckdb.DuckDBPyConnection, config: dict[str, Any]) -> list[Finding]:
    """Values within the plausible bounds of the metric, or of its unit."""
    catalog = _catalog(con)
    by_unit = config.get("bounds_by_unit") or {}
    by_metric = config.get("bounds_by_metric") or {}
    limits = [
        ("unit", name, spec.get("min"), spec.get("max")) for name, spec in by_unit.items()
    ] + [("metric", name, spec.get("min"), spec.get("max")) for name, spec in by_metric.items()]
    if not limits:
        return []
    values = ", ".join(
        f"('{kind}', '{name}', {'null' if lo is None else float(lo)}, "
        f"{'null' if hi is None else float(hi)})"
        for kind, name, lo, hi in limits
    )
    unit = "c.unit" if catalog else "null"
    join = f"left join {catalog} c using (metric_name)" if catalog else ""
    # a unit's upper bound is for averages and ratios; a sum (hours released by every bot of
    # the group in a month) grows with the business, so only its lower bound applies
    summed = "false"
    if catalog and _has_column(con, catalog, "rollup_kind"):
        summed = "c.rollup_kind in ('additive', 'semi_additive')"
    rows = con.execute(
        f"""
        with limits(kind, name, lo, hi) as (values {values}),
        valued as (
            select k.*, {unit} as unit, {summed} as is_sum from {KPI_TABLE} k {join}
        ),
        bounded as (
            select v.*,
                coalesce(m.lo, u.lo) as lo,
                coalesce(m.hi, case when not v.is_sum then u.hi end) as hi,
                case when m.name is not null then 'metric' else 'unit ' || v.unit end as basis
            from valued v
            left join limits m on m.kind = 'metric' and m.name = v.metric_name
            left join limits u on u.kind = 'unit' and u.name = v.unit
        )
        select metric_name, period_start, org_level, org_code,
            printf('value %.6g outside the plausible [%s, %s] (%s)', value,
                coalesce(cast(lo as varchar), '-inf'), coalesce(cast(hi as varchar), 'inf'), basis)
        from bounded
        where value < lo or value > hi
        order by 1, 2, 3, 4
        """
    ).fetchall()
    return _findings(rows)


def month_over_month(con: duckdb.DuckDBPyConnection, config: dict[str, Any]) -> list[Finding]:
    """Changes from the previous month beyond the metric's threshold (to look at, not to block)."""
    settings = config.get("month_over_month") or {}
    levels = [str(x) for x in settings.get("levels") or ["group", "subsidiary"]]
    default = settings.get("default") or {"relative": 0.5}
    catalog = _catalog(con)
    unit_rules = settings.get("by_unit") or {}
    metric_rules = settings.get("by_metric") or {}

    def rule_values(kind: str, rules: dict[str, Any]) -> list[str]:
        return [
            f"('{kind}', '{name}', {float(spec['relative']) if 'relative' in spec else 'null'}, "
            f"{float(spec['absolute']) if 'absolute' in spec else 'null'})"
            for name, spec in rules.items()
        ]

    values = rule_values("unit", unit_rules) + rule_values("metric", metric_rules)
    values.append(
        f"('default', '*', {float(default['relative']) if 'relative' in default else 'null'}, "
        f"{float(default['absolute']) if 'absolute' in default else 'null'})"
    )
    unit = "c.unit" if catalog else "null"
    join = f"left join {catalog} c using (metric_name)" if catalog else ""
    marks = ", ".join("?" for _ in levels)
    rows = con.execute(
        f"""
        with rules(kind, name, relative, absolute) as (values {", ".join(values)}),
        series as (
            select k.metric_name, k.period_start, k.org_level, k.org_code, k.value, {unit} as unit,
                lag(k.value) over w as previous,
                lag(k.period_start) over w as previous_period
            from {KPI_TABLE} k {join}
            where k.org_level in ({marks})
            window w as (partition by k.metric_name, k.org_level, k.org_code
                order by k.period_start)
        ),
        judged as (
            select s.*,
                coalesce(m.relative, u.relative, d.relative) as relative,
                coalesce(m.absolute, u.absolute, d.absolute) as absolute
            from series s
            cross join (select * from rules where kind = 'default') d
            left join rules m on m.kind = 'metric' and m.name = s.metric_name
            left join rules u on u.kind = 'unit' and u.name = s.unit
            where s.previous is not null
                and s.previous_period = s.period_start - interval 1 month
        )
        select metric_name, period_start, org_level, org_code,
            printf('%.6g after %.6g the month before', value, previous)
        from judged
        where (absolute is not null and abs(value - previous) > absolute)
            or (absolute is null and relative is not null and previous <> 0
                and abs(value / previous - 1) > relative)
        order by 1, 2, 3, 4
        """,
        levels,
    ).fetchall()
    return _findings(rows)
