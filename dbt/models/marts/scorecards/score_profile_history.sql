-- Rendered from Jinja loops over the weight profiles: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# One row per recorded version of a score profile. Incremental on purpose, like
    metric_definition_history: each build compares every profile with its latest recorded version
    and appends a new version when anything that changes a score changed (KPIs, weights, methods,
    tiers, unit type, stages, bands, minimum base); the label does not count.
    full_refresh=false: a rebuild never wipes the history. -#}
{{ config(materialized='incremental', full_refresh=false) }}

{%- set scorecards = scorecard_config() if execute else {} %}
{%- set compared = ['tiers', 'unit_type', 'stages', 'kpis', 'bands', 'min_base'] %}

{%- set latest_sql %}
    select
        profile_name,
        profile_version,
        profile_hash,
        profile_json
    from (
        select
            profile_name,
            profile_version,
            profile_hash,
            profile_json,
            row_number() over (
                partition by profile_name order by profile_version desc
            ) as version_rank
        from {{ this }}
    ) as ranked
    where version_rank = 1
{%- endset %}

{%- set recorded = {} %}
{%- if execute and is_incremental() %}
    {%- for row in run_query(latest_sql) %}
        {%- do recorded.update({row['profile_name']: fromjson(row['profile_json'])}) %}
    {%- endfor %}
{%- endif %}

with

current_profiles (profile_name, profile_hash, profile_json, change_summary) as (

    {%- set profiles = scorecards.get('profiles') or [] %}
    {%- if profiles %}
    values
    {%- for profile in profiles %}
        {%- set definition = {} %}
        {%- for part in compared %}
            {%- do definition.update({part: profile.get(part)}) %}
        {%- endfor %}
        {%- set profile_json = tojson(definition, sort_keys=true) %}
        {%- if profile.name in recorded %}
            {%- set previous = recorded[profile.name] %}
            {%- set changed_parts = [] %}
            {%- for part in compared %}
                {%- if tojson(definition.get(part), sort_keys=true) != tojson(previous.get(part), sort_keys=true) %}
                    {%- do changed_parts.append(part) %}
                {%- endif %}
            {%- endfor %}
            {%- set change_summary = 'changed: ' ~ (changed_parts | join(', ')) %}
        {%- else %}
            {%- set change_summary = 'first published' %}
        {%- endif %}
        (
            {{ kpi_sql_literal(profile.name) }},
            '{{ local_md5(profile_json) }}',
            {{ kpi_sql_literal(profile_json) }},
            {{ kpi_sql_literal(change_summary) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
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
        current_profiles.profile_name,
        coalesce(latest.profile_version, 0) + 1 as profile_version,
        current_profiles.profile_hash,
        current_profiles.profile_json,
        current_timestamp as changed_at,
        current_profiles.change_summary
    from current_profiles
    left join latest on current_profiles.profile_name = latest.profile_name
    where latest.profile_hash is distinct from current_profiles.profile_hash

),

{%- else %}

changed as (

    select
        profile_name,
        1 as profile_version,
        profile_hash,
        profile_json,
        current_timestamp as changed_at,
        change_summary
    from current_profiles

),

{%- endif %}

final as (

    select
        profile_name,
        cast(profile_version as integer) as profile_version,
        profile_hash,
        profile_json,
        cast(changed_at as timestamp) as changed_at,
        change_summary
    from changed

)

select * from final
