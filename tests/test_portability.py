"""The dbt project runs on engines other than DuckDB, except where an allow-list says why not.

Beyond one machine, the same dbt project runs on a distributed engine (Trino or Spark, through
dbt-trino or dbt-spark). What such an adapter runs is the SQL written in the project, with every
dispatched macro (dbt's cross-database macros, and this project's in
dbt/macros/cross_database.sql) rendered by that adapter's own implementation. So the check reads
each model, data test, macro, semantic model and metric as dbt parsed it (the manifest), takes the
Jinja out, and looks for SQL that DuckDB accepts and those engines do not. Compiled SQL would not
do: compiled for DuckDB, dbt's own `dateadd` and `datediff` render `interval 1 day` and `::`, so
dispatched and hand-written DuckDB SQL could not be told apart.

Whatever still uses DuckDB-only SQL is listed, with the reason, in tests/duckdb_only_sql.yml.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.tokens import Token, TokenType

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt"
ALLOW_LIST = Path(__file__).with_name("duckdb_only_sql.yml")
ALLOW_LIST_NAME = ALLOW_LIST.relative_to(ROOT).as_posix()
PACKAGE = "opsvalue"

# Adapters whose `<adapter>__<macro>` implementations are engine-specific by design (reached
# only through adapter.dispatch, beside a `default__`), so they are not scanned.
ADAPTERS = frozenset(
    {
        "athena",
        "bigquery",
        "databricks",
        "duckdb",
        "postgres",
        "redshift",
        "snowflake",
        "spark",
        "sqlserver",
        "trino",
    }
)


@dataclass(frozen=True)
class Finding:
    construct: str
    line: int
    portable: str


@dataclass(frozen=True)
class Construct:
    """A piece of DuckDB-only SQL, and how to write it portably."""

    name: str
    portable: str

    def at(self, line: int) -> Finding:
        return Finding(self.name, line, self.portable)


# Functions DuckDB has and Trino or Spark lack or spell differently.
DUCKDB_ONLY_FUNCTIONS: dict[str, str] = {
    "epoch": "seconds between timestamps: dbt.datediff, or a dispatched macro",
    "epoch_ms": "dbt.datediff, or a dispatched macro",
    "to_seconds": "dbt.dateadd",
    "to_minutes": "dbt.dateadd",
    "to_hours": "dbt.dateadd",
    "to_days": "dbt.dateadd",
    "to_weeks": "dbt.dateadd",
    "to_months": "dbt.dateadd",
    "to_years": "dbt.dateadd",
    "last_day": "dbt.last_day (Trino has last_day_of_month)",
    "date_diff": "dbt.datediff (argument order and units differ by engine)",
    "datediff": "dbt.datediff (argument order and units differ by engine)",
    "date_add": "dbt.dateadd",
    "dateadd": "dbt.dateadd",
    "date_part": "extract(<part> from <value>)",
    "make_date": "dbt.date",
    "make_timestamp": "a dispatched macro",
    "strftime": "a dispatched macro (Trino format_datetime, Spark date_format)",
    "strptime": "a dispatched macro (Trino parse_datetime, Spark to_timestamp)",
    "generate_series": "date_series (dbt/macros/cross_database.sql) or dbt.generate_series",
    "range": "dbt.generate_series",
    "unnest": "Trino unnests only in FROM (cross join unnest), Spark uses explode",
    "list": "array_agg",
    "array_to_string": "dbt.listagg, or array_join in Trino and Spark",
    "string_split": "dbt.split_part",
    "str_split": "dbt.split_part",
    "string_agg": "dbt.listagg",
    "group_concat": "dbt.listagg",
    "regexp_matches": "regexp_like (Trino) / rlike (Spark), behind a dispatched macro",
    "json_group_object": "json_object_agg_text (dbt/macros/cross_database.sql)",
    "json_group_array": "a dispatched macro",
    "json_extract": "a dispatched macro (JSON paths differ: Spark has get_json_object)",
    "json_extract_string": "a dispatched macro (JSON paths differ: Spark has get_json_object)",
    "quantile_cont": "percentile_cont(p) within group (order by x), or approx_percentile",
    "quantile_disc": "percentile_disc(p) within group (order by x)",
    "quantile": "percentile_cont(p) within group (order by x)",
    "median": "percentile_cont(0.5) within group (order by x)",
    "arg_max": "max_by",
    "arg_min": "min_by",
    "struct_pack": "row (Trino) / named_struct (Spark)",
    "struct_extract": "field access",
    "columns": "list the columns",
    "ifnull": "coalesce",
    "hash": "dbt.hash (Spark's hash() gives other values, Trino has none)",
    "md5": "dbt.hash (Trino's md5 takes varbinary and returns it)",
    "read_csv": "a source table in the engine's catalog",
    "read_csv_auto": "a source table in the engine's catalog",
    "read_parquet": "a source table in the engine's catalog",
    "read_json": "a source table in the engine's catalog",
}
# DuckDB's list functions (list_filter, list_transform, list_value, ...): Trino and Spark have
# array functions under other names.
LIST_FUNCTIONS = Construct("list_*()", "the engine's array functions, behind a dispatched macro")

# Tokens that are DuckDB syntax on their own.
DUCKDB_ONLY_TOKENS: dict[TokenType, Construct] = {
    TokenType.DCOLON: Construct("`::` cast", "cast(<value> as <type>), or dbt.cast"),
    TokenType.L_BRACE: Construct("struct literal {...}", "row (Trino) / named_struct (Spark)"),
    TokenType.L_BRACKET: Construct("list literal or index [...]", "the engine's array syntax"),
    TokenType.COLON_EQ: Construct("named argument :=", "positional arguments"),
    TokenType.QUALIFY: Construct("qualify", "filter on row_number() in an outer query"),
    TokenType.DIV: Construct("integer division //", "floor(a / b)"),
    TokenType.ARROW: Construct("arrow operator ->", "a dispatched macro"),
    TokenType.DARROW: Construct("arrow operator ->>", "a dispatched macro"),
}
# Token sequences.
INTERVAL_NUMBER = Construct("interval <n> <unit>", "dbt.dateadd, or interval '<n>' <unit>")
INTERVAL_PHRASE = Construct("interval '<n> <unit>'", "dbt.dateadd, or interval '<n>' <unit>")
LAMBDA = Construct("lambda", "the engine's lambda (x -> ...), behind a dispatched macro")
STAR_MODIFIER = Construct("select * exclude/replace", "list the columns")
BY_ALL = Construct("group/order by all", "list the columns")
# Spark 4 refuses a varchar without a length, in casts and in contracts (DATATYPE_MISSING_SIZE).
LENGTHLESS_VARCHAR = Construct(
    "varchar without a length",
    "dbt.type_string() in SQL, `string` as a contract's data_type (DuckDB and Spark read both)",
)


def construct_names() -> set[str]:
    """Every construct the check can report, as the allow-list names them."""
    names = {f"{name}()" for name in DUCKDB_ONLY_FUNCTIONS} | {LIST_FUNCTIONS.name}
    names |= {construct.name for construct in DUCKDB_ONLY_TOKENS.values()}
    return names | {
        c.name
        for c in (
            INTERVAL_NUMBER,
            INTERVAL_PHRASE,
            LAMBDA,
            STAR_MODIFIER,
            BY_ALL,
            LENGTHLESS_VARCHAR,
        )
    }


JINJA = re.compile(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
JINJA_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)
FRAGMENT_FUNCTION = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)


def split_jinja(template: str) -> tuple[str, list[tuple[int, str]]]:
    """The SQL of a dbt template with the Jinja taken out (an expression becomes one identifier,
    line numbers are kept), and the string literals inside the Jinja with their lines: those are
    SQL fragments that macros assemble."""
    fragments: list[tuple[int, str]] = []

    def replace(match: re.Match[str]) -> str:
        block = match.group(0)
        line = template.count("\n", 0, match.start()) + 1
        if not block.startswith("{#"):
            for string in JINJA_STRING.finditer(block):
                text = string.group(1) if string.group(1) is not None else string.group(2)
                fragments.append((line + block.count("\n", 0, string.start()), text))
        newlines = "\n" * block.count("\n")
        return (" jinja_expression " if block.startswith("{{") else " ") + newlines

    return JINJA.sub(replace, template), fragments


def function_finding(name: str, line: int) -> Finding | None:
    name = name.lower()
    if name in DUCKDB_ONLY_FUNCTIONS:
        return Construct(f"{name}()", DUCKDB_ONLY_FUNCTIONS[name]).at(line)
    if name.startswith("list_"):
        return LIST_FUNCTIONS.at(line)
    return None


# `lambda x: ...` or `lambda x, y: ...`
LAMBDA_PARAMETER_END = {TokenType.COLON, TokenType.COMMA}


def token_findings(tokens: list[Token]) -> list[Finding]:
    findings: list[Finding | None] = []
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        after = tokens[i + 2] if i + 2 < len(tokens) else None
        kind = token.token_type
        next_kind = following.token_type if following else None
        next_text = following.text.lower() if following else ""
        if kind in DUCKDB_ONLY_TOKENS:
            findings.append(DUCKDB_ONLY_TOKENS[kind].at(token.line))
        elif token.text.lower() == "varchar" and next_kind != TokenType.L_PAREN:
            findings.append(LENGTHLESS_VARCHAR.at(token.line))
        elif kind == TokenType.INTERVAL and next_kind == TokenType.NUMBER:
            findings.append(INTERVAL_NUMBER.at(token.line))
        elif kind == TokenType.INTERVAL and next_kind == TokenType.STRING:
            # interval '90 days' (the unit inside the string) is DuckDB and Postgres only
            if re.search(r"[a-z]", next_text):
                findings.append(INTERVAL_PHRASE.at(token.line))
        elif kind == TokenType.STAR and next_text in {"exclude", "replace"}:
            findings.append(STAR_MODIFIER.at(token.line))
        elif kind in {TokenType.GROUP_BY, TokenType.ORDER_BY} and next_kind == TokenType.ALL:
            findings.append(BY_ALL.at(token.line))
        elif token.text.lower() == "lambda" and after and after.token_type in LAMBDA_PARAMETER_END:
            findings.append(LAMBDA.at(token.line))
        elif kind != TokenType.STRING and next_kind == TokenType.L_PAREN:
            previous = tokens[i - 1].token_type if i else None
            # `from unnest(...)`, `cross join unnest(...) as e (x)`: standard SQL, as Trino and
            # PostgreSQL write it; DuckDB's unnest() in the select list is what does not port
            if token.text.lower() == "unnest" and previous in {TokenType.FROM, TokenType.JOIN}:
                continue
            findings.append(function_finding(token.text, token.line))
    return [finding for finding in findings if finding]


def duckdb_only_constructs(template: str) -> list[Finding]:
    """DuckDB-only SQL written in a dbt template (a model, macro or SQL expression), in order.

    Macro calls are Jinja, so what they render is not looked at: the macro itself is checked.
    SQL fragments that Jinja assembles from strings are checked for DuckDB-only functions."""
    sql, fragments = split_jinja(template)
    findings = token_findings(DuckDB().tokenize(sql))
    for line, text in fragments:
        for match in FRAGMENT_FUNCTION.finditer(text):
            finding = function_finding(match.group(1), line + text.count("\n", 0, match.start()))
            if finding:
                findings.append(finding)
        if "::" in text:
            findings.append(DUCKDB_ONLY_TOKENS[TokenType.DCOLON].at(line))
    return findings


@dataclass(frozen=True)
class Unit:
    """One piece of the project that holds SQL, as the allow-list names it."""

    kind: str  # models, tests, macros, semantic_models, metrics
    name: str
    path: str
    sql: str


def is_adapter_implementation(macro_name: str) -> bool:
    prefix, sep, _ = macro_name.partition("__")
    return bool(sep) and prefix in ADAPTERS


def semantic_model_sql(node: dict[str, Any]) -> str:
    exprs = [
        item.get("expr") or ""
        for key in ("entities", "dimensions", "measures")
        for item in node.get(key) or []
    ]
    return "\n".join(exprs)


def metric_sql(node: dict[str, Any]) -> str:
    params = node.get("type_params") or {}
    filters = [node.get("filter")] + [
        (params.get(role) or {}).get("filter") for role in ("measure", "numerator", "denominator")
    ]
    filters += [m.get("filter") for m in params.get("metrics") or []]
    wheres = [w["where_sql_template"] for f in filters if f for w in f.get("where_filters", [])]
    return "\n".join(wheres + [params.get("expr") or ""])


def contract_sql(node: dict[str, Any]) -> str:
    """A model's declared column types (its contract) as SQL casts, one line per column: what
    dbt asks the engine when it checks the contract."""
    return "\n".join(
        f"cast(null as {column['data_type']}) as {name}"
        for name, column in node.get("columns", {}).items()
        if column.get("data_type")
    )


def project_units(manifest: dict[str, Any]) -> list[Unit]:
    """Every model, singular data test, macro, semantic model and metric of the project, every
    model's declared column types (kind `contracts`, in its YAML file) and the rows unit tests
    give as SQL (kind `unit_tests`)."""
    units: list[Unit] = []
    for node in manifest["nodes"].values():
        if node["package_name"] != PACKAGE:
            continue
        if node["resource_type"] in {"model", "snapshot"} or (
            node["resource_type"] == "test" and not node.get("test_metadata")
        ):
            kind = "tests" if node["resource_type"] == "test" else f"{node['resource_type']}s"
            units.append(Unit(kind, node["name"], node["original_file_path"], node["raw_code"]))
            if node["resource_type"] == "model" and contract_sql(node):
                path = (node.get("patch_path") or "").partition("://")[2]
                units.append(Unit("contracts", node["name"], path, contract_sql(node)))
    for macro in manifest["macros"].values():
        if macro["package_name"] == PACKAGE and not is_adapter_implementation(macro["name"]):
            units.append(
                Unit("macros", macro["name"], macro["original_file_path"], macro["macro_sql"])
            )
    for test in manifest.get("unit_tests", {}).values():
        # the rows a unit test gives as SQL run on each engine too (Spark refused a fixture's
        # `cast(null as varchar)` that DuckDB took)
        given = [g["rows"] for g in test.get("given") or [] if g.get("format") == "sql"]
        expected = test.get("expect") or {}
        if expected.get("format") == "sql":
            given.append(expected["rows"])
        if test["package_name"] == PACKAGE and given:
            units.append(
                Unit("unit_tests", test["name"], test["original_file_path"], "\n".join(given))
            )
    for node in manifest["semantic_models"].values():
        if node["package_name"] == PACKAGE:
            units.append(
                Unit(
                    "semantic_models",
                    node["name"],
                    node["original_file_path"],
                    semantic_model_sql(node),
                )
            )
    for node in manifest["metrics"].values():
        if node["package_name"] == PACKAGE:
            units.append(
                Unit("metrics", node["name"], node["original_file_path"], metric_sql(node))
            )
    return units


def load_allow_list(path: Path = ALLOW_LIST) -> dict[tuple[str, str], dict[str, Any]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {(kind, name): entry for kind, entries in doc.items() for name, entry in entries.items()}


def portability_problems(
    units: list[Unit], allowed: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    """Each use of DuckDB-only SQL the allow-list does not name, and each allow-list entry that
    no longer matches the project, as a message naming the model (or macro) and the construct."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for unit in units:
        key = (unit.kind, unit.name)
        seen.add(key)
        permitted = set((allowed.get(key) or {}).get("constructs") or [])
        found: dict[str, Finding] = {}
        for finding in duckdb_only_constructs(unit.sql):
            found.setdefault(finding.construct, finding)
        for construct, finding in sorted(found.items()):
            if construct not in permitted:
                problems.append(
                    f"{unit.kind[:-1]} {unit.name} ({unit.path}, line {finding.line} of its SQL) "
                    f"uses DuckDB-only SQL: {construct}. Portable: {finding.portable}. Use it, or "
                    f"list the construct with the reason under {unit.kind}.{unit.name} in "
                    f"{ALLOW_LIST_NAME}."
                )
        for construct in sorted(permitted - set(found)):
            problems.append(
                f"{unit.kind[:-1]} {unit.name} no longer uses {construct}: "
                f"remove it from {ALLOW_LIST_NAME}."
            )
    for kind, name in sorted(set(allowed) - seen):
        problems.append(f"{ALLOW_LIST_NAME} lists {kind}.{name}, which the project does not have.")
    return problems


@pytest.fixture(scope="module")
def manifest(dbt_manifest: Path) -> dict[str, Any]:
    return json.loads(dbt_manifest.read_text(encoding="utf-8"))


def test_duckdb_only_sql_is_confined_to_the_allow_list(manifest):
    problems = portability_problems(project_units(manifest), load_allow_list())
    assert not problems, "\n".join(problems)


def test_allow_list_entries_name_known_constructs_and_a_reason():
    known = construct_names()
    for (kind, name), entry in load_allow_list().items():
        kinds = {"models", "contracts", "tests", "macros", "semantic_models", "metrics"}
        assert kind in kinds, kind
        assert set(entry["constructs"]) <= known, (name, set(entry["constructs"]) - known)
        assert len(entry.get("why", "").split()) >= 5, (
            f"{kind}.{name}: say why it is still DuckDB SQL"
        )


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("select epoch(paid_at - reported_at) / 86400.0 from claims", "epoch()"),
        ("select reopened_at <= closed_at + interval 90 day from claims", "interval <n> <unit>"),
        ("select closed_at + interval '90 days' from claims", "interval '<n> <unit>'"),
        ("select requested_at + to_hours(sla_hours) from endorsements", "to_hours()"),
        ("select paid_at::date from claims", "`::` cast"),
        ("select {'metric_name': 'nps', 'value': 1.0} as s", "struct literal {...}"),
        ("select unnest([1, 2, 3])", "list literal or index [...]"),
        ("select unnest(items, recursive := true) from t", "named argument :="),
        ("select unnest(items) from t", "unnest()"),
        ("select quantile_cont(x, [0.5, 0.9]) from t", "quantile_cont()"),
        ("select * from t qualify row_number() over (order by x) = 1", "qualify"),
        ("select list_filter(l, lambda x: x > 0) from t", "list_*()"),
        ("select list_filter(l, lambda x: x > 0) from t", "lambda"),
        ("select json_group_object(rule, n) from t group by source", "json_group_object()"),
        ("select * exclude (secret) from t", "select * exclude/replace"),
        ("select source, count(*) from t group by all", "group/order by all"),
        ("select last_day(month_date) from t", "last_day()"),
        ("select d from generate_series(1, 3) as s (d)", "generate_series()"),
        ("{%- set v = 'epoch(' ~ expr ~ ')' %}select {{ v }}", "epoch()"),
        ("select cast(null as varchar) as org_code", "varchar without a length"),
        ("select cast(month_end_date as VARCHAR) from t", "varchar without a length"),
    ],
)
def test_duckdb_only_constructs_flags_duckdb_sql(sql, construct):
    assert construct in {f.construct for f in duckdb_only_constructs(sql)}


def test_duckdb_only_constructs_passes_portable_sql():
    sql = """
        -- epoch() and interval 90 day in a comment, {'a': 1} in a string: not SQL
        {#- neither is epoch(x) in a Jinja comment -#}
        select
            cast({{ dbt.date_trunc('month', 'loaded_at') }} as date) as period_start,
            {{ dbt.datediff('reported_at', 'paid_at', 'day') }} as days,
            '{"a": [1]}' as json_text,
            closed_at + interval '90' day as due_at,
            count(*) filter (where status = 'rejected') as rejected,
            percentile_cont(0.9) within group (order by x) as p90,
            row_number() over (partition by k order by v desc) as version_rank,
            cast(null as {{ dbt.type_string() }}) as no_text,
            cast(source as varchar(40)) as source_text
        from {{ ref('stg_meta__file_versions') }}
        cross join unnest(versions.batch_ids) as batches (batch_id)
        group by grouping sets ((source), ())
    """
    assert duckdb_only_constructs(sql) == []


def test_a_new_model_with_duckdb_sql_fails_naming_the_model_and_construct(manifest):
    units, allowed = project_units(manifest), load_allow_list()
    new_model = Unit(
        "models",
        "fct_new_things",
        "models/new/fct_new_things.sql",
        "select 1 as x\nfrom t where closed_at + interval 90 day > now()",
    )
    added = set(portability_problems([*units, new_model], allowed))
    added -= set(portability_problems(units, allowed))
    assert len(added) == 1
    (problem,) = added
    assert problem.startswith("model fct_new_things (models/new/fct_new_things.sql, line 2 ")
    assert "interval <n> <unit>" in problem and "dbt.dateadd" in problem


def test_a_construct_no_longer_used_must_leave_the_allow_list(manifest):
    units, allowed = project_units(manifest), load_allow_list()
    stale = {**allowed, ("models", "dim_months"): {"constructs": ["generate_series()"]}}
    added = set(portability_problems(units, stale)) - set(portability_problems(units, allowed))
    assert added == {
        f"model dim_months no longer uses generate_series(): remove it from {ALLOW_LIST_NAME}."
    }


def test_a_contract_with_a_varchar_without_length_fails(manifest):
    units, allowed = project_units(manifest), load_allow_list()
    contract = Unit(
        "contracts",
        "fct_new_things",
        "models/new/_new__models.yml",
        "cast(null as string) as thing_id\ncast(null as varchar) as thing_name",
    )
    added = set(portability_problems([*units, contract], allowed))
    added -= set(portability_problems(units, allowed))
    (problem,) = added
    assert problem.startswith("contract fct_new_things (models/new/_new__models.yml, line 2 ")
    assert "varchar without a length" in problem and "`string`" in problem
