-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# Incremental on purpose (an exception to the marts folder's tables): the history must survive
    rebuilds. Each build compares every metric's current definition with its latest recorded
    version and appends a new version when the formula, filters or sources changed.
    full_refresh=false: the pipeline rebuilds with `dbt build --full-refresh`, which this model
    ignores, so a rebuild never wipes the history. Each version carries the change note of the
    metric's YAML (config.meta.change_note: why, requested_by, approved_by) as it was when the
    version was recorded; append_new_columns, as histories recorded before the notes existed are
    kept and gain the columns. -#}
{{ config(materialized='incremental', full_refresh=false, on_schema_change='append_new_columns') }}

{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set parts_compared = ['type', 'kind', 'value', 'percentile', 'parts', 'formula', 'sources'] %}

{%- set latest_sql %}
    select
        metric_name,
        definition_version,
        definition_hash,
        definition_json
    from (
        select
            metric_name,
            definition_version,
            definition_hash,
            definition_json,
            row_number() over (
                partition by metric_name order by definition_version desc
            ) as version_rank
        from {{ this }}
    ) as ranked
    where version_rank = 1
{%- endset %}

{#- Which parts of a definition changed is worked out here, where the definitions are built: the
    latest recorded ones are read when the model compiles, so the SQL needs no JSON functions
    (each engine has its own). -#}
{%- set recorded = {} %}
{%- if execute and is_incremental() %}
    {%- for row in run_query(latest_sql) %}
        {%- do recorded.update({row['metric_name']: fromjson(row['definition_json'])}) %}
    {%- endfor %}
{%- endif %}

with

current_definitions (
    metric_name,
    definition_hash,
    definition_json,
    change_summary,
    change_reason,
    change_requested_by,
    change_approved_by
) as (

    {%- if specs %}
    values
    {%- for spec in specs.values() %}
        {%- set definition = kpi_definition(spec) %}
        {%- set definition_json = tojson(definition, sort_keys=true) %}
        {%- if spec.name in recorded %}
            {%- set previous = recorded[spec.name] %}
            {%- set changed_parts = [] %}
            {%- for part in parts_compared %}
                {%- if (part in definition) != (part in previous)
                    or tojson(definition.get(part), sort_keys=true) != tojson(previous.get(part), sort_keys=true) %}
                    {%- do changed_parts.append(part) %}
                {%- endif %}
            {%- endfor %}
            {%- set change_summary = 'changed: ' ~ (changed_parts | join(', ')) %}
        {%- else %}
            {%- set change_summary = 'first published' %}
        {%- endif %}
        {%- set note = spec.meta.get('change_note') or {} %}
        (
            '{{ spec.name }}',
            '{{ local_md5(definition_json) }}',
            {{ kpi_sql_literal(definition_json) }},
            {{ kpi_sql_literal(change_summary) }},
            {{ kpi_sql_literal(note.get('why')) }},
            {{ kpi_sql_literal(note.get('requested_by')) }},
            {{ kpi_sql_literal(note.get('approved_by')) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {%- for _ in range(6) %}
        cast(null as {{ dbt.type_string() }}),
        {%- endfor %}
        cast(null as {{ dbt.type_string() }})
    where false
    {%- endif %}

),

{%- if is_incremental() %}

latest as (

    {{ latest_sql }}

),

changed as (

    select
        current_definitions.metric_name,
        coalesce(latest.definition_version, 0) + 1 as definition_version,
        current_definitions.definition_hash,
        current_definitions.definition_json,
        current_timestamp as changed_at,
        current_definitions.change_summary,
        current_definitions.change_reason,
        current_definitions.change_requested_by,
        current_definitions.change_approved_by
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
        change_summary,
        change_reason,
        change_requested_by,
        change_approved_by
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
        change_summary,
        -- typed: a build where every note is null would otherwise make them null-typed columns
        cast(change_reason as {{ dbt.type_string() }}) as change_reason,
        cast(change_requested_by as {{ dbt.type_string() }}) as change_requested_by,
        cast(change_approved_by as {{ dbt.type_string() }}) as change_approved_by
    from changed

)

select * from final
