"""GX: the official validation result, judged on the rows the door hands over.

GX re-judges every row the door failed plus a sample of the rows it passed, on pandas DataFrames
pulled from DuckDB in bounded chunks (GX's SQL datasource does not work on DuckDB in GX 1.x), once
per source and run, in a process of its own (`gx_process`). That result must agree with the door,
rule by rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from dagster_project.core.sql import ident
from dagster_project.defs.ingest.rules import gx_process
from dagster_project.defs.ingest.rules.sql import TEXT_SUFFIX, condition_columns, typed_column
from dagster_project.defs.ingest.rules.suite import TEXT_TYPES

if TYPE_CHECKING:
    import pandas as pd

    from dagster_project.defs.ingest.rules.suite import Suite


@dataclass
class RuleResult:
    """One rule's outcome over a batch: GX's judgement beside the door's."""

    rule: str
    expectation_type: str
    severity: str
    door_failed: int = 0
    gx_evaluated: bool = False
    gx_success: bool | None = None
    gx_element_count: int = 0
    gx_unexpected_count: int = 0
    gx_error: str | None = None

    @property
    def agrees(self) -> bool:
        """GX saw the same failures as the door (or the rule is not one GX can confirm)."""
        if not self.gx_evaluated:
            return True
        return self.gx_error is None and self.gx_unexpected_count == self.door_failed


def gx_expectations(suite: Suite) -> list[dict[str, Any]]:
    """The suite's row rules as GX sees them: the text rules on the text companion."""
    out = []
    for rule in suite.row_rules:
        if not rule.gx_comparable:
            continue
        kwargs = dict(rule.kwargs)
        if rule.expectation_type in TEXT_TYPES:
            kwargs["column"] = f"{rule.columns[0]}{TEXT_SUFFIX}"
        if rule.kwargs.get("row_condition"):
            kwargs["condition_parser"] = "great_expectations"
        out.append(
            {
                "type": rule.expectation_type,
                "kwargs": kwargs,
                "meta": {**rule.meta, "rule": rule.name},
                "severity": rule.severity,
            }
        )
    return out


def frame_sql(suite: Suite, table: str, where: str) -> str:
    """SELECT of the batch rows GX judges: typed columns plus the text of non-text columns."""
    columns = [c for c in suite.types] + [c for r in suite.row_rules for c in r.columns]
    for rule in suite.row_rules:
        columns += condition_columns(rule.kwargs.get("row_condition"))
    columns = list(dict.fromkeys(columns))
    exprs = [f"{typed_column(suite, c, 'f')} as {ident(c)}" for c in columns]
    exprs += [
        f"f.{ident(c)} as {ident(c + TEXT_SUFFIX)}"
        for c in columns
        if suite.data_type(c) != "varchar"
    ]
    return f"select {', '.join(exprs)} from {table} as f where {where}"


def gx_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for k, v in parameters.items()
    }


def judged_rows_sql(suite: Suite, table: str, sample_rows: int) -> str:
    """The rows of a checked batch GX re-judges, as GX frames: every row the door failed or
    flagged, plus a random sample of `sample_rows` of the rows it passed (all when 0)."""
    if sample_rows <= 0:
        return frame_sql(suite, table, "true")
    judged = "len(_failed) > 0 or len(_flagged) > 0"
    # sampled as frames: the sampler holds the few columns GX reads, not every column of the batch
    passed = (
        f"select * from ({frame_sql(suite, table, f'not ({judged})')}) "
        f"using sample reservoir({int(sample_rows)} rows) repeatable (42)"
    )
    return f"{frame_sql(suite, table, judged)} union all {passed}"


def nanosecond_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its datetime columns at nanosecond resolution where the values fit.

    DuckDB hands timestamps to pandas in microseconds; GX compares only nanosecond datetimes
    as whole columns, any other one value by value in Python (the same result, many times
    slower). A value outside the nanosecond range (years 1678-2261) leaves its column as it is.
    """
    for column in frame.columns:
        dtype = frame[column].dtype
        if dtype.kind == "M" and dtype != "datetime64[ns]":
            with contextlib.suppress(OverflowError, ValueError):  # OutOfBoundsDatetime
                frame[column] = frame[column].astype("datetime64[ns]")
    return frame


def judge_with_gx(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    query: str,
    parameters: Mapping[str, Any],
    chunk_rows: int,
    results: dict[str, RuleResult],
) -> int:
    """Run the suite through GX over the frames `query` returns, `chunk_rows` at a time.

    Fills the GX part of `results` (keyed by rule name) and returns the number of rows judged.
    Memory is bounded by the chunk: DuckDB streams the query, one chunk is alive at a time
    (as a DataFrame here, and its copy in the GX process).
    """
    expectations = gx_expectations(suite)
    if not expectations:
        return 0
    params = gx_parameters(parameters)
    vectors = max(1, chunk_rows // 2048)
    # the caller's connection: its open transaction is the only one that sees the staged rows
    relation = con.execute(query)
    rows = 0
    for rule in suite.row_rules:
        if rule.gx_comparable:
            results[rule.name].gx_evaluated = True
            results[rule.name].gx_success = True
    while True:
        frame = relation.fetch_df_chunk(vectors)
        if frame.empty:
            break
        rows += len(frame)
        # judged in the GX process (gx_process), one frame at a time
        frame = nanosecond_datetimes(frame)
        judged = gx_process.validate(suite.source, expectations, frame, params)
        for rule, success, elements, unexpected, error in judged:
            result = results[rule]
            if error is not None:
                result.gx_error = error
            result.gx_success = bool(result.gx_success and success)
            result.gx_element_count += elements
            result.gx_unexpected_count += unexpected
    return rows
