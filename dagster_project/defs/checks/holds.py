"""`meta.kpi_holds`: the KPIs a failed check holds back from the publication, and why.

A failed KPI check holds back only what it found wrong, not the whole publication: the metric at
the units whose values failed (plausible bounds, rates), or the metric at every unit when its tiers
do not reconcile (the group against the sum of its subsidiaries: which side is wrong cannot be
told). One row per held (metric, unit): `org_level` and `org_code` null mean every unit. The
publication (defs/publish) keeps the previously published values of a held pair and the pages and
`opsvalue status` show the pair as stale with the check and reason.

The rows are the current state: each run of a check replaces its own rows, so a hold lasts while
its check keeps finding it (`since` is when it was first found) and goes once the check passes.

This module owns the table: its DDL and every query on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from datetime import datetime

import duckdb

from dagster_project.core.warehouse import table_exists
from dagster_project.defs.checks.kpi_checks import Finding

HOLDS_TABLE = "meta.kpi_holds"

DDL = f"""
create schema if not exists meta;
create table if not exists {HOLDS_TABLE} (
    check_name varchar not null,
    metric_name varchar not null,
    org_level varchar,                -- null: the metric at every level and unit
    org_code varchar,                 -- null: the metric at every unit
    findings integer not null,        -- the check's findings behind this hold (months, units)
    reason varchar not null,          -- the first finding, as the check reports it
    since timestamp not null,         -- the first run that found it; kept while it lasts
    updated_at timestamp not null
);
"""
COLUMNS = "check_name, metric_name, org_level, org_code, findings, reason, since"


@dataclass(frozen=True)
class Hold:
    """One metric held back by one check, at one unit or (org_code None) at every unit."""

    check_name: str
    metric_name: str
    org_level: str | None
    org_code: str | None
    findings: int
    reason: str
    since: datetime | None = None

    @property
    def where(self) -> str:
        """The held unit in words: 'branch LIF-JS', or 'every unit'."""
        return f"{self.org_level} {self.org_code}" if self.org_code else "every unit"


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


def holds_from_findings(
    check_name: str, findings: Iterable[Finding], whole_metric: bool = False
) -> list[Hold]:
    """The holds a check's findings ask for: one per (metric, unit) found, or per metric.

    `reason` is the first finding (in the check's order: by metric, month, level, unit), with
    the count of the others."""
    grouped: dict[tuple[str, str | None, str | None], list[Finding]] = {}
    for finding in findings:
        unit = (None, None) if whole_metric else (finding.org_level, finding.org_code)
        grouped.setdefault((finding.metric_name, *unit), []).append(finding)
    holds = []
    for (metric, level, code), found in grouped.items():
        first = found[0]
        reason = f"{first.period_start[:7]}"
        if whole_metric:
            reason += f" {first.org_level} {first.org_code}"
        reason += f": {first.problem}"
        if len(found) > 1:
            reason += f" (+{len(found) - 1} more)"
        holds.append(Hold(check_name, metric, level, code, len(found), reason))
    return sorted(holds, key=lambda h: (h.metric_name, h.org_level or "", h.org_code or ""))


def record_holds(
    con: duckdb.DuckDBPyConnection, check_name: str, holds: Sequence[Hold], at: datetime
) -> list[Hold]:
    """Replace the check's holds by `holds`; a hold it already had keeps its `since`.

    Returns the holds as recorded (with `since`)."""
    ensure_table(con)
    con.execute("begin transaction")
    try:
        previous = {
            (m, lv, c): since
            for m, lv, c, since in con.execute(
                f"select metric_name, org_level, org_code, since from {HOLDS_TABLE} "
                "where check_name = ?",
                [check_name],
            ).fetchall()
        }
        con.execute(f"delete from {HOLDS_TABLE} where check_name = ?", [check_name])
        recorded = [
            replace(h, since=previous.get((h.metric_name, h.org_level, h.org_code), at))
            for h in holds
        ]
        if recorded:
            con.executemany(
                f"insert into {HOLDS_TABLE} ({COLUMNS}, updated_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?)",
                [[*astuple(h), at] for h in recorded],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return recorded


def current_holds(con: duckdb.DuckDBPyConnection) -> list[Hold]:
    """Every hold now, by metric and unit (none before the first check ran)."""
    if not table_exists(con, "meta", "kpi_holds"):
        return []
    rows = con.execute(
        f"select {COLUMNS} from {HOLDS_TABLE} "
        "order by metric_name, org_level nulls first, org_code nulls first, check_name"
    ).fetchall()
    return [Hold(*row) for row in rows]


def held_rows_sql(alias: str) -> str:
    """SQL: the KPI row `alias` (of marts.fct_kpi_values) belongs to a held (metric, unit)."""
    return (
        f"exists (select 1 from {HOLDS_TABLE} as held where held.metric_name = {alias}.metric_name "
        f"and (held.org_code is null or (held.org_level = {alias}.org_level "
        f"and held.org_code = {alias}.org_code)))"
    )
