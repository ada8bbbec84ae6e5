"""Source validation: the expectation suites in `expectations/`, applied to each delivered batch.

One Great Expectations (GX 1.x) suite per source, a JSON file its data owner reads and edits, is
the single definition of the rules. This module turns each expectation into two things:

- a DuckDB predicate, so the door (lib/ingest.py) splits a staged file into loaded and quarantined
  rows in one streaming pass, memory bounded, at the speed of the load itself;
- the same expectation for GX, which re-judges every row the door failed plus a sample of the rows
  it passed, on pandas DataFrames pulled from DuckDB in bounded chunks (GX's SQL datasource does not
  work on DuckDB in GX 1.x), once per source and run. That GX result is the official validation
  result, and it must agree with the door, rule by rule, or the source's new files are held back.

Values are judged after format normalisation (`normalised_sql`): surrounding white space, empty
strings, case of code columns, thousands separators and unambiguous date formats are put into the
contract's canonical text form; everything else is judged as delivered. Non-text rules see the
values typed per the contract (`typed_sql`), the contract-type rule sees the text.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

import duckdb

LOG = logging.getLogger(__name__)

SUITE_SUFFIX = ".json"
TEXT_SUFFIX = "__text"  # a typed column's text, as GX sees it for the contract-type rule
TYPED_SUFFIX = "__typed"  # a column's typed value, parsed once per batch (see typed_select)
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

# Suite parameters ({"$PARAMETER": name}) the door can resolve, and the sources they come from;
# those sources are loaded first in every run.
PARAMETER_SOURCES: dict[str, tuple[str, ...]] = {
    "org_unit_codes": ("org_units",),
    "org_codes": ("org_units", "org_aliases"),
    "center_codes": ("centers",),
    "now": (),
}
PARAMETER_SQL = {
    "org_unit_codes": "select distinct upper(trim(org_code)) from raw.org_units",
    "org_codes": (
        "select distinct upper(trim(org_code)) from raw.org_units "
        "union select distinct upper(trim(alias_code)) from raw.org_aliases"
    ),
    "center_codes": "select distinct upper(trim(center_code)) from raw.centers",
}

# Expectation types the door can translate. Table-level ones are judged on the file's header.
TABLE_TYPES = ("expect_table_columns_to_match_set", "expect_column_to_exist")
ROW_TYPES = {
    "expect_column_values_to_match_contract_type": "type",
    "expect_column_values_to_not_be_null": "not_null",
    "expect_column_values_to_be_in_set": "allowed_values",
    "expect_column_values_to_not_be_in_set": "forbidden_values",
    "expect_column_values_to_be_between": "range",
    "expect_column_values_to_match_regex": "regex",
    "expect_column_values_to_not_match_regex": "not_regex",
    "expect_column_value_lengths_to_be_between": "length",
    "expect_column_pair_values_a_to_be_greater_than_b": "order",
    "expect_column_values_to_be_unique": "unique",
    "expect_compound_columns_to_be_unique": "unique",
}
UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
SEVERITIES = ("critical", "warning", "info")


# Operators a structured row_condition may use, and their SQL: suites are edited by data owners,
# so nothing of theirs reaches the SQL text unchecked.
COMPARISON_SQL = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class SuiteError(ValueError):
    """A suite file the door cannot apply (unknown expectation type, column or parameter)."""


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


# --- SQL helpers ------------------------------------------------------------------------------


def sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _formats_sql(formats: Sequence[str]) -> str:
    return "[" + ", ".join(sql_str(f) for f in formats) + "]"


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
            f"(case when regexp_full_match({text}, {sql_str(TYPE_PATTERNS['timestamp'])}) "
            f"then {text} when regexp_full_match({text}, {sql_str(TIMESTAMP_INPUT_SHAPE)}) then "
            f"coalesce(strftime(try_strptime({text}, {_formats_sql(TIMESTAMP_INPUT_FORMATS)}), "
            f"{sql_str(TIMESTAMP_FORMAT)}), {text}) else {text} end)"
        )
    if data_type == "date":
        return (
            f"(case when regexp_full_match({text}, {sql_str(TYPE_PATTERNS['date'])}) "
            f"then {text} when regexp_full_match({text}, {sql_str(DATE_INPUT_SHAPE)}) then "
            f"coalesce(strftime(try_strptime({text}, {_formats_sql(DATE_INPUT_FORMATS)}), "
            f"{sql_str(DATE_FORMAT)}), {text}) else {text} end)"
        )
    if data_type in ("integer", "bigint") or DECIMAL_TYPE.fullmatch(data_type):
        return (
            f"(case when regexp_full_match({text}, {sql_str(THOUSANDS_SHAPE)}) "
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
        return f"try_strptime({expr}, {sql_str(TIMESTAMP_FORMAT)})"
    if data_type == "date":
        return f"try_strptime({expr}, {sql_str(DATE_FORMAT)})"
    if data_type in ("integer", "bigint"):
        return f"try_cast({expr} as bigint)"
    if DECIMAL_TYPE.fullmatch(data_type) or data_type in ("double", "float"):
        return f"try_cast({expr} as double)"
    if data_type == "boolean":
        return f"try_cast({expr} as boolean)"
    return expr


def type_check_sql(expr: str, data_type: str, typed: str | None = None) -> str:
    """SQL: the text is in the canonical form of the type (null text counts as valid).

    `typed` is the already parsed value of `expr`, when the relation carries it."""
    pattern = type_pattern(data_type)
    if pattern is None:
        return "true"
    ok = f"regexp_full_match({expr}, {sql_str(pattern)})"
    if data_type in ("timestamp", "date"):
        ok = f"({ok} and {typed or typed_sql(expr, data_type)} is not null)"
    return f"({expr} is null or {ok})"


def typed_column(suite: Suite, column: str, alias: str) -> str:
    """A column's typed value in a relation made by `typed_select` (text columns are themselves)."""
    if suite.data_type(column) == "varchar":
        return f"{alias}.{ident(column)}"
    return f"{alias}.{ident(column + TYPED_SUFFIX)}"


def typed_select(suite: Suite, relation: str) -> str:
    """The relation plus each typed column's value, parsed once (`<column>__typed`), so that
    the rules comparing a timestamp five times do not parse it five times."""
    shadows = [
        f"{typed_sql(ident(c), t)} as {ident(c + TYPED_SUFFIX)}"
        for c, t in suite.types.items()
        if t != "varchar"
    ]
    return f"select *{''.join(', ' + x for x in shadows)} from ({relation})"


def literal_sql(value: Any, data_type: str) -> str:
    """A kwargs value as a SQL literal comparable with typed_sql of the column."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if data_type in ("timestamp", "date"):
        return f"cast({sql_str(str(value))} as timestamp)"
    if isinstance(value, int | float):
        return repr(value)
    return sql_str(str(value))


# --- Suites -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, compiled for the door and for GX."""

    name: str
    expectation_type: str
    kwargs: dict[str, Any]
    severity: str  # critical: quarantine the row; warning: load and flag it; info: count only
    columns: tuple[str, ...]
    scope: str = "file"  # uniqueness only: "source" also looks at rows loaded from other files
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_table_level(self) -> bool:
        return self.expectation_type in TABLE_TYPES

    @property
    def is_unique(self) -> bool:
        return self.expectation_type in UNIQUE_TYPES

    @property
    def gx_comparable(self) -> bool:
        """GX judges chunks of a batch, so it can confirm every rule except uniqueness."""
        return not self.is_table_level and not self.is_unique


@dataclass(frozen=True)
class Suite:
    """A source's expectation suite, as GX reads it and as the door applies it."""

    source: str
    path: Path
    document: dict[str, Any]
    rules: tuple[Rule, ...]
    types: dict[str, str]  # column -> contract data type (from the contract-type rules)
    uppercase_columns: tuple[str, ...]
    event_time_column: str | None
    max_failed_share: float
    min_failed_rows: int
    fingerprint: str

    @property
    def required_columns(self) -> tuple[str, ...]:
        cols: list[str] = []
        for rule in self.rules:
            if rule.expectation_type == "expect_table_columns_to_match_set":
                cols += [c for c in rule.kwargs.get("column_set", []) if c not in cols]
            elif rule.expectation_type == "expect_column_to_exist":
                cols += [c for c in rule.columns if c not in cols]
        return tuple(cols)

    @property
    def row_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if not r.is_table_level)

    @property
    def parameters(self) -> tuple[str, ...]:
        found: list[str] = []
        for rule in self.rules:
            for name in _parameter_names(rule.kwargs):
                if name not in found:
                    found.append(name)
        return tuple(found)

    def data_type(self, column: str) -> str:
        return self.types.get(column, "varchar")

    def header_problems(self, file_columns: Sequence[str]) -> list[str]:
        """Table-level rules judged on a file's header (after trimming and lower-casing)."""
        have = set(file_columns)
        problems = []
        for rule in self.rules:
            if rule.expectation_type == "expect_table_columns_to_match_set":
                wanted = list(rule.kwargs.get("column_set", []))
                missing = [c for c in wanted if c not in have]
                if missing:
                    problems.append(f"missing required column(s) {', '.join(missing)}")
                extra = [c for c in file_columns if c not in wanted]
                if rule.kwargs.get("exact_match") and extra:
                    problems.append(f"unexpected column(s) {', '.join(extra)}")
            elif rule.expectation_type == "expect_column_to_exist" and rule.columns[0] not in have:
                problems.append(f"missing required column {rule.columns[0]}")
        return problems


def _parameter_names(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "$PARAMETER" in value:
            yield str(value["$PARAMETER"])
        else:
            for v in value.values():
                yield from _parameter_names(v)
    elif isinstance(value, list):
        for v in value:
            yield from _parameter_names(v)


def _rule_columns(expectation_type: str, kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if "column" in kwargs:
        return (str(kwargs["column"]),)
    if "column_A" in kwargs:
        return (str(kwargs["column_A"]), str(kwargs["column_B"]))
    if "column_list" in kwargs:
        return tuple(str(c) for c in kwargs["column_list"])
    if "column_set" in kwargs:
        return tuple(str(c) for c in kwargs["column_set"])
    return ()


def _rule_name(expectation_type: str, kwargs: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    if meta.get("rule"):
        return str(meta["rule"])
    if expectation_type in TABLE_TYPES:
        return "columns"
    verb = ROW_TYPES[expectation_type]
    if verb == "order":
        op = "<=" if kwargs.get("or_equal") else "<"
        return f"order:{kwargs['column_B']}{op}{kwargs['column_A']}"
    return f"{verb}:{'+'.join(_rule_columns(expectation_type, kwargs))}"


def _validate_kwargs(path: Path, rule: Rule, columns: set[str], types: Mapping[str, str]) -> None:
    unknown = [c for c in rule.columns if c not in columns]
    if unknown and rule.expectation_type != "expect_table_columns_to_match_set":
        raise SuiteError(f"{path.name}: rule {rule.name} names unknown column(s) {unknown}")
    for name in _parameter_names(rule.kwargs):
        if name not in PARAMETER_SOURCES:
            raise SuiteError(f"{path.name}: rule {rule.name} uses unknown parameter {name!r}")
    if rule.severity not in SEVERITIES:
        raise SuiteError(f"{path.name}: rule {rule.name} has unknown severity {rule.severity!r}")
    verb = ROW_TYPES.get(rule.expectation_type)
    if (
        verb in ("regex", "not_regex", "length")
        and types.get(rule.columns[0], "varchar") != "varchar"
    ):
        raise SuiteError(
            f"{path.name}: rule {rule.name}: text rules apply to text (varchar) columns only; "
            f"{rule.columns[0]} is {types[rule.columns[0]]}"
        )
    condition = rule.kwargs.get("row_condition")
    if condition is not None and not isinstance(condition, dict):
        raise SuiteError(
            f"{path.name}: rule {rule.name}: row_condition must be a structured GX condition "
            '({"type": "comparison", ...}), not a query string'
        )
    for op in _condition_operators(condition):
        if op not in COMPARISON_SQL and op not in ("IN", "NOT_IN"):
            raise SuiteError(
                f"{path.name}: rule {rule.name}: row_condition operator {op!r} is not one of "
                f"{', '.join([*COMPARISON_SQL, 'IN', 'NOT_IN'])}"
            )


def _condition_operators(condition: Any) -> list[str]:
    if not isinstance(condition, dict):
        return []
    ops = [str(condition["operator"])] if condition.get("type") == "comparison" else []
    for inner in condition.get("conditions") or []:
        ops += _condition_operators(inner)
    return ops


def resolve_parameters(
    con: duckdb.DuckDBPyConnection, names: Iterable[str], now: datetime
) -> dict[str, Any]:
    """Values of the suite parameters, read from the masters already loaded into `raw`."""
    values: dict[str, Any] = {}
    for name in names:
        if name == "now":
            values[name] = now.replace(microsecond=0)
            continue
        try:
            rows = con.execute(PARAMETER_SQL[name]).fetchall()
        except duckdb.CatalogException:  # the master has never been delivered
            rows = []
        values[name] = sorted(str(r[0]) for r in rows if r[0] is not None)
    return values


def load_suite(path: Path) -> Suite:
    """Read one suite file; GX parses it (so it is a valid GX 1.x suite), the door compiles it."""
    text = path.read_text(encoding="utf-8")
    document = json.loads(text)
    source = str(document.get("name") or path.stem)
    if source != path.stem:
        raise SuiteError(f"{path.name}: suite name {source!r} differs from the file name")
    try:
        _gx_suite(document)  # raises if GX cannot read it
    except Exception as exc:  # GX raises pydantic errors that do not name the file
        raise SuiteError(f"{path.name}: not a valid GX 1.x suite: {exc}") from exc
    options = (document.get("meta") or {}).get("opsvalue") or {}
    rules: list[Rule] = []
    names: set[str] = set()
    for exp in document.get("expectations") or []:
        expectation_type = str(exp["type"])
        if expectation_type not in ROW_TYPES and expectation_type not in TABLE_TYPES:
            raise SuiteError(
                f"{path.name}: the door cannot apply {expectation_type}; supported: "
                f"{', '.join(sorted([*ROW_TYPES, *TABLE_TYPES]))}"
            )
        kwargs = dict(exp.get("kwargs") or {})
        meta = dict(exp.get("meta") or {})
        name = _rule_name(expectation_type, kwargs, meta)
        base, n = name, 1
        while name in names:
            n += 1
            name = f"{base}#{n}"
        names.add(name)
        rules.append(
            Rule(
                name=name,
                expectation_type=expectation_type,
                kwargs=kwargs,
                severity=str(exp.get("severity") or "critical"),
                columns=_rule_columns(expectation_type, kwargs),
                scope=str(meta.get("scope", "source" if expectation_type in UNIQUE_TYPES else "")),
                meta=meta,
            )
        )
    types = {
        r.columns[0]: str(r.kwargs["data_type"]).lower()
        for r in rules
        if r.expectation_type == "expect_column_values_to_match_contract_type"
    }
    for data_type in types.values():
        type_pattern(data_type)  # unsupported types fail at load, not mid-run
    suite = Suite(
        source=source,
        path=path,
        document=document,
        rules=tuple(rules),
        types=types,
        uppercase_columns=tuple(options.get("uppercase_columns") or ()),
        event_time_column=options.get("event_time_column"),
        max_failed_share=float(options.get("max_failed_share", 0.1)),
        min_failed_rows=int(options.get("min_failed_rows", 10)),
        fingerprint=hashlib.sha256(text.encode()).hexdigest()[:16],
    )
    columns = set(suite.required_columns) | set(types)
    for rule in suite.rules:
        _validate_kwargs(path, rule, columns, types)
    return suite


def load_suites(directory: Path) -> dict[str, Suite]:
    """Every suite in the folder, by source name."""
    return {p.stem: load_suite(p) for p in sorted(directory.glob(f"*{SUITE_SUFFIX}"))}


def load_order(sources: Iterable[str]) -> list[str]:
    """Sources in load order: the ones other suites take parameters from come first."""
    first: list[str] = []
    for providers in PARAMETER_SOURCES.values():
        first += [s for s in providers if s not in first]
    names = sorted(sources)
    return [s for s in first if s in names] + [s for s in names if s not in first]


# --- The door: one SQL predicate per rule -----------------------------------------------------


def _condition_sql(condition: Mapping[str, Any] | None, suite: Suite, alias: str) -> str:
    """A structured GX row_condition as SQL on the typed values (null = rule not applied)."""
    if not condition:
        return "true"
    kind = condition.get("type")
    if kind in ("and", "or"):
        parts = [_condition_sql(c, suite, alias) for c in condition["conditions"]]
        return "(" + f" {kind} ".join(parts) + ")"
    column = str(condition["column"]["name"])
    value = typed_column(suite, column, alias)
    if kind == "nullity":
        return f"({value} is {'' if condition['is_null'] else 'not '}null)"
    if kind != "comparison":
        raise SuiteError(f"{suite.source}: unsupported row_condition type {kind!r}")
    op = str(condition["operator"])
    param = condition["parameter"]
    data_type = suite.data_type(column)
    if op in ("IN", "NOT_IN"):
        items = ", ".join(literal_sql(v, data_type) for v in param)
        return f"({value} {'not ' if op == 'NOT_IN' else ''}in ({items}))"
    if op not in COMPARISON_SQL:
        raise SuiteError(
            f"{suite.source}: row_condition operator {op!r} is not one of "
            f"{', '.join([*COMPARISON_SQL, 'IN', 'NOT_IN'])}"
        )
    return f"({value} {COMPARISON_SQL[op]} {literal_sql(param, data_type)})"


def _condition_columns(condition: Mapping[str, Any] | None) -> list[str]:
    if not condition:
        return []
    if condition.get("type") in ("and", "or"):
        return [c for sub in condition["conditions"] for c in _condition_columns(sub)]
    return [str(condition["column"]["name"])]


def _resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[str(value["$PARAMETER"])]
    return value


def rule_failure_sql(
    rule: Rule,
    suite: Suite,
    parameters: Mapping[str, Any],
    alias: str = "n",
    hits: str | None = None,
) -> str:
    """SQL that is true when a row fails the rule (false or null when it passes).

    Uniqueness is first occurrence wins: the first row of a key (in file order) passes, later
    ones fail; with scope "source", a key already loaded from another file fails too. Which rows
    those are comes from `unique_hits_sql`, joined as `hits`; without it, no row fails.
    """
    k = rule.kwargs
    cols = rule.columns

    def typed(column: str) -> str:
        return typed_column(suite, column, alias)

    def text(column: str) -> str:
        return f"{alias}.{ident(column)}"

    verb = ROW_TYPES[rule.expectation_type]
    if verb == "type":
        data_type = str(k["data_type"]).lower()
        fails = f"not {type_check_sql(text(cols[0]), data_type, typed(cols[0]))}"
    elif verb == "not_null":
        fails = f"{typed(cols[0])} is null"
    elif verb in ("allowed_values", "forbidden_values"):
        values = _resolve(k.get("value_set"), parameters) or []
        data_type = suite.data_type(cols[0])
        items = ", ".join(literal_sql(v, data_type) for v in values)
        member = f"{typed(cols[0])} in ({items})" if items else "false"
        negate = "not " if verb == "allowed_values" else ""
        fails = f"{typed(cols[0])} is not null and {negate}({member})"
    elif verb == "range":
        data_type = suite.data_type(cols[0])
        low = _resolve(k.get("min_value"), parameters)
        high = _resolve(k.get("max_value"), parameters)
        parts = []
        if low is not None:
            op = "<=" if k.get("strict_min") else "<"
            parts.append(f"{typed(cols[0])} {op} {literal_sql(low, data_type)}")
        if high is not None:
            op = ">=" if k.get("strict_max") else ">"
            parts.append(f"{typed(cols[0])} {op} {literal_sql(high, data_type)}")
        fails = f"({' or '.join(parts) or 'false'})"
    elif verb in ("regex", "not_regex"):
        match = f"regexp_matches({text(cols[0])}, {sql_str(k['regex'])})"
        fails = f"{text(cols[0])} is not null and {'not ' if verb == 'regex' else ''}{match}"
    elif verb == "length":
        length = f"length({text(cols[0])})"
        parts = []
        if k.get("min_value") is not None:
            parts.append(f"{length} < {int(k['min_value'])}")
        if k.get("max_value") is not None:
            parts.append(f"{length} > {int(k['max_value'])}")
        fails = f"({' or '.join(parts) or 'false'})"
    elif verb == "order":
        a, b = typed(cols[0]), typed(cols[1])
        bad = f"not ({a} {'>=' if k.get('or_equal') else '>'} {b})"
        ignore = k.get("ignore_row_if", "both_values_are_missing")
        if ignore == "either_value_is_missing":
            fails = f"({a} is not null and {b} is not null and {bad})"
        elif ignore == "both_values_are_missing":
            fails = f"(not ({a} is null and {b} is null) and coalesce({bad}, true))"
        else:
            fails = f"coalesce({bad}, true)"
    elif verb == "unique":
        if hits is None:
            return "false"
        present = " and ".join(f"{text(c)} is not null" for c in cols)
        if rule.expectation_type == "expect_compound_columns_to_be_unique":
            present = " or ".join(f"{text(c)} is not null" for c in cols)
        index = suite.rules.index(rule)
        later = f"coalesce({hits}._later_{index}, false)"
        seen = f" or {hits}._seen_{index}" if rule.scope == "source" else ""
        fails = f"(({present}) and ({later}{seen}))"
    else:  # pragma: no cover - ROW_TYPES and this function are kept in step by the tests
        raise SuiteError(f"no SQL for {rule.expectation_type}")
    condition = k.get("row_condition")
    if condition:
        fails = f"(({_condition_sql(condition, suite, alias)}) and ({fails}))"
    return fails


def failed_rules_sql(suite: Suite, parameters: Mapping[str, Any], relation: str) -> str:
    """SELECT over the normalised batch (made by `typed_select`) adding `_failed` (critical
    rules) and `_flagged` (warning and info rules): the lists of the rules each row breaks.

    Uniqueness aside (see `rejudged_sql`): one pass, no join, the rows keep their order."""
    lists: dict[str, list[tuple[str, str]]] = {"_failed": [], "_flagged": []}
    # each rule judged once, as a column of its own that the lists refer to: a short query,
    # which DuckDB plans faster (it is planned again for every file)
    breaks = []
    for i, rule in enumerate(suite.row_rules):
        target = "_failed" if rule.severity == "critical" else "_flagged"
        breaks.append(f"({rule_failure_sql(rule, suite, parameters)}) as _breaks_{i}")
        lists[target].append((f"_breaks_{i}", rule.name))
    selects = ", ".join(f"{broken_rules_sql(rules)} as {name}" for name, rules in lists.items())
    if not breaks:
        return f"select n.*, {selects} from {relation} as n"
    judged = f"select n.*, {', '.join(breaks)} from {relation} as n"
    columns = ", ".join(f"_breaks_{i}" for i in range(len(breaks)))
    return f"select * exclude ({columns}), {selects} from ({judged})"


def rejudged_sql(suite: Suite, parameters: Mapping[str, Any], checked: str, hits: str) -> str:
    """SELECT of the rows of `checked` (made by `failed_rules_sql`) that are in `hits` (made by
    `unique_hits_sql`), with the uniqueness rules they break added to their lists, in the
    suite's order as `failed_rules_sql` would have them; anything appended to a list after the
    rules (the truncated last line) stays last."""
    broken, merged = [], []
    for target, critical in (("_failed", True), ("_flagged", False)):
        rules = [r for r in suite.row_rules if (r.severity == "critical") == critical]
        unique = [
            (rule_failure_sql(r, suite, parameters, "n", "u"), r.name) for r in rules if r.is_unique
        ]
        if not unique:
            continue
        broken.append((f"_unique{target}", broken_rules_sql(unique)))
        names = "[" + ", ".join(sql_str(r.name) for r in rules) + "]"
        in_order = (
            f"list_filter({names}, lambda x: list_contains({target}, x) "
            f"or list_contains(_unique{target}, x))"
        )
        others = f"list_filter({target}, lambda x: not list_contains({names}, x))"
        merged.append(f"list_concat({in_order}, {others}) as {target}")
    rows = f"{checked} as n join {hits} as u using (_row_number)"
    if not broken:
        return f"select n.* from {rows}"
    judged = f"select n.*, {', '.join(f'{sql} as {name}' for name, sql in broken)} from {rows}"
    added = ", ".join(name for name, _ in broken)
    return f"select * exclude ({added}) replace ({', '.join(merged)}) from ({judged})"


def unique_hits_sql(suite: Suite, relation: str, raw_table: str, rel_path: str) -> str | None:
    """SELECT of the batch rows a uniqueness rule may fail (None when the suite has no such
    rule): `_row_number`, and per rule (by index) `_later_<i>`, true on every occurrence of a
    key but its first (in file order), and `_seen_<i>` (scope "source"), true when the key is
    loaded from another file. Null values of a key group together, as in `partition by`.

    Few rows on an ordinary day: they are found on the key columns alone, so the rules of
    `failed_rules_sql` run over the whole batch without a join."""
    parts = []
    for i, rule in enumerate(suite.rules):
        if not rule.is_unique:
            continue
        cols = ", ".join(ident(c) for c in rule.columns)
        # numbering the occurrences sorts the rows: only those whose key's hash repeats are
        # (a superset of the repeated keys, as hashes may collide; null keys hash alike)
        repeated = (
            f"select _hash from (select hash({cols}) as _hash from {relation}) "
            "group by _hash having count(*) > 1"
        )
        parts.append(
            f"select _row_number, true as _later_{i} from (select _row_number, row_number() "
            f"over (partition by {cols} order by _row_number) as _occurrence from {relation} "
            f"where hash({cols}) in ({repeated})) where _occurrence > 1"
        )
        if rule.scope == "source":
            on = " and ".join(f"s.{ident(c)} = n.{ident(c)}" for c in rule.columns)
            # only this batch's keys are looked up in raw: the batch is the hash table, the
            # (much larger) raw table is scanned once, not aggregated
            parts.append(
                f"select n._row_number, true as _seen_{i} from {relation} as n join "
                f"(select distinct {cols} from {raw_table} as r "
                f"semi join (select distinct {cols} from {relation}) as b using ({cols}) "
                f"where r._source_file <> {sql_str(rel_path)}) as s on {on}"
            )
    if not parts:
        return None
    flags = [f"_later_{i}" for i, r in enumerate(suite.rules) if r.is_unique]
    flags += [
        f"_seen_{i}" for i, r in enumerate(suite.rules) if r.is_unique and r.scope == "source"
    ]
    union = " union all by name ".join(f"({part})" for part in parts)
    aggregates = ", ".join(f"bool_or({flag}) as {flag}" for flag in flags)
    return f"select _row_number, {aggregates} from ({union}) group by _row_number"


def broken_rules_sql(rules: Sequence[tuple[str, str]]) -> str:
    """SQL: the names of the (condition, name) pairs whose condition is true, in their order.

    The list is only built for a row where some condition is true: building and filtering a
    list on every row would cost more than judging the rules."""
    if not rules:
        return "[]::varchar[]"
    any_true = " or ".join(f"({condition})" for condition, _ in rules)
    items = ", ".join(
        f"case when {condition} then {sql_str(name)} end" for condition, name in rules
    )
    return (
        f"case when {any_true} then list_filter([{items}], lambda x: x is not null) "
        "else []::varchar[] end"
    )


# --- GX: the official validation result -------------------------------------------------------


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


@cache
def _gx_batch_definition() -> Any:
    """An ephemeral GX context with one pandas datasource: no GX project on disk is needed."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("opsvalue_door").add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def _gx_suite(document: Mapping[str, Any]) -> gx.ExpectationSuite:
    """GX's reading of a suite document (GX is imported on first use: it is slow to import)."""
    import great_expectations as gx

    # registers expect_column_values_to_match_contract_type with GX
    from dagster_project.lib import gx_contract_type  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gx.ExpectationSuite(**{k: v for k, v in document.items() if k != "id"})


def gx_expectations(suite: Suite) -> list[dict[str, Any]]:
    """The suite's row rules as GX sees them: the contract-type rule on the text companion."""
    out = []
    for rule in suite.row_rules:
        if not rule.gx_comparable:
            continue
        kwargs = dict(rule.kwargs)
        if rule.expectation_type == "expect_column_values_to_match_contract_type":
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
        columns += _condition_columns(rule.kwargs.get("row_condition"))
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
    Memory is bounded by the chunk: DuckDB streams the query, one DataFrame is alive at a time.
    """
    expectations = gx_expectations(suite)
    if not expectations:
        return 0
    gx_suite = _gx_suite({"name": f"{suite.source}_door", "expectations": expectations})
    batch_definition = _gx_batch_definition()
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = nanosecond_datetimes(frame)
            batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
            # BASIC has the counts read below; SUMMARY would also tally the unexpected values
            outcome = batch.validate(gx_suite, result_format="BASIC", expectation_parameters=params)
        for item in outcome.results:
            result = results[str(item.expectation_config.meta["rule"])]
            info = item.exception_info or {}
            if info.get("raised_exception"):
                result.gx_error = str(info.get("exception_message"))[:500]
            result.gx_success = bool(result.gx_success and item.success)
            result.gx_element_count += int(item.result.get("element_count") or 0)
            result.gx_unexpected_count += int(item.result.get("unexpected_count") or 0)
    return rows
