"""Expectation suites: one JSON file per source, read into rules the door and GX apply."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.defs.ingest.rules.types import SuiteError, is_numeric_type, type_pattern

SUITE_SUFFIX = ".json"
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
    "expect_column_values_to_be_finite": "finite",
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
# Rules judged on the delivered text of a typed column (GX sees it as `<column>__text`).
TEXT_TYPES = ("expect_column_values_to_match_contract_type", "expect_column_values_to_be_finite")
UNIQUE_TYPES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")
SEVERITIES = ("critical", "warning", "info")


# Operators a structured row_condition may use, and their SQL: suites are edited by data owners,
# so nothing of theirs reaches the SQL text unchecked.
COMPARISON_SQL = {"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


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
    if verb == "finite" and not is_numeric_type(types.get(rule.columns[0], "varchar")):
        raise SuiteError(
            f"{path.name}: rule {rule.name}: the finite rule applies to number columns only; "
            f"{rule.columns[0]} is {types.get(rule.columns[0], 'varchar')}"
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
    # GX reads it in its own process (gx_process); its pydantic errors do not name the file
    from dagster_project.defs.ingest.rules import gx_process

    problem = gx_process.check_suite(document)
    if problem is not None:
        raise SuiteError(f"{path.name}: not a valid GX 1.x suite: {problem}")
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


# The masters: sources whose rows other suites' parameters read (codes), loaded before the others
PARAMETER_PROVIDERS = frozenset(s for providers in PARAMETER_SOURCES.values() for s in providers)


def load_order(sources: Iterable[str]) -> list[str]:
    """Sources in load order: the ones other suites take parameters from come first."""
    first: list[str] = []
    for providers in PARAMETER_SOURCES.values():
        first += [s for s in providers if s not in first]
    names = sorted(sources)
    return [s for s in first if s in names] + [s for s in names if s not in first]
