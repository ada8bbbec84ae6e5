"""Read the published marts the site is built from: one query per table, read-only.

The site reads only `marts.*` (the published KPI tables) and `meta.*` (the publication notice
and gate states), never `raw` or `staging`. Tables and columns added by later work are read when
present; a missing table reads as an empty frame and a missing column as all-null, so the site
degrades (no target: no status; no gate table: no gate notice) instead of failing.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from dashboards.formatting import is_missing

log = logging.getLogger(__name__)

# Every table the site reads and the columns it uses. The Dagster asset depends on these.
MART_COLUMNS: dict[str, tuple[str, ...]] = {
    "marts.fct_kpi_values": (
        "metric_name",
        "period_start",
        "org_level",
        "org_code",
        "numerator",
        "denominator",
        "value",
        "definition_version",
        "target",
        "red_threshold",
        "status",
    ),
    "marts.fct_kpi_attribution": (
        "metric_name",
        "period_start",
        "comparison",
        "org_level",
        "org_code",
        "child_level",
        "child_code",
        "rate_effect",
        "mix_effect",
        "contribution",
        "parent_change",
    ),
    "marts.fct_driver_attribution": (
        "metric_name",
        "period_start",
        "comparison",
        "org_level",
        "org_code",
        "input_role",
        "input_metric",
        "is_filtered",
        "formula_kind",
        "split_method",
        "input_base_value",
        "input_value",
        "contribution",
        "parent_change",
    ),
    "marts.fct_kpi_standardised": (
        "metric_name",
        "period_start",
        "org_level",
        "org_code",
        "segment_dimension",
        "mix_coverage",
        "standardised_value",
    ),
    "marts.dim_metric_catalog": (
        "metric_name",
        "label",
        "label_zh",
        "description",
        "definition",
        "formula",
        "metric_type",
        "rollup_kind",
        "unit",
        "direction",
        "dimension",
        "owner",
        "owner_name",
        "owner_email",
        "source_systems",
        "source_columns",
        "org_attribute",
        "is_kpi",
        "definition_version",
        "definition_hash",
        "last_changed_at",
    ),
    "marts.dim_metric_targets": ("metric_name", "org_level", "target", "red_threshold"),
    "marts.metric_definition_history": (
        "metric_name",
        "definition_version",
        "definition_hash",
        "changed_at",
        "change_summary",
        "change_reason",
        "change_requested_by",
        "change_approved_by",
    ),
    "marts.dim_org": (
        "org_code",
        "org_name",
        "org_level",
        "parent_code",
        "valid_from",
        "valid_to",
        "is_current",
    ),
    "marts.dim_centers": ("center_code", "center_name", "function", "subsidiary_code"),
    "marts.data_quality_scorecard": (
        "source",
        "data_owner",
        "period_start",
        "rows_delivered",
        "rows_loaded",
        "rows_quarantined",
        "rejected_batches",
        "pass_rate",
        "is_stale",
        "rows_quarantined_by_rule",
    ),
    # The value-management system (issue 15): scores, why they moved, the value bridge, the tree.
    "marts.fct_unit_scores": (
        "org_level",
        "org_code",
        "period_start",
        "profile_name",
        "profile_version",
        "score",
        "grade",
        "rank_in_siblings",
        "rank_in_tier",
        "rank_band_low",
        "rank_band_high",
        "is_partial",
        "kpis_scored",
        "kpis_in_profile",
        "parent_code",
    ),
    "marts.fct_score_contributions": (
        "org_level",
        "org_code",
        "period_start",
        "metric_name",
        "sub_score",
        "weight",
        "missing_reason",
        "contribution",
        "score_change",
    ),
    "marts.dim_score_profiles": ("profile_name", "profile_version", "profile_label"),
    # The streams are whatever value-stream metrics the catalog holds (fct_value_created adds a
    # column per stream): the table is read whole, see OPEN_TABLES.
    "marts.fct_value_created": (
        "org_level",
        "org_code",
        "period_start",
        "ops_cost_cny",
        "value_created_cny",
        "net_value_cny",
    ),
    "marts.dim_indicator_tree": (
        "parent_node",
        "parent_kind",
        "child_node",
        "child_kind",
        "link_type",
        "input_role",
        "expected_direction",
        "child_label",
        "child_label_zh",
    ),
    "meta.publication": ("published_at",),
    "meta.source_gate_state": (
        "source",
        "data_owner",
        "state",
        "check_name",
        "reason",
        "since",
        "last_file",
        "last_loaded_at",
        "is_stale",
    ),
    "meta.stale_metrics": ("metric_name", "reason"),
    "meta.kpi_holds": ("check_name", "metric_name", "org_level", "org_code", "reason", "since"),
}
# Rows a table is cut to when read. The pages explain the latest month of each metric only, and
# the attribution holds every month since the first (a quarter of a million rows at scale 1).
LATEST_MONTHS_ONLY = """
    where exists (
        select 1
        from (
            select metric_name, max(period_start) as period_start
            from marts.fct_kpi_values
            group by metric_name
        ) as latest
        where latest.metric_name = t.metric_name and latest.period_start = t.period_start
    )
"""
MART_FILTERS: dict[str, str] = {
    "marts.fct_kpi_attribution": LATEST_MONTHS_ONLY,
    "marts.fct_driver_attribution": LATEST_MONTHS_ONLY,
    "marts.fct_kpi_standardised": LATEST_MONTHS_ONLY,
}
# Tables read with every column they have, the listed ones first.
OPEN_TABLES = frozenset({"marts.fct_value_created"})
# Columns holding calendar dates: a TIMESTAMP read into one of them becomes a date.
DATE_COLUMNS = frozenset({"period_start", "valid_from", "valid_to"})
# The tables the site cannot do without; the others only add to the pages.
REQUIRED_TABLES = ("marts.fct_kpi_values", "marts.dim_metric_catalog", "marts.dim_org")
# What the site reads, for the Dagster asset's dependencies.
SITE_TABLES = tuple(MART_COLUMNS)

Record = dict[str, object]


@dataclass(frozen=True)
class Marts:
    """The marts as read once per build: records per table, and which tables exist."""

    tables: Mapping[str, Sequence[Record]]
    present: frozenset[str]

    def rows(self, table: str) -> Sequence[Record]:
        return self.tables.get(table, ())

    def has(self, table: str, column: str | None = None) -> bool:
        """True when the table exists (and, with `column`, has a non-null value in it)."""
        if table not in self.present:
            return False
        return column is None or any(r.get(column) is not None for r in self.rows(table))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _clean(value: object, column: str) -> object:
    """A DuckDB value as the pages use it: None for NULL and NaN, dates for DATE_COLUMNS,
    floats for decimals (the pages compute with floats)."""
    if value is None:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime) and column in DATE_COLUMNS:
        return value.date()
    return value


def existing_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Columns of every table and view in the `marts` and `meta` schemas, by schema.table."""
    rows = con.execute(
        """
        select table_schema || '.' || table_name, column_name
        from information_schema.columns
        where table_schema in ('marts', 'meta')
        """
    ).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return columns


def read_records(
    con: duckdb.DuckDBPyConnection, table: str, wanted: Sequence[str], present: set[str]
) -> list[Record]:
    """One query for the wanted columns that exist, as dicts of plain Python values; missing
    columns are None. DuckDB hands back Python values itself: no DataFrame in between.

    A table in MART_FILTERS is cut by its clause there (this module's own SQL, naming the table
    `t`; never user text)."""
    selected = [c for c in wanted if c in present]
    if not selected:
        return []
    schema, name = table.split(".", 1)
    columns = ", ".join(f"t.{_quote(c)}" for c in selected)
    where = MART_FILTERS.get(table, "")
    sql = f"select {columns} from {_quote(schema)}.{_quote(name)} as t {where}"
    rows = con.execute(sql).fetchall()
    missing = {column: None for column in wanted if column not in present}
    return [
        {**{c: _clean(v, c) for c, v in zip(selected, row, strict=True)}, **missing} for row in rows
    ]


def read_marts(warehouse: Path) -> Marts:
    """Every table the site uses, read once over a read-only connection."""
    if not Path(warehouse).is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = existing_columns(con)
        tables: dict[str, list[Record]] = {}
        for table, wanted in MART_COLUMNS.items():
            if table in MART_FILTERS and "marts.fct_kpi_values" not in columns:
                continue  # its filter reads the KPI table, whose absence is reported below
            if table not in columns:
                log.info(
                    "site: %s not in the warehouse yet; its part of the site is omitted", table
                )
                continue
            if table in OPEN_TABLES:
                wanted = (*wanted, *sorted(columns[table] - set(wanted)))
            tables[table] = read_records(con, table, wanted, columns[table])
    finally:
        con.close()
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise ValueError(f"warehouse {warehouse} lacks {', '.join(missing)}: run dbt build first")
    return Marts(tables=tables, present=frozenset(tables))


def as_date(value: object) -> date | None:
    """A DATE cell as a date (a datetime is cut to its date)."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def as_text(value: object) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()


def as_names(value: object) -> tuple[str, ...]:
    """A list column, a JSON list in a string, or a comma-separated string, as names."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if as_text(v))
    text = str(value).strip()
    if text.startswith("["):
        try:
            return as_names(json.loads(text))
        except ValueError:
            pass
    return tuple(part.strip() for part in text.split(",") if part.strip())


def as_int(value: object) -> int | None:
    if is_missing(value):  # type: ignore[arg-type]
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def as_timestamp(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None


def as_float(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if is_missing(number) else number
