-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# One row per published metric: whether its definition is governed — one owner (a dbt group
    with an owner), a plain-language definition, and an automated source (every source system it
    names is a delivered source of the input contract). Assessed as of the newest data. -#}
{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set sources = [] %}
{%- set groups = [] %}
{%- if execute %}
    {#- the metric catalog itself is machine-read, so it counts as an automated source -#}
    {%- do sources.append('metric_catalog') %}
    {%- for s in graph.sources.values() %}{% do sources.append(s.source_name) %}{% endfor %}
    {%- for g in graph.groups.values() if g.owner and g.owner.email %}{% do groups.append(g.name) %}{% endfor %}
{%- endif %}

with

assessed (metric_name, has_single_owner, has_definition, has_automated_source) as (

    {%- if specs %}
    values
    {%- for spec in specs.values() if spec.is_kpi %}
        {%- set systems = spec.meta.get('source_systems') or [] %}
        (
            {{ kpi_sql_literal(spec.name) }},
            {{ 'true' if spec.group in groups else 'false' }},
            {{ 'true' if (spec.meta.get('definition') or '') | trim and (spec.description or '') | trim else 'false' }},
            {{ 'true' if systems and (systems | reject('in', sources) | list | length == 0) else 'false' }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}),
        false,
        false,
        false
    where false
    {%- endif %}

),

calendar as (

    select max(data_end_date) as data_end_date from {{ ref('dim_months') }}

),

final as (

    select
        assessed.metric_name,
        calendar.data_end_date as assessed_date,
        assessed.has_single_owner,
        assessed.has_definition,
        assessed.has_automated_source,
        assessed.has_single_owner
        and assessed.has_definition
        and assessed.has_automated_source as is_governed
    from assessed
    cross join calendar

)

select * from final
