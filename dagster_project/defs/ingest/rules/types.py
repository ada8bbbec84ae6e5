"""Contract types in SQL: canonical text, normalisation and typing of delivered values."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from dagster_project.core.sql import literal


class SuiteError(ValueError):
    """A suite file the door cannot apply (unknown expectation type, column or parameter)."""


TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
# Input forms the door rewrites to the canonical form: year first, so never ambiguous. Day-first
# or month-first dates (03/04/2026) and spreadsheet serial numbers stay as delivered and fail the
# contract-type rule. A value must have the shape first, so "3/7/25" is never read as year 3.
TIMESTAMP_INPUT_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
)
TIMESTAMP_INPUT_SHAPE = r"\d{4}[-/]\d{1,2}[-/]\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2})?"
DATE_INPUT_FORMATS = ("%Y-%m-%d", "%Y/%m/%d")
DATE_INPUT_SHAPE = r"\d{4}[-/]\d{1,2}[-/]\d{1,2}"
THOUSANDS_SHAPE = r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?"
# The white space trimmed off delivered values: space, tab, carriage return, line feed.
WHITESPACE_CODES = "(9, 10, 13, 32)"
# The canonical text of each contract type (data/raw/README.md): what the contract-type rule
# accepts. Decimal digits come from the type, e.g. decimal(18,2) -> 16 before, 2 after the point.
TYPE_PATTERNS = {
    "timestamp": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "date": r"\d{4}-\d{2}-\d{2}",
    "boolean": r"true|false",
    "integer": r"-?\d{1,9}",
    "bigint": r"-?\d{1,18}",
}
DECIMAL_TYPE = re.compile(r"decimal\((\d+),\s*(\d+)\)")
# A number that is not finite: NaN or infinity spelled out (any case, any sign), or a number in
# the shape below whose magnitude overflows a double (1e400). DuckDB reads these as NaN or
# infinity, but pandas reads NaN as a missing value, so left to each engine the other rules of a
# row holding one would be judged apart (GX against the door: the batch held as gate:self_check).
# The finite rule fails them by these patterns, in both engines alike, and the typed value of a
# non-finite number is null in both (`typed_sql`), like any other value that is no number.
NON_FINITE_PATTERN = r"[+-]?(?i:nan|inf|infinity)"
NUMBER_SHAPE = r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"


# --- Contract types ------------------------------------------------------------


def type_pattern(data_type: str) -> str | None:
    """The canonical text pattern of a contract data type; None for free text (varchar)."""
    data_type = data_type.lower().strip()
    if data_type in TYPE_PATTERNS:
        return TYPE_PATTERNS[data_type]
    match = DECIMAL_TYPE.fullmatch(data_type)
    if match:
        precision, scale = int(match[1]), int(match[2])
        return rf"-?\d{{1,{precision - scale}}}(\.\d{{1,{scale}}})?" if scale else r"-?\d+"
    if data_type in ("varchar", "text", "string"):
        return None
    raise SuiteError(f"unsupported contract data type {data_type!r}")


def is_numeric_type(data_type: str) -> bool:
    data_type = data_type.lower().strip()
    return data_type in ("integer", "bigint") or DECIMAL_TYPE.fullmatch(data_type) is not None


def is_non_finite(text: str) -> bool:
    """The text is a number that is not finite (NaN, infinity, an overflow such as 1e400).

    GX's side of the finite rule; `non_finite_sql` is the door's, on the same patterns. Both
    engines parse a number in NUMBER_SHAPE to the nearest double, so they agree on overflow."""
    if re.fullmatch(NON_FINITE_PATTERN, text):
        return True
    return re.fullmatch(NUMBER_SHAPE, text) is not None and math.isinf(float(text))


# --- SQL helpers ------------------------------------------------------------------------------


def _formats_sql(formats: Sequence[str]) -> str:
    return "[" + ", ".join(literal(f) for f in formats) + "]"


def trimmed_sql(expr: str) -> str:
    """SQL: the delivered text without surrounding white space, null when nothing is left.

    trim() with a character list is slow in DuckDB, and almost no value needs it: it only runs
    when the first or last character is white space (ascii() gives 0 for an empty string)."""
    edges = f"ascii({expr}) in {WHITESPACE_CODES} or ascii({expr}[-1]) in {WHITESPACE_CODES}"
    return f"nullif(case when {edges} then trim({expr}, ' \t\r\n') else {expr} end, '')"


def normalised_sql(expr: str, data_type: str, uppercase: bool = False) -> str:
    """SQL turning a delivered text value into the contract's canonical text, where it is safe.

    Trims white space (empty = null); upper-cases code columns; removes thousands separators from
    numbers; rewrites year-first dates and timestamps to the canonical form. Anything else is
    left as delivered, for the rules to judge.
    """
    text = trimmed_sql(expr)
    return canonical_sql(f"upper({text})" if uppercase else text, data_type)


def canonical_sql(text: str, data_type: str) -> str:
    """`normalised_sql` of a value already trimmed (and upper-cased where the suite says so).

    `text` is repeated in the result: pass a column reference, not an expression to evaluate."""
    data_type = data_type.lower().strip()
    # a value already in the canonical shape is kept as it is (the common case: no parsing)
    if data_type == "timestamp":
        return (
            f"(case when regexp_full_match({text}, {literal(TYPE_PATTERNS['timestamp'])}) "
            f"then {text} when regexp_full_match({text}, {literal(TIMESTAMP_INPUT_SHAPE)}) then "
            f"coalesce(strftime(try_strptime({text}, {_formats_sql(TIMESTAMP_INPUT_FORMATS)}), "
            f"{literal(TIMESTAMP_FORMAT)}), {text}) else {text} end)"
        )
    if data_type == "date":
        return (
            f"(case when regexp_full_match({text}, {literal(TYPE_PATTERNS['date'])}) "
            f"then {text} when regexp_full_match({text}, {literal(DATE_INPUT_SHAPE)}) then "
            f"coalesce(strftime(try_strptime({text}, {_formats_sql(DATE_INPUT_FORMATS)}), "
            f"{literal(DATE_FORMAT)}), {text}) else {text} end)"
        )
    if data_type in ("integer", "bigint") or DECIMAL_TYPE.fullmatch(data_type):
        return (
            f"(case when regexp_full_match({text}, {literal(THOUSANDS_SHAPE)}) "
            f"then ltrim(replace({text}, ',', ''), '+') else {text} end)"
        )
    if data_type == "boolean":
        return f"(case when lower({text}) in ('true', 'false') then lower({text}) else {text} end)"
    return text


def typed_sql(expr: str, data_type: str) -> str:
    """SQL giving the typed value non-text rules compare (null when it does not parse).

    GX receives exactly these values (pulled from DuckDB), so both engines compare the same thing.
    Dates are typed as timestamps at midnight, decimals as doubles.
    """
    data_type = data_type.lower().strip()
    if data_type == "timestamp":
        return f"try_strptime({expr}, {literal(TIMESTAMP_FORMAT)})"
    if data_type == "date":
        return f"try_strptime({expr}, {literal(DATE_FORMAT)})"
    if data_type in ("integer", "bigint"):
        return f"try_cast({expr} as bigint)"
    if DECIMAL_TYPE.fullmatch(data_type) or data_type in ("double", "float"):
        # NaN and infinity are no values here (see NON_FINITE_PATTERN): pandas, which GX
        # judges on, would read NaN as missing but DuckDB as a number above every other
        number = f"try_cast({expr} as double)"
        return f"(case when isfinite({number}) then {number} end)"
    if data_type == "boolean":
        return f"try_cast({expr} as boolean)"
    return expr


def type_check_sql(expr: str, data_type: str, typed: str | None = None) -> str:
    """SQL: the text is in the canonical form of the type (null text counts as valid).

    `typed` is the already parsed value of `expr`, when the relation carries it."""
    pattern = type_pattern(data_type)
    if pattern is None:
        return "true"
    ok = f"regexp_full_match({expr}, {literal(pattern)})"
    if data_type in ("timestamp", "date"):
        ok = f"({ok} and {typed or typed_sql(expr, data_type)} is not null)"
    return f"({expr} is null or {ok})"


def non_finite_sql(expr: str) -> str:
    """SQL: the text is a number that is not finite (`is_non_finite`); false for null text.

    Only a value DuckDB reads as NaN or infinity is matched against the patterns: the common
    case, a finite number or no number at all, costs one cast."""
    return (
        f"(coalesce(not isfinite(try_cast({expr} as double)), false) and "
        f"(regexp_full_match({expr}, {literal(NON_FINITE_PATTERN)}) or "
        f"regexp_full_match({expr}, {literal(NUMBER_SHAPE)})))"
    )


def literal_sql(value: Any, data_type: str) -> str:
    """A kwargs value as a SQL literal comparable with typed_sql of the column."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if data_type in ("timestamp", "date"):
        return f"cast({literal(str(value))} as timestamp)"
    if isinstance(value, int | float):
        return repr(value)
    return literal(str(value))
