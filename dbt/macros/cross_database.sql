{#-
  SQL that every engine spells differently, behind dbt's adapter dispatch: `default__` is written
  in portable SQL over dbt's own cross-database macros (what dbt-trino would run), `spark__` is
  what dbt-spark runs where Spark differs, and `duckdb__` keeps DuckDB's native form where it
  differs, so results on DuckDB do not change. Models call the dispatcher, never an
  implementation. tests/test_portability.py checks that every `duckdb__` here has a `default__`
  and that every implementation DuckDB can evaluate returns the same rows there, also when dbt's
  own macros render as operator expressions (as dbt-spark's do); tests/spark/compare.py builds
  the project on Spark and compares the marts.

  What an implementation returns goes into other expressions (`{{ seconds_between(...) }} / 60.0`),
  so it is one operand: a function call or parenthesised; and what it gets from another macro
  it parenthesises before using it as an operand.
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

{% macro spark__date_series(datepart, start_date, end_date) -%}
    {#- sequence() fails when the start is after the end; there is no row then. -#}
    (
        select explode(
            case
                when cast({{ start_date }} as date) <= cast({{ end_date }} as date)
                    then sequence(
                        cast({{ start_date }} as date),
                        cast({{ end_date }} as date),
                        interval 1 {{ datepart }}
                    )
            end
        ) as series_date
    )
{%- endmacro %}


{#- An aggregate: the group's rows as one JSON object text {"key": value, ...}; the keys are
    strings, the values numbers. Keys are sorted, so the text depends only on the group's rows,
    never on the order the engine aggregates them in. -#}
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
    ('{' || coalesce(
        {{ dbt.listagg(
            key_json ~ " || ':' || cast(" ~ number_column ~ " as " ~ dbt.type_string() ~ ")",
            "','",
            "order by " ~ key_column
        ) }},
        ''
    ) || '}')
{%- endmacro %}

{% macro duckdb__json_object_agg_text(key_column, number_column) -%}
    {#- What DuckDB's json_group_object (a macro over string_agg) writes, with the keys sorted:
        json_group_object itself takes no ORDER BY and follows the order rows arrive in. -#}
    cast('{' || string_agg(
        to_json(cast({{ key_column }} as varchar)) || ':'
        || coalesce(cast(to_json({{ number_column }}) as varchar), 'null'),
        ','
        order by {{ key_column }}
    ) || '}' as varchar)
{%- endmacro %}

{% macro spark__json_object_agg_text(key_column, number_column) -%}
    {#- The (key, value) pairs sorted by key: collect_list keeps the order rows arrive in. -#}
    to_json(map_from_entries(array_sort(collect_list(
        struct(cast({{ key_column }} as string), {{ number_column }})
    ))))
{%- endmacro %}


{#- An aggregate: the group's values as one text, sorted, separated by delimiter_text (a SQL
    string literal); what goes into a digest, so it must not depend on row order. -#}
{% macro listagg_sorted(measure, delimiter_text) -%}
    {{ return(adapter.dispatch('listagg_sorted', 'opsvalue')(measure, delimiter_text)) }}
{%- endmacro %}

{% macro default__listagg_sorted(measure, delimiter_text) -%}
    {{ dbt.listagg(measure, delimiter_text, 'order by ' ~ measure) }}
{%- endmacro %}

{% macro spark__listagg_sorted(measure, delimiter_text) -%}
    {#- dbt-spark's listagg drops the order by (with a warning): sort the collected list. -#}
    array_join(array_sort(collect_list({{ measure }})), {{ delimiter_text }})
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

{% macro spark__seconds_between(start_timestamp, end_timestamp) -%}
    {#- Microseconds since the epoch, exact: dbt-spark's datediff in milliseconds rounds a
        quotient of doubles up or down (ceil(s / (1/1000))) and is then 1 ms off for some spans. -#}
    ((unix_micros({{ end_timestamp }}) - unix_micros({{ start_timestamp }})) / 1e6)
{%- endmacro %}


{#- A select of one row per row of `relation` and item of `items`: the `carried` select items
    (SQL, each `<expression> as <name>`), then one column per field of the item. Each item is a
    mapping of field name to SQL expression, with the same fields in the same order in every
    item; row_filter (SQL) limits the rows of `relation`. What the KPI models use to turn every
    record of a semantic model into one observation per metric it feeds, in one scan. -#}
{% macro rows_per_item(relation, carried, items, row_filter='') -%}
    {{ return(adapter.dispatch('rows_per_item', 'opsvalue')(relation, carried, items, row_filter)) }}
{%- endmacro %}

{% macro default__rows_per_item(relation, carried, items, row_filter='') -%}
    {#- A join with the item numbers, and one case expression per field. -#}
    select
        {%- for column in carried %}
        {{ column }},
        {%- endfor %}
        {%- for name in items[0].keys() %}
        case rows_per_item.item_number
            {%- for item in items %}
            when {{ loop.index }} then {{ item[name] }}
            {%- endfor %}
        end as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }}
    cross join (
        values {% for item in items %}({{ loop.index }}){% if not loop.last %}, {% endif %}{% endfor %}
    ) as rows_per_item (item_number)
    {%- if row_filter %}
    where {{ row_filter }}
    {%- endif %}
{%- endmacro %}

{% macro duckdb__rows_per_item(relation, carried, items, row_filter='') -%}
    {#- A list of structs unnested in the select list: one pass, no join. -#}
    select
        {%- for column in carried %}
        {{ column }},
        {%- endfor %}
        unnest([
            {%- for item in items %}
            {
                {%- for name, value in item.items() %}
                '{{ name }}': {{ value }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            }{% if not loop.last %},{% endif %}
            {%- endfor %}
        ], recursive := true)
    from {{ relation }}
    {%- if row_filter %}
    where {{ row_filter }}
    {%- endif %}
{%- endmacro %}

{% macro spark__rows_per_item(relation, carried, items, row_filter='') -%}
    {#- inline() of an array of structs, Spark's generator in the select list. -#}
    select
        {%- for column in carried %}
        {{ column }},
        {%- endfor %}
        inline(array(
            {%- for item in items %}
            named_struct(
                {%- for name, value in item.items() %}
                '{{ name }}', {{ value }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            ){% if not loop.last %},{% endif %}
            {%- endfor %}
        ))
    from {{ relation }}
    {%- if row_filter %}
    where {{ row_filter }}
    {%- endif %}
{%- endmacro %}


{#- Continuous percentiles (linear interpolation between the closest ranks) of `column` over the
    group, for every fraction of `fractions`, as select items of an aggregate query under `name`;
    percentile_column(name, position) then reads the position-th (from 1) in the outer query. -#}
{% macro percentile_columns(column, fractions, name) -%}
    {{ return(adapter.dispatch('percentile_columns', 'opsvalue')(column, fractions, name)) }}
{%- endmacro %}

{% macro default__percentile_columns(column, fractions, name) -%}
    {#- One ordered-set aggregate per fraction, in columns name_1, name_2, ... -#}
    {%- for fraction in fractions %}
    percentile_cont({{ fraction }}) within group (order by {{ column }})
        as {{ name }}_{{ loop.index }}{% if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro duckdb__percentile_columns(column, fractions, name) -%}
    {#- One quantile_cont over a list of fractions: one sort for all of them, in one list. -#}
    quantile_cont({{ column }}, {{ fractions | list }}) as {{ name }}
{%- endmacro %}

{% macro spark__percentile_columns(column, fractions, name) -%}
    {#- Spark's exact percentile, for all fractions in one array. -#}
    percentile({{ column }}, array({{ fractions | join(', ') }})) as {{ name }}
{%- endmacro %}

{% macro percentile_column(name, position) -%}
    {{ return(adapter.dispatch('percentile_column', 'opsvalue')(name, position)) }}
{%- endmacro %}

{% macro default__percentile_column(name, position) -%}
    {{ name }}_{{ position }}
{%- endmacro %}

{% macro duckdb__percentile_column(name, position) -%}
    {#- DuckDB lists are indexed from 1 -#}
    {{ name }}[{{ position }}]
{%- endmacro %}

{% macro spark__percentile_column(name, position) -%}
    {#- element_at counts from 1, as the position does; Spark's [] counts from 0 -#}
    element_at({{ name }}, {{ position }})
{%- endmacro %}


{#- A join clause, the last of the FROM (Spark takes a lateral view only after every FROM item
    and join, before WHERE): one row per element of the array `array_expression` of a FROM
    item, under `relation_alias`.`element_name`; none for an empty or a null array. -#}
{% macro unnested_rows(array_expression, relation_alias, element_name) -%}
    {{ return(adapter.dispatch('unnested_rows', 'opsvalue')(array_expression, relation_alias,
        element_name)) }}
{%- endmacro %}

{% macro default__unnested_rows(array_expression, relation_alias, element_name) -%}
    cross join unnest({{ array_expression }}) as {{ relation_alias }} ({{ element_name }})
{%- endmacro %}

{% macro spark__unnested_rows(array_expression, relation_alias, element_name) -%}
    lateral view explode({{ array_expression }}) {{ relation_alias }} as {{ element_name }}
{%- endmacro %}
