"""The door's SQL: one predicate per rule, judged on the typed batch in one pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster_project.core.sql import ident, literal
from dagster_project.defs.ingest.rules.suite import (
    COMPARISON_SQL,
    ROW_TYPES,
    Rule,
    Suite,
    SuiteError,
)
from dagster_project.defs.ingest.rules.types import (
    literal_sql,
    non_finite_sql,
    type_check_sql,
    typed_sql,
)

TEXT_SUFFIX = "__text"  # a typed column's text, as GX sees it for the text rules (TEXT_TYPES)
TYPED_SUFFIX = "__typed"  # a column's typed value, parsed once per batch (see typed_select)


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


def condition_columns(condition: Mapping[str, Any] | None) -> list[str]:
    if not condition:
        return []
    if condition.get("type") in ("and", "or"):
        return [c for sub in condition["conditions"] for c in condition_columns(sub)]
    return [str(condition["column"]["name"])]


def _resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[str(value["$PARAMETER"])]
    return value


def _order_fails(a: str, b: str, k: Mapping[str, Any]) -> str:
    """Column A must be greater than (or equal to) B; missing values as GX treats them."""
    bad = f"not ({a} {'>=' if k.get('or_equal') else '>'} {b})"
    ignore = k.get("ignore_row_if", "both_values_are_missing")
    if ignore == "either_value_is_missing":
        return f"({a} is not null and {b} is not null and {bad})"
    if ignore == "both_values_are_missing":
        return f"(not ({a} is null and {b} is null) and coalesce({bad}, true))"
    return f"coalesce({bad}, true)"


def _unique_fails(rule: Rule, suite: Suite, texts: list[str], hits: str) -> str:
    """A later occurrence of a key in the batch, or (scope "source") a key already loaded."""
    present = " and ".join(f"{t} is not null" for t in texts)
    if rule.expectation_type == "expect_compound_columns_to_be_unique":
        present = " or ".join(f"{t} is not null" for t in texts)
    index = suite.rules.index(rule)
    later = f"coalesce({hits}._later_{index}, false)"
    seen = f" or {hits}._seen_{index}" if rule.scope == "source" else ""
    return f"(({present}) and ({later}{seen}))"


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
    elif verb == "finite":
        fails = f"{text(cols[0])} is not null and {non_finite_sql(text(cols[0]))}"
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
        match = f"regexp_matches({text(cols[0])}, {literal(k['regex'])})"
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
        fails = _order_fails(typed(cols[0]), typed(cols[1]), k)
    elif verb == "unique":
        if hits is None:
            return "false"
        fails = _unique_fails(rule, suite, [text(c) for c in cols], hits)
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
        names = "[" + ", ".join(literal(r.name) for r in rules) + "]"
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
                f"where r._source_file <> {literal(rel_path)}) as s on {on}"
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
        f"case when {condition} then {literal(name)} end" for condition, name in rules
    )
    return (
        f"case when {any_true} then list_filter([{items}], lambda x: x is not null) "
        "else []::varchar[] end"
    )
