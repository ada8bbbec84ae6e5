"""Every dispatched macro's implementations agree, and hold inside other SQL.

dbt's adapter.dispatch picks a macro's implementation by engine (`duckdb__`, `spark__`, else the
portable `default__`; dbt/macros/cross_database.sql). An implementation that only another engine
runs is only tested when that engine runs, so here every implementation DuckDB can evaluate runs
on DuckDB over the same sample inputs, and the answers must agree:

- as the project renders them;
- again with dbt's own cross-database macros rendered as operator expressions (`0 + (x) + 0`),
  as some adapters render them: dbt-spark's datediff in milliseconds is `case ... end + a - b`,
  which turned `(datediff / 1e3)` into milliseconds on Spark while every dbt test passed. An
  implementation must parenthesise what another macro gives it before using it as an operand;
- and every expression an implementation returns (those DuckDB cannot run too) is one operand:
  `{{ seconds_between(...) }} / 60.0` must divide all of it.

The `spark__` implementations use Spark's functions (inline, percentile over an array,
collect_list, unix_micros, sequence, lateral view explode), which DuckDB does not have;
tests/spark/compare.py builds the project on Spark and compares the marts with DuckDB's. So do
the implementations that configure materialisations, run as hooks or register sources:
SPARK_ONLY says which and why, and a dispatched macro in neither list fails here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from sqlglot import exp

from dagster_project.defs.transform.project import dbt_executable

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt"
PACKAGE = "opsvalue"
IMPLEMENTATION_PREFIXES = ("default__", "duckdb__", "spark__")

# Dispatched macros whose implementations DuckDB evaluates below, and those it cannot.
COMPARED_ON_DUCKDB = {
    "date_series",
    "json_object_agg_text",
    "listagg_sorted",
    "seconds_between",
    "rows_per_item",
    "percentile_columns",
    "percentile_column",
    "kpi_sql_literal",
    "unnested_rows",
}
SPARK_ONLY = {
    "incremental_by_key_config": "a materialisation's config (delete+insert or insert_overwrite)",
    "inputs_gate_config": "a materialisation's config (append or insert_overwrite)",
    "incremental_append_config": "a materialisation's config (append; Parquet partitions)",
    "delete_gone_batches": "a post-hook: a delete, or Spark's partition drops",
    "inputs_gate_cleanup": "a post-hook: a delete (on DuckDB via a CTE), or partition drops",
    "kpi_delete_gone_batch_months": "a post-hook: a delete, or Spark's partition drops",
    "kpi_delete_stale_pairs": "a post-hook: a delete, or Spark's partition drops",
    "kpi_standardised_delete_stale": "a post-hook: deletes, or Spark's partition drops",
    "kpi_pairs_to_recompute": "fct_kpi_values' incremental filter (pairs, or Spark's months)",
    "drop_partitions": "Spark's partition drops, run from the hooks",
    "register_parquet_sources": "an operation registering Spark tables",
}

# dbt's cross-database macros that the default__ implementations call, rendered as operator
# expressions with the same value: a lower-precedence operator on each side.
OPERATOR_RENDERINGS = """
{% macro duckdb__datediff(first_date, second_date, datepart) -%}
    0 + ({{ dbt.duckdb__datediff(first_date, second_date, datepart) }}) + 0
{%- endmacro %}

{% macro duckdb__dateadd(datepart, interval, from_date_or_timestamp) -%}
    interval '0' second + ({{ dbt.duckdb__dateadd(datepart, interval, from_date_or_timestamp) }})
    + interval '0' second
{%- endmacro %}

{% macro duckdb__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    '' || ({{ dbt.duckdb__listagg(measure, delimiter_text, order_by_clause, limit_num) }}) || ''
{%- endmacro %}
"""

# Texts a generated string literal must read back unchanged.
LITERAL_TEXTS = [
    "it's",
    "back\\slash",
    '{"formula": "paid_at \\u2212 reported_at"}',
    "理赔周期",
    "",
]

DISPATCH_CASES_SQL = """
{%- set bounds = [
    ("date '2023-11-01'", "date '2024-03-01'"),
    ("date '2024-02-27'", "date '2024-03-02'"),
    ("date '2024-03-01'", "date '2024-03-01'"),
    ("date '2024-03-01'", "date '2023-11-01'"),
    ("cast(null as date)", "date '2024-03-01'"),
] %}
select
    {%- for start, end in bounds %}
    {%- set case = loop.index0 %}
    {%- for part in ['month', 'day'] %}
    (
        select string_agg(cast(series_date as varchar), ',' order by series_date)
        from {{ default__date_series(part, start, end) }} as series
    ) as date_series_{{ part }}_{{ case }}_default,
    (
        select string_agg(cast(series_date as varchar), ',' order by series_date)
        from {{ duckdb__date_series(part, start, end) }} as series
    ) as date_series_{{ part }}_{{ case }}_duckdb,
    {%- endfor %}
    {%- endfor %}
    {%- set spans = [
        ("timestamp '2024-01-30 08:00:00'", "timestamp '2024-03-02 17:45:30'"),
        ("timestamp '2024-03-01 12:00:00.250'", "timestamp '2024-03-01 12:00:01.750'"),
        ("timestamp '2024-03-01 12:00:01.750'", "timestamp '2024-03-01 12:00:00.500'"),
        ("timestamp '2024-03-01 12:00:00'", "timestamp '2024-03-01 12:00:00.001'"),
        ("timestamp '2023-02-28 23:59:59.999'", "timestamp '2024-02-29 00:00:00'"),
        ("timestamp '2024-03-01 12:00:00'", "cast(null as timestamp)"),
        ("cast(null as timestamp)", "timestamp '2024-03-01 12:00:00'"),
    ] %}
    {%- for start, end in spans %}
    {%- set case = loop.index0 %}
    {#- as text: DuckDB prints a double in its shortest round-trip form, so equal text is equal
        bits -#}
    cast({{ default__seconds_between(start, end) }} as varchar)
        as seconds_between_{{ case }}_default,
    cast({{ duckdb__seconds_between(start, end) }} as varchar)
        as seconds_between_{{ case }}_duckdb,
    {%- endfor %}
    {#- 3,000 spans, from about a year back to about a year ahead, in whole seconds and in
        milliseconds -#}
    {%- set offsets = {
        'whole_seconds': 'to_seconds((step * step - 4000000) * 7)',
        'milliseconds': 'to_milliseconds((step * step - 4000000) * 7919)',
    } %}
    {%- for unit, offset in offsets.items() %}
    {%- for impl in ['default', 'duckdb'] %}
    (
        select string_agg(
            cast(
                {%- if impl == 'default' %} {{ default__seconds_between('start_at', 'end_at') }}
                {%- else %} {{ duckdb__seconds_between('start_at', 'end_at') }}
                {%- endif %} as varchar
            ),
            ',' order by step
        )
        from (
            select
                step,
                timestamp '2024-01-01 00:00:00' + to_seconds(step) as start_at,
                timestamp '2024-01-01 00:00:00' + to_seconds(step) + {{ offset }} as end_at
            from range(3000) as steps (step)
        ) as spans
    ) as seconds_between_{{ unit }}_{{ impl }},
    {%- endfor %}
    {%- endfor %}
    {#- the same rows in two orders: an order-independent aggregate gives the same text -#}
    {%- set quoted = "('a\\"quoted\\\\key', 1)" %}
    {%- set known = "('known_org:org_code', 3)" %}
    {%- set known_again = "('known_org:org_code', 4)" %}
    {%- set rule_counts = {
        'forward': known ~ ", " ~ quoted ~ ", ('b<=c', 2), " ~ known_again,
        'backward': known_again ~ ", ('b<=c', 2), " ~ quoted ~ ", " ~ known,
    } %}
    {%- for order, rows in rule_counts.items() %}
    {%- for impl in ['default', 'duckdb'] %}
    (
        select
            {%- if impl == 'default' %} {{ default__json_object_agg_text('rule', 'n') }}
            {%- else %} {{ duckdb__json_object_agg_text('rule', 'n') }}
            {%- endif %}
        from (
            select rule, sum(n) as n
            from (values {{ rows }}) as rows (rule, n)
            group by rule
        ) as counts
    ) as json_object_agg_text_{{ order }}_{{ impl }},
    {%- endfor %}
    (
        select {{ default__listagg_sorted('batch', "','") }}
        from (
            select distinct rule as batch from (values {{ rows }}) as rows (rule, n)
        ) as batches
    ) as listagg_sorted_{{ order }}_default,
    {%- endfor %}
    {#- three records, one filtered out, each turned into three items -#}
    {%- set items = [
        {'item_name': "'first'", 'item_value': 'cast(x as double)', 'is_big': 'x > 1'},
        {'item_name': "'second'", 'item_value': 'cast(x * 10 as double)', 'is_big': 'false'},
        {'item_name': "'third'", 'item_value': 'cast(null as double)', 'is_big': 'x is null'},
    ] %}
    {%- set records = "(values (1, 'a'), (2, 'b'), (null, 'c'), (4, 'd')) as records (x, k)" %}
    {%- for impl in ['default', 'duckdb'] %}
    (
        select string_agg(
            concat_ws('|', k, upper_k, item_name, coalesce(cast(item_value as varchar), 'null'),
                coalesce(cast(is_big as varchar), 'null')),
            ',' order by k, item_name
        )
        from (
            {%- if impl == 'default' %}
            {{ default__rows_per_item(records, ['k', 'upper(k) as upper_k'], items, "k <> 'b'") }}
            {%- else %}
            {{ duckdb__rows_per_item(records, ['k', 'upper(k) as upper_k'], items, "k <> 'b'") }}
            {%- endif %}
        ) as itemised
    ) as rows_per_item_{{ impl }},
    {%- endfor %}
    {#- p50 and p90 per group: four values, one, none -#}
    {%- for impl in ['default', 'duckdb'] %}
    (
        select string_agg(
            concat_ws('|', g,
                coalesce(cast(
                    {%- if impl == 'default' %} {{ default__percentile_column('p', 1) }}
                    {%- else %} {{ duckdb__percentile_column('p', 1) }}
                    {%- endif %} as varchar), 'null'),
                coalesce(cast(
                    {%- if impl == 'default' %} {{ default__percentile_column('p', 2) }}
                    {%- else %} {{ duckdb__percentile_column('p', 2) }}
                    {%- endif %} as varchar), 'null')),
            ',' order by g
        )
        from (
            select
                g,
                {%- if impl == 'default' %} {{ default__percentile_columns('x', [0.5, 0.9], 'p') }}
                {%- else %} {{ duckdb__percentile_columns('x', [0.5, 0.9], 'p') }}
                {%- endif %}
            from (
                values ('a', 1.0), ('a', 2.0), ('a', 3.0), ('a', 10.0), ('b', 7.5),
                    ('c', cast(null as double))
            ) as samples (g, x)
            group by g
        ) as percentiles
    ) as percentiles_{{ impl }},
    {%- endfor %}
    {#- an array's elements as rows: all three (one repeated), none for an empty array or null -#}
    (
        select string_agg(concat_ws('|', arrays.g, cast(elements.x as varchar)), ','
            order by arrays.g, elements.x)
        from (
            values ('a', [2.5, 1.0, 2.5]), ('b', cast([] as double[])),
                ('c', cast(null as double[]))
        ) as arrays (g, xs)
        {{ default__unnested_rows('arrays.xs', 'elements', 'x') }}
    ) as unnested_rows_default,
    {%- for text in var('literal_texts') %}
    {{ default__kpi_sql_literal(text) }} as literal_{{ loop.index0 }}_default,
    {%- endfor %}
    1 as done
"""

# Every implementation rendered on plain operands: the expressions, then the select items and
# statements (rows_per_item, percentile_columns), for sqlglot to read as the engine would.
EXPRESSIONS_SQL = """
{%- set calls = [
    ('default', 'seconds_between', default__seconds_between('s', 'e')),
    ('duckdb', 'seconds_between', duckdb__seconds_between('s', 'e')),
    ('spark', 'seconds_between', spark__seconds_between('s', 'e')),
    ('default', 'json_object_agg_text', default__json_object_agg_text('k', 'v')),
    ('duckdb', 'json_object_agg_text', duckdb__json_object_agg_text('k', 'v')),
    ('spark', 'json_object_agg_text', spark__json_object_agg_text('k', 'v')),
    ('default', 'listagg_sorted', default__listagg_sorted('k', "','")),
    ('spark', 'listagg_sorted', spark__listagg_sorted('k', "','")),
    ('default', 'percentile_column', default__percentile_column('p', 2)),
    ('duckdb', 'percentile_column', duckdb__percentile_column('p', 2)),
    ('spark', 'percentile_column', spark__percentile_column('p', 2)),
    ('default', 'kpi_sql_literal', default__kpi_sql_literal("it's a \\\\ test")),
    ('spark', 'kpi_sql_literal', spark__kpi_sql_literal("it's a \\\\ test")),
    ('default', 'date_series', default__date_series('day', 'a', 'b')),
    ('duckdb', 'date_series', duckdb__date_series('day', 'a', 'b')),
    ('spark', 'date_series', spark__date_series('day', 'a', 'b')),
] %}
{%- for engine, name, sql in calls %}
-- expression {{ engine }} {{ name }}
{{ sql }}
{%- endfor %}
{%- set items = [{'n': "'a'", 'v': 'x'}, {'n': "'b'", 'v': 'y'}] %}
{%- set statements = [
    ('default', 'rows_per_item', default__rows_per_item('t', ['k'], items, 'x > 0')),
    ('duckdb', 'rows_per_item', duckdb__rows_per_item('t', ['k'], items, 'x > 0')),
    ('spark', 'rows_per_item', spark__rows_per_item('t', ['k'], items, 'x > 0')),
    ('default', 'percentile_columns',
        'select g, ' ~ default__percentile_columns('x', [0.5, 0.9], 'p') ~ ' from t group by g'),
    ('duckdb', 'percentile_columns',
        'select g, ' ~ duckdb__percentile_columns('x', [0.5, 0.9], 'p') ~ ' from t group by g'),
    ('spark', 'percentile_columns',
        'select g, ' ~ spark__percentile_columns('x', [0.5, 0.9], 'p') ~ ' from t group by g'),
    ('default', 'unnested_rows',
        'select t.g, e.x from t ' ~ default__unnested_rows('t.xs', 'e', 'x')),
    ('spark', 'unnested_rows',
        'select t.g, e.x from t ' ~ spark__unnested_rows('t.xs', 'e', 'x')),
] %}
{%- for engine, name, sql in statements %}
-- statement {{ engine }} {{ name }}
{{ sql }}
{%- endfor %}
"""


def write_profile(tmp_path: Path) -> Path:
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "profiles.yml").write_text(
        yaml.safe_dump(
            {
                PACKAGE: {
                    "target": "check",
                    "outputs": {
                        "check": {"type": "duckdb", "path": str(tmp_path / "check.duckdb")}
                    },
                }
            }
        )
    )
    return profiles


def dbt_inline(command: str, sql: str, project: Path, tmp_path: Path) -> str:
    """stdout of `dbt <command> --inline sql` (show or compile) on a DuckDB scratch file."""
    result = subprocess.run(
        [dbt_executable(), command, "--inline", sql, "--output", "json", "--log-format", "json"]
        + ["--vars", json.dumps({"literal_texts": LITERAL_TEXTS})]
        + ["--project-dir", str(project), "--profiles-dir", str(write_profile(tmp_path))]
        + ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
        + ["--no-partial-parse"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def shown_row(stdout: str) -> dict[str, Any]:
    shown = [
        json.loads(line)["data"]["preview"]
        for line in stdout.splitlines()
        if line.startswith("{") and '"preview"' in line
    ]
    assert len(shown) == 1, stdout[-3000:]
    return json.loads(shown[0])[0]


def operator_project(tmp_path: Path) -> Path:
    """The project's macros, with dbt's cross-database macros rendered as operator expressions
    (dispatch searches the project first, so its duckdb__datediff wins over dbt-duckdb's)."""
    project = tmp_path / "operator_project"
    (project / "operator_macros").mkdir(parents=True)
    (project / "macros").symlink_to(DBT_DIR / "macros", target_is_directory=True)
    (project / "operator_macros" / "operator_renderings.sql").write_text(OPERATOR_RENDERINGS)
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                "name": PACKAGE,
                "version": "0.1.0",
                "profile": PACKAGE,
                "macro-paths": ["macros", "operator_macros"],
                "dispatch": [{"macro_namespace": "dbt", "search_order": [PACKAGE, "dbt"]}],
            }
        )
    )
    return project


def assert_implementations_agree(row: dict[str, Any]) -> None:
    pairs = {name[: -len("_default")] for name in row if name.endswith("_default")}
    assert len(pairs) == 31, sorted(pairs)
    for name in sorted(pairs - {"seconds_between_milliseconds"}):
        if f"{name}_duckdb" in row:
            assert row[f"{name}_default"] == row[f"{name}_duckdb"], name
    # DuckDB's epoch() adds an interval's days (times 86,400) and its remaining seconds as two
    # doubles, so a span of days plus a fraction of a second can end one unit in the last place
    # from the correctly rounded quotient the default computes. Whole-second spans (all the
    # extracts hold) are exact in both, as compared above.
    portable_values = row["seconds_between_milliseconds_default"].split(",")
    duckdb_values = row["seconds_between_milliseconds_duckdb"].split(",")
    assert len(portable_values) == len(duckdb_values) == 3000
    for portable, duckdb_native in zip(
        map(float, portable_values), map(float, duckdb_values), strict=True
    ):
        assert abs(portable - duckdb_native) <= math.ulp(duckdb_native), (portable, duckdb_native)
    assert row["date_series_month_0_duckdb"].count(",") == 4
    assert row["date_series_month_3_default"] is None
    assert [row[f"seconds_between_{case}_duckdb"] for case in range(7)] == [
        "2799930.0",
        "1.5",
        "-1.25",
        "0.001",
        "31536000.001",
        None,
        None,
    ]
    assert row["seconds_between_whole_seconds_duckdb"].count(",") == 2999
    expected_json = '{"a\\"quoted\\\\key":1,"b<=c":2,"known_org:org_code":7}'
    for order in ("forward", "backward"):
        assert row[f"json_object_agg_text_{order}_duckdb"] == expected_json
        assert row[f"listagg_sorted_{order}_default"] == 'a"quoted\\key,b<=c,known_org:org_code'
    assert json.loads(expected_json) == {"known_org:org_code": 7, 'a"quoted\\key': 1, "b<=c": 2}
    assert row["rows_per_item_duckdb"] == ",".join(
        [
            "a|A|first|1.0|false",
            "a|A|second|10.0|false",
            "a|A|third|null|false",
            "c|C|first|null|null",
            "c|C|second|null|false",
            "c|C|third|null|true",
            "d|D|first|4.0|true",
            "d|D|second|40.0|false",
            "d|D|third|null|false",
        ]
    )
    assert row["percentiles_duckdb"] == "a|2.5|7.900000000000001,b|7.5|7.5,c|null|null"
    assert row["unnested_rows_default"] == "a|1.0,a|2.5,a|2.5"
    for position, text in enumerate(LITERAL_TEXTS):
        assert row[f"literal_{position}_default"] == text, text


def test_dispatched_implementations_agree_on_duckdb(tmp_path):
    row = shown_row(dbt_inline("show", DISPATCH_CASES_SQL, DBT_DIR, tmp_path))
    assert_implementations_agree(row)


def test_they_agree_when_dbt_macros_render_as_operator_expressions(tmp_path):
    """The portable implementations compose dbt's macros; rendered as `0 + (x) + 0` (equal
    values, other precedence) they must still give the same answers."""
    project = operator_project(tmp_path)
    rendered = dbt_inline("compile", "{{ default__seconds_between('a', 'b') }}", project, tmp_path)
    assert "0 + (" in rendered, "the operator renderings were not used: fix this test"
    row = shown_row(dbt_inline("show", DISPATCH_CASES_SQL, project, tmp_path))
    assert_implementations_agree(row)


DIALECTS = {"default": "duckdb", "duckdb": "duckdb", "spark": "spark"}


def compiled_renderings(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    """(kind, engine, name, SQL) of each rendering in EXPRESSIONS_SQL."""
    stdout = dbt_inline("compile", EXPRESSIONS_SQL, DBT_DIR, tmp_path)
    compiled = next(
        json.loads(line)["data"]["compiled"]
        for line in stdout.splitlines()
        if line.startswith("{") and '"compiled"' in line
    )
    renderings = []
    for block in compiled.split("-- ")[1:]:
        header, _, sql = block.partition("\n")
        kind, engine, name = header.split()
        renderings.append((kind, engine, name, sql.strip()))
    return renderings


def test_every_implementation_renders_sql_its_engine_reads(tmp_path):
    """Each implementation, the spark__ ones too, parses as SQL of its engine (sqlglot)."""
    renderings = compiled_renderings(tmp_path)
    assert len(renderings) == 24
    for kind, engine, name, sql in renderings:
        text = sql if kind == "statement" else f"select {sql} as operand"
        assert sqlglot.parse_one(text, read=DIALECTS[engine]), (engine, name, sql)


def test_every_implementation_returns_one_operand(tmp_path):
    """What an implementation returns is one operand of the SQL around it: a function call, a
    cast, a case, a literal, a name or a parenthesised expression, never `a - b` bare."""
    expressions = [r[1:] for r in compiled_renderings(tmp_path) if r[0] == "expression"]
    assert len(expressions) == 16
    dialects = DIALECTS
    for engine, name, sql in expressions:
        parsed = sqlglot.parse_one(f"select {sql} as operand", read=dialects[engine])
        (operand,) = parsed.expressions
        assert isinstance(operand, exp.Alias), (engine, name, sql)
        assert not isinstance(
            operand.this, exp.Binary | exp.Unary | exp.Not | exp.Connector | exp.Between
        ) or isinstance(operand.this, exp.Paren), f"{engine}__{name} is not one operand: {sql}"


def project_macros(manifest: dict[str, Any]) -> set[str]:
    return {m["name"] for m in manifest["macros"].values() if m["package_name"] == PACKAGE}


def test_every_dispatched_macro_is_compared_here_or_on_spark(dbt_manifest: Path):
    names = project_macros(json.loads(dbt_manifest.read_text(encoding="utf-8")))
    dispatched = {
        name.partition("__")[2]
        for name in names
        if name.startswith(IMPLEMENTATION_PREFIXES) and name.partition("__")[2] in names
    }
    assert dispatched == COMPARED_ON_DUCKDB | set(SPARK_ONLY), (
        "a dispatched macro must be compared on DuckDB here (COMPARED_ON_DUCKDB) or said to be "
        "exercised by the Spark build only (SPARK_ONLY)"
    )
    for dispatcher in COMPARED_ON_DUCKDB:
        for prefix in IMPLEMENTATION_PREFIXES:
            implementation = f"{prefix}{dispatcher}"
            if implementation not in names:
                continue
            assert f"{implementation}(" in EXPRESSIONS_SQL, f"{implementation} is not rendered"
            if prefix != "spark__":
                assert f"{implementation}(" in DISPATCH_CASES_SQL, f"{implementation} is not run"


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_every_engine_implementation_has_a_portable_default(dbt_manifest: Path, engine):
    names = project_macros(json.loads(dbt_manifest.read_text(encoding="utf-8")))
    implementations = {name for name in names if name.startswith(f"{engine}__")}
    assert implementations, f"the project dispatches no macro to {engine}: update this test"
    for name in implementations:
        dispatcher = name.partition("__")[2]
        assert f"default__{dispatcher}" in names, f"{name} has no default__{dispatcher}"
        assert dispatcher in names, f"{name} has no dispatcher macro {dispatcher}"
