{#-
  SQL that every engine spells differently, behind dbt's adapter dispatch: `default__` is written
  in portable SQL over dbt's own cross-database macros (what dbt-trino or dbt-spark would run),
  `duckdb__` keeps DuckDB's native form, so results on DuckDB do not change. Models call the
  dispatcher, never an implementation. tests/test_portability.py checks that every `duckdb__`
  here has a `default__` and that both return the same rows on DuckDB.
-#}

{#- One row per `datepart` step from start_date to end_date (both included), as a subquery with
    one date column, series_date. The bounds are scalar SQL expressions (a literal, or a scalar
    subquery), so no lateral join is needed. Month steps start on the 1st: from a later day the
    engines disagree (DuckDB's series drifts to the 29th after February). -#}
{% macro date_series(datepart, start_date, end_date) -%}
    {{ return(adapter.dispatch('date_series', 'opsvalue')(datepart, start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_series(datepart, start_date, end_date) -%}
    {#- A numbers table stepped from start_date: engines without a series function get at most
        36,525 steps (a century of days), far beyond any reporting calendar. -#}
    (
        select stepped.series_date
        from (
            select
                cast(
                    {{ dbt.dateadd(datepart, 'steps.generated_number - 1', start_date) }} as date
                ) as series_date
            from ({{ dbt.generate_series(36525) }}) as steps
        ) as stepped
        where stepped.series_date <= {{ end_date }}
    )
{%- endmacro %}

{% macro duckdb__date_series(datepart, start_date, end_date) -%}
    (
        select cast(series.step_at as date) as series_date
        from
            generate_series(
                cast({{ start_date }} as timestamp),
                cast({{ end_date }} as timestamp),
                interval 1 {{ datepart }}
            ) as series (step_at)
    )
{%- endmacro %}


{#- An aggregate: the group's rows as one JSON object text {"key": value, ...}; the keys are
    strings, the values numbers. -#}
{% macro json_object_agg_text(key_column, number_column) -%}
    {{ return(adapter.dispatch('json_object_agg_text', 'opsvalue')(key_column, number_column)) }}
{%- endmacro %}

{% macro default__json_object_agg_text(key_column, number_column) -%}
    {#- No JSON aggregate is common to the engines, so the object is written as text, keys
        sorted. Keys are escaped as JSON strings (backslash first, then double quote) with chr(),
        because engines disagree on backslashes inside string literals. -#}
    {%- set key_json -%}
        chr(34) || replace(replace({{ key_column }}, chr(92), chr(92) || chr(92)), chr(34), chr(92) || chr(34)) || chr(34)
    {%- endset -%}
    '{' || coalesce(
        {{ dbt.listagg(
            key_json ~ " || ':' || cast(" ~ number_column ~ " as " ~ dbt.type_string() ~ ")",
            "','",
            "order by " ~ key_column
        ) }},
        ''
    ) || '}'
{%- endmacro %}

{% macro duckdb__json_object_agg_text(key_column, number_column) -%}
    cast(json_group_object({{ key_column }}, {{ number_column }}) as varchar)
{%- endmacro %}


{#- The seconds from start_timestamp to end_timestamp as a double, fractions included (negative
    when end is earlier, null when either is null). -#}
{% macro seconds_between(start_timestamp, end_timestamp) -%}
    {{ return(adapter.dispatch('seconds_between', 'opsvalue')(start_timestamp, end_timestamp)) }}
{%- endmacro %}

{% macro default__seconds_between(start_timestamp, end_timestamp) -%}
    {#- Milliseconds: the finest unit Trino's date_diff has (its timestamps default to millisecond
        precision). Divided by the double literal 1e3, not 1000.0: Trino divides a bigint by a
        decimal in decimal arithmetic, rounding to one decimal place. dbt.datediff is
        parenthesised on its own: some adapters render it as a sum (dbt-spark's milliseconds are
        `case ... end + a - b`), and `/ 1e3` would then divide only its last term, leaving the
        result in milliseconds, 1000 times too large. -#}
    (({{ dbt.datediff(start_timestamp, end_timestamp, 'millisecond') }}) / 1e3)
{%- endmacro %}

{% macro duckdb__seconds_between(start_timestamp, end_timestamp) -%}
    epoch({{ end_timestamp }} - {{ start_timestamp }})
{%- endmacro %}
