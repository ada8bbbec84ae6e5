-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# Targets and red thresholds per metric and tier, from each metric's config.meta.targets:
    `default` applies to every tier unless the tier (group, subsidiary, branch, sub_branch,
    center) has its own entry. -#}
{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set levels = ['group', 'subsidiary', 'branch', 'sub_branch', 'center'] %}
{%- set rows = [] %}
{%- for spec in specs.values() %}
    {%- set targets = spec.meta.get('targets') or {} %}
    {%- for level in levels %}
        {%- set t = targets.get(level) or targets.get('default') %}
        {%- if t %}
            {%- do rows.append([spec.name, level, spec.meta.get('direction'), t.get('target'), t.get('red_threshold')]) %}
        {%- endif %}
    {%- endfor %}
{%- endfor %}

with

targets (metric_name, org_level, direction, target, red_threshold) as (

    {%- if rows %}
    values
    {%- for r in rows %}
        (
            {{ kpi_sql_literal(r[0]) }},
            {{ kpi_sql_literal(r[1]) }},
            {{ kpi_sql_literal(r[2]) }},
            {{ kpi_sql_number(r[3]) }},
            {{ kpi_sql_number(r[4]) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as double),
        cast(null as double)
    where false
    {%- endif %}

),

final as (

    select * from targets

)

select * from final
