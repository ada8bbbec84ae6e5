-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# The governed metric catalog as analysts and dashboards read it, generated from the
    semantic-layer YAML (metrics + their config.meta) and the dbt groups (owners). -#}
{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set groups = {} %}
{%- if execute %}
    {%- for g in graph.groups.values() %}
        {%- do groups.update({g.name: g.owner}) %}
    {%- endfor %}
{%- endif %}

with

catalog (
    metric_name,
    label,
    label_zh,
    description,
    definition,
    formula,
    metric_type,
    rollup_kind,
    unit,
    direction,
    dimension,
    owner,
    owner_name,
    owner_email,
    source_systems,
    source_columns,
    org_attribute,
    is_kpi,
    target_cascade
) as (

    {%- if specs %}
    values
    {%- for spec in specs.values() %}
        {%- set meta = spec.meta %}
        {%- set owner = groups.get(spec.group) or {} %}
        (
            {{ kpi_sql_literal(spec.name) }},
            {{ kpi_sql_literal(spec.label) }},
            {{ kpi_sql_literal(meta.get('label_zh')) }},
            {{ kpi_sql_literal(spec.description) }},
            {{ kpi_sql_literal(meta.get('definition')) }},
            {{ kpi_sql_literal(meta.get('formula')) }},
            {{ kpi_sql_literal(spec.type) }},
            {{ kpi_sql_literal(meta.get('rollup')) }},
            {{ kpi_sql_literal(meta.get('unit')) }},
            {{ kpi_sql_literal(meta.get('direction')) }},
            {{ kpi_sql_literal(meta.get('dimension')) }},
            {{ kpi_sql_literal(spec.group) }},
            {{ kpi_sql_literal(owner.get('name')) }},
            {{ kpi_sql_literal(owner.get('email')) }},
            {{ kpi_sql_literal((meta.get('source_systems') or []) | join(',')) }},
            {{ kpi_sql_literal((meta.get('source_columns') or []) | join(',')) }},
            {{ kpi_sql_literal(meta.get('org_attribute')) }},
            {{ 'true' if spec.is_kpi else 'false' }},
            {%- set cascade = target_cascade_spec(meta) %}
            {{ kpi_sql_literal(tojson(cascade, sort_keys=true) if cascade is not none else none) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {%- for _ in range(17) %}
        cast(null as {{ dbt.type_string() }}),
        {%- endfor %}
        false,
        cast(null as {{ dbt.type_string() }})
    where false
    {%- endif %}

),

history as (

    select * from {{ ref('metric_definition_history') }}

),

ranked_versions as (

    select
        metric_name,
        definition_version,
        definition_hash,
        changed_at,
        row_number() over (
            partition by metric_name order by definition_version desc
        ) as version_rank
    from history

),

current_version as (

    select
        metric_name,
        definition_version,
        definition_hash,
        changed_at as last_changed_at
    from ranked_versions
    where version_rank = 1

),

default_targets as (

    select * from {{ ref('dim_metric_targets') }}
    where org_level = 'group'

),

final as (

    select
        catalog.*,
        cast(current_version.definition_version as integer) as definition_version,
        current_version.definition_hash,
        current_version.last_changed_at,
        default_targets.target as group_target,
        default_targets.red_threshold as group_red_threshold
    from catalog
    left join current_version on catalog.metric_name = current_version.metric_name
    left join default_targets on catalog.metric_name = default_targets.metric_name

)

select * from final
