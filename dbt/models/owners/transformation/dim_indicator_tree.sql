-- Rendered from Jinja loops over the indicator tree: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- One row per link of the indicator tree (macros/indicator_tree.sql): the three operating
    goals (roots), goal -> dimension, dimension -> KPI, and the formula and driver links between
    catalog metrics, with the labels and formula a reader needs to follow a path. -#}
{%- set links = indicator_tree_links() if execute else [] %}
{%- set goals = {} %}
{#- labels and formulas straight from the metric definitions (kpi_metric_specs would resolve
    every measure, which this table does not need) -#}
{%- set specs = {} %}
{%- for metric in (graph.metrics.values() if execute else []) %}
    {%- do specs.update({metric.name: {'label': metric.label, 'meta': metric.config.meta or {}}}) %}
{%- endfor %}
{%- for goal in (indicator_tree_config().get('goals') or [] if execute else []) %}
    {%- do goals.update({goal.name: goal}) %}
{%- endfor %}

with

links (
    parent_node,
    parent_kind,
    child_node,
    child_kind,
    link_type,
    input_role,
    is_filtered,
    expected_direction,
    child_label,
    child_label_zh,
    parent_formula
) as (

    {%- if links %}
    values
    {%- for link in links %}
        {%- set child = specs.get(link.child) %}
        {%- set parent = specs.get(link.parent) if link.parent_kind == 'metric' else none %}
        {%- set goal = goals.get(link.child) or {} %}
        (
            {{ kpi_sql_literal(link.parent) }},
            {{ kpi_sql_literal(link.parent_kind) }},
            {{ kpi_sql_literal(link.child) }},
            {{ kpi_sql_literal(link.child_kind) }},
            {{ kpi_sql_literal(link.link_type) }},
            {{ kpi_sql_literal(link.input_role) }},
            {{ 'true' if link.is_filtered else 'false' }},
            {{ kpi_sql_literal(link.direction) }},
            {{ kpi_sql_literal(child.label if child else goal.get('label', link.child)) }},
            {{ kpi_sql_literal(child.meta.get('label_zh') if child else goal.get('label_zh')) }},
            {{ kpi_sql_literal(parent.meta.get('formula') if parent and link.link_type == 'formula' else none) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {%- for _ in range(6) %}
        cast(null as {{ dbt.type_string() }}),
        {%- endfor %}
        false,
        {%- for _ in range(4) %}
        cast(null as {{ dbt.type_string() }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    where false
    {%- endif %}

),

final as (

    select
        cast(parent_node as {{ dbt.type_string() }}) as parent_node,
        cast(parent_kind as {{ dbt.type_string() }}) as parent_kind,
        cast(child_node as {{ dbt.type_string() }}) as child_node,
        cast(child_kind as {{ dbt.type_string() }}) as child_kind,
        cast(link_type as {{ dbt.type_string() }}) as link_type,
        cast(input_role as {{ dbt.type_string() }}) as input_role,
        cast(is_filtered as boolean) as is_filtered,
        cast(expected_direction as {{ dbt.type_string() }}) as expected_direction,
        cast(child_label as {{ dbt.type_string() }}) as child_label,
        cast(child_label_zh as {{ dbt.type_string() }}) as child_label_zh,
        cast(parent_formula as {{ dbt.type_string() }}) as parent_formula
    from links

)

select * from final
