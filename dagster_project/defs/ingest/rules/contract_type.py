"""The suites' custom GX expectations, both on a typed column's delivered text.

- `expect_column_values_to_match_contract_type`: a value is in its contract type's canonical
  text; the door (rules/sql.py) applies it in DuckDB with `type_check_sql`, both use
  `type_pattern` for the canonical forms;
- `expect_column_values_to_be_finite`: a number is not NaN or infinite; the door applies it with
  `non_finite_sql`, GX with `is_non_finite`, on the same patterns (rules/types.py).

GX is slow to import (about 2.4 s): the pipeline's process does not import this module, the GX
process does (`gx_worker.import_gx`; so do the tests, in their own processes).
Importing it registers both with GX, so suite files can use them like built-in expectations.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import great_expectations as gx
import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from dagster_project.defs.ingest.rules.types import (
    DATE_FORMAT,
    TIMESTAMP_FORMAT,
    is_non_finite,
    type_pattern,
)


class ColumnValuesMatchContractType(ColumnMapMetricProvider):
    """GX metric: the value, as text, is in the canonical form of a contract data type."""

    condition_metric_name = "column_values.match_contract_type"
    condition_value_keys = ("data_type",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, data_type: str, **kwargs: Any) -> pd.Series:
        pattern = type_pattern(data_type)
        if pattern is None:
            return pd.Series(True, index=column.index)
        text = column.astype("str")
        ok = text.str.fullmatch(pattern).fillna(False).astype(bool)
        formats = {"timestamp": TIMESTAMP_FORMAT, "date": DATE_FORMAT}
        if data_type in formats:
            # a real calendar moment, not just the shape (2026-02-30 is not a date)
            parsed = pd.to_datetime(text.where(ok), format=formats[data_type], errors="coerce")
            ok &= parsed.notna()
        return ok


class ExpectColumnValuesToMatchContractType(ColumnMapExpectation):
    """Expect each value, as text, to be in the input contract's canonical form of a data type.

    timestamp = YYYY-MM-DD HH:MM:SS and a real moment, date = YYYY-MM-DD and a real day,
    boolean = true|false, integer = up to 9 digits, decimal(p,s) = at most p-s digits before and s
    after the point. The door judges the same rule in DuckDB.
    """

    data_type: str
    map_metric: ClassVar[str] = "column_values.match_contract_type"
    success_keys: ClassVar[tuple[str, ...]] = ("data_type", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "data_type")


class ColumnValuesFinite(ColumnMapMetricProvider):
    """GX metric: the value, as text, is not a number that is not finite."""

    condition_metric_name = "column_values.finite"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return ~column.astype("str").map(is_non_finite).astype(bool)


class ExpectColumnValuesToBeFinite(ColumnMapExpectation):
    """Expect each value, as text, not to be NaN, infinity or a number too large for a double.

    NaN, nan, inf, -Infinity in any case and sign, and 1e400, fail; anything else passes (the
    contract-type rule judges the rest). The door judges the same rule in DuckDB.
    """

    map_metric: ClassVar[str] = "column_values.finite"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
    args_keys: ClassVar[tuple[str, ...]] = ("column",)


def gx_suite(document: Mapping[str, Any]) -> gx.ExpectationSuite:
    """GX's reading of a suite document, with the contract-type expectation registered."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gx.ExpectationSuite(**{k: v for k, v in document.items() if k != "id"})
