-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- One row per org level, org unit and month: the value bridge. The operations cost, each
    value stream (every catalog metric over the value_created_cny measure, in fct_kpi_values and
    so rolled up the tiers like any other metric), their sum and the net. A stream without
    records in a unit's month created nothing there (0); the net is null where no operations
    cost is booked (the centers of bots without costs, months before costs arrive). -#}
{%- set streams = [] %}
{%- if execute %}
    {%- for metric in graph.metrics.values() | sort(attribute='name') if metric.type == 'simple' %}
        {%- if metric.type_params.measure.name == 'value_created_cny'
            and not (metric.config.meta or {}).get('component', false) %}
            {%- do streams.append(metric.name) %}
        {%- endif %}
    {%- endfor %}
{%- endif %}

with

kpis as (

    select * from {{ ref('fct_kpi_values') }}
    where metric_name in ('ops_cost_cny'{% for name in streams %}, '{{ name }}'{% endfor %})

),

pivoted as (

    select
        org_level,
        org_code,
        period_start,
        sum(case when metric_name = 'ops_cost_cny' then value end) as ops_cost_cny,
        {%- for name in streams %}
        coalesce(sum(case when metric_name = '{{ name }}' then value end), 0) as {{ name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from kpis
    group by org_level, org_code, period_start

),

final as (

    select
        *,
        {% for name in streams %}{{ name }}{% if not loop.last %} + {% endif %}{% endfor %}{% if not streams %}cast(0 as double){% endif %} as value_created_cny,
        {% for name in streams %}{{ name }}{% if not loop.last %} + {% endif %}{% endfor %}{% if not streams %}cast(0 as double){% endif %} - ops_cost_cny as net_value_cny
    from pivoted

)

select * from final
