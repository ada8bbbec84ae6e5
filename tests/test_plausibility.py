"""The marts' durations and rates are plausible on the test suite's DuckDB build, and the checks
that say so (tests/plausibility.py) find what they are meant to find."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.plausibility import (
    BOUNDS,
    DuckDBMarts,
    column_problems,
    implausible_values,
    kpi_problems,
    semantic_model_tables,
)


@pytest.fixture(scope="module")
def semantic_tables(dbt_manifest: Path) -> dict[str, str]:
    return semantic_model_tables(json.loads(dbt_manifest.read_text(encoding="utf-8")))


def test_durations_and_rates_of_the_marts_are_plausible(built, semantic_tables):
    con = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        problems = implausible_values(DuckDBMarts(con), semantic_tables)
    finally:
        con.close()
    assert not problems, "\n".join(problems)


class ScaledMarts(DuckDBMarts):
    """The marts with one column multiplied, as a bug in the SQL computing it would leave it."""

    def __init__(self, con: Any, table: str, column: str, factor: float) -> None:
        super().__init__(con)
        self.table, self.column, self.factor = table, column, factor

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        view = f"scaled_{self.table}"
        self.con.execute(
            f"create or replace temp view {view} as select * replace "
            f"({self.column} * {self.factor} as {self.column}) from marts.{self.table}"
        )
        return super().rows(sql.replace(f"marts.{self.table}", view))


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("fct_claims", "cycle_time_days"),
        ("fct_tasks", "dispatch_latency_min"),
        ("fct_endorsements", "turnaround_hours"),
        ("fct_applications", "issuance_turnaround_days"),
        ("fct_contacts", "handle_time_sec"),
        ("fct_staffing_monthly", "productive_hours"),
    ],
)
def test_a_duration_1000_times_too_large_is_found(built, table, column):
    con = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        problems = column_problems(ScaledMarts(con, table, column, 1000))
    finally:
        con.close()
    assert [p for p in problems if p.startswith(f"marts.{table}.{column}:")], problems


def test_kpi_values_outside_their_unit_are_found(built, semantic_tables):
    con = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        # a rate as a percentage, and a mean duration beyond its slowest record
        marts = ScaledMarts(con, "fct_kpi_values", "value", 100)
        problems = kpi_problems(marts, semantic_tables)
    finally:
        con.close()
    assert any("service_level_20s" in p for p in problems), problems
    assert any("claims_cycle_time_days" in p for p in problems), problems


def test_every_bound_names_a_mart_column_of_a_time_unit(built):
    con = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        marts = DuckDBMarts(con)
        for table, column in BOUNDS:
            assert column in marts.columns(table), (table, column)
    finally:
        con.close()
