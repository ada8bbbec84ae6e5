-- Rendered from Jinja loops over the indicator tree: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- Every formula link of the indicator tree holds on the published numbers, at every tier,
    unit and month (macros/indicator_tree.sql):
      value     a ratio or derived KPI's value is its formula over its own numerator and
                denominator;
      child     where the input is another published KPI used whole (no filter), the parent's
                term equals that KPI's value (ops cost per policy: its denominator is
                policies_in_force's value);
      shared    a building-block volume used whole by several parents has one value: their
                terms agree (tasks_completed divides three KPIs and is the numerator of a fourth);
      part      a filtered input is a part of its volume: a count restricted by a filter never
                exceeds the same count unrestricted (auto-processed claims of claims_paid).
    Within 1e-9 of the size of the values compared, not absolutely: the tiers are sums of up to
    millions of doubles added in an order the engine chooses, whose rounding (about n x 1e-16
    relative) stays far below 1e-9, while one record in a million defined differently moves a
    value by 1e-6. Rows returned are the links that do not hold. -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_kpi_values'}}}) }}
{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set links = [] %}
{%- for link in (indicator_tree_links() if execute else []) if link.link_type == 'formula' %}
    {%- if specs.get(link.parent) and specs[link.parent].is_kpi %}
        {%- do links.append(link) %}
    {%- endif %}
{%- endfor %}
{%- set parents = [] %}
{%- for link in links if link.parent not in parents %}
    {%- do parents.append(link.parent) %}
{%- endfor %}
{%- set counted = [] %}
{%- for name, spec in specs.items() if spec.meta.get('unit') == 'count' %}
    {%- do counted.append(name) %}
{%- endfor %}

with

kpi_values as (

    select * from {{ ref('fct_kpi_values') }}

),

terms (child_node, parent_node, is_filtered, org_level, org_code, period_start, term) as (

    {%- for link in links %}
    select
        '{{ link.child }}',
        '{{ link.parent }}',
        {{ 'true' if link.is_filtered else 'false' }},
        org_level,
        org_code,
        period_start,
        {{ link.input_role }}
    from kpi_values
    where metric_name = '{{ link.parent }}'
    union all
    {%- endfor %}
    select
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        false,
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as date),
        cast(null as double)
    where false

),

-- the whole volume of each child at each unit and month: its own published value if it is a
-- KPI (0 where it has no row: no qualifying record), else every parent's unfiltered term
whole_terms as (

    select
        terms.child_node,
        terms.parent_node,
        terms.org_level,
        terms.org_code,
        terms.period_start,
        terms.term,
        coalesce(child.value, 0) as child_value,
        child_published.metric_name is not null as is_child_published
    from terms
    left join kpi_values as child
        on
            terms.child_node = child.metric_name
            and terms.org_level = child.org_level
            and terms.org_code = child.org_code
            and terms.period_start = child.period_start
    left join (select distinct metric_name from kpi_values) as child_published
        on terms.child_node = child_published.metric_name
    where not terms.is_filtered

),

value_faults as (

    {%- for name in parents %}
    select
        'value' as failed_check,
        metric_name as parent_node,
        cast(null as {{ dbt.type_string() }}) as child_node,
        org_level,
        org_code,
        period_start,
        value as published,
        {{ specs[name].value }} as expected
    from kpi_values
    where metric_name = '{{ name }}'
    union all
    {%- endfor %}
    select
        'value',
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as date),
        cast(null as double),
        cast(null as double)
    where false

),

child_faults as (

    select
        'child' as failed_check,
        parent_node,
        child_node,
        org_level,
        org_code,
        period_start,
        term as published,
        child_value as expected
    from whole_terms
    where is_child_published

),

shared_faults as (

    select
        'shared' as failed_check,
        min(parent_node) as parent_node,
        child_node,
        org_level,
        org_code,
        period_start,
        min(term) as published,
        max(term) as expected
    from whole_terms
    where not is_child_published
    group by child_node, org_level, org_code, period_start

),

whole_volumes as (

    select
        child_node,
        org_level,
        org_code,
        period_start,
        max(case when is_child_published then child_value else term end) as volume
    from whole_terms
    group by child_node, org_level, org_code, period_start

),

part_faults as (

    select
        'part' as failed_check,
        terms.parent_node,
        terms.child_node,
        terms.org_level,
        terms.org_code,
        terms.period_start,
        terms.term as published,
        whole_volumes.volume as expected
    from terms
    inner join whole_volumes
        on
            terms.child_node = whole_volumes.child_node
            and terms.org_level = whole_volumes.org_level
            and terms.org_code = whole_volumes.org_code
            and terms.period_start = whole_volumes.period_start
    where
        terms.is_filtered
        and terms.child_node in ({% for name in counted %}'{{ name }}'{% if not loop.last %}, {% endif %}{% endfor %}{% if not counted %}''{% endif %})
        and (terms.term < 0 or terms.term > whole_volumes.volume * (1 + 1e-9))

),

compared as (

    select * from value_faults
    union all
    select * from child_faults
    union all
    select * from shared_faults

),

final as (

    select * from compared
    where
        (published is null) <> (expected is null)
        or abs(published - expected)
        > 1e-9 * greatest(1.0, abs(published), abs(expected))
    union all
    select * from part_faults

)

select * from final
