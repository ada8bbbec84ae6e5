-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# Incremental on purpose (an exception to the marts folder's tables): the history must survive
    rebuilds. Each build compares every metric's current definition with its latest recorded
    version and appends a new version when the formula, filters or sources changed. -#}
{{ config(materialized='incremental') }}

{%- set specs = kpi_metric_specs() if execute else {} %}

with

current_definitions (metric_name, definition_hash, definition_json) as (

    {%- if specs %}
    values
    {%- for spec in specs.values() %}
        {%- set definition = tojson(kpi_definition(spec), sort_keys=true) %}
        (
            '{{ spec.name }}',
            '{{ local_md5(definition) }}',
            {{ kpi_sql_literal(definition) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(null as varchar),
        cast(null as varchar),
        cast(null as varchar)
    where false
    {%- endif %}

),

{%- if is_incremental() %}

latest as (

    select *
    from {{ this }}
    qualify row_number() over (partition by metric_name order by definition_version desc) = 1

),

changed as (

    select
        current_definitions.metric_name,
        coalesce(latest.definition_version, 0) + 1 as definition_version,
        current_definitions.definition_hash,
        current_definitions.definition_json,
        current_timestamp as changed_at,
        case
            when latest.metric_name is null then 'first published'
            else
                'changed: ' || array_to_string(
                    list_filter(
                        [
                            {%- for key in ['type', 'kind', 'value', 'percentile', 'parts', 'formula', 'sources'] %}
                            case
                                when
                                    coalesce(cast(json_extract(current_definitions.definition_json, '$.{{ key }}') as varchar), '')
                                    <> coalesce(cast(json_extract(latest.definition_json, '$.{{ key }}') as varchar), '')
                                    then '{{ key }}'
                            end{% if not loop.last %},{% endif %}
                            {%- endfor %}
                        ],
                        lambda x: x is not null
                    ),
                    ', '
                )
        end as change_summary
    from current_definitions
    left join latest on current_definitions.metric_name = latest.metric_name
    where latest.definition_hash is distinct from current_definitions.definition_hash

),

{%- else %}

changed as (

    select
        metric_name,
        1 as definition_version,
        definition_hash,
        definition_json,
        current_timestamp as changed_at,
        'first published' as change_summary
    from current_definitions

),

{%- endif %}

final as (

    select
        metric_name,
        cast(definition_version as integer) as definition_version,
        definition_hash,
        definition_json,
        cast(changed_at as timestamp) as changed_at,
        change_summary
    from changed

)

select * from final
