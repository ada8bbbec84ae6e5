-- Rendered from Jinja loops over the weight profiles: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# The score profiles as analysts and dashboards read them: one row per profile and KPI, in the
    profile's current version (score_profile_history). -#}
{%- set scorecards = scorecard_config() if execute else {} %}
{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set rows = [] %}
{%- for profile in scorecards.get('profiles') or [] %}
    {%- set bands = [] %}
    {%- for band in profile.bands | sort(attribute='from', reverse=true) %}
        {%- do bands.append(band.grade ~ ':' ~ band['from'] ~ '-' ~ band['to']) %}
    {%- endfor %}
    {%- for kpi in profile.kpis %}
        {%- do rows.append([profile.name, profile.get('label'), profile.tiers | join(','),
            profile.unit_type, profile.stages | join(','), kpi.metric,
            (specs.get(kpi.metric) or {'meta': {}}).meta.get('direction'), kpi.weight, kpi.method,
            kpi.get('min_base', profile.get('min_base', 0)), bands | join(', ')]) %}
    {%- endfor %}
{%- endfor %}

with

profile_kpis (
    profile_name,
    profile_label,
    org_levels,
    unit_type,
    stages,
    metric_name,
    direction,
    weight,
    scoring_method,
    min_base,
    grade_bands
) as (

    {%- if rows %}
    values
    {%- for r in rows %}
        (
            {{ kpi_sql_literal(r[0]) }},
            {{ kpi_sql_literal(r[1]) }},
            {{ kpi_sql_literal(r[2]) }},
            {{ kpi_sql_literal(r[3]) }},
            {{ kpi_sql_literal(r[4]) }},
            {{ kpi_sql_literal(r[5]) }},
            {{ kpi_sql_literal(r[6]) }},
            {{ kpi_sql_number(r[7]) }},
            {{ kpi_sql_literal(r[8]) }},
            {{ kpi_sql_number(r[9]) }},
            {{ kpi_sql_literal(r[10]) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {%- for _ in range(7) %}
        cast(null as {{ dbt.type_string() }}),
        {%- endfor %}
        cast(null as double),
        cast(null as {{ dbt.type_string() }}),
        cast(null as double),
        cast(null as {{ dbt.type_string() }})
    where false
    {%- endif %}

),

ranked_versions as (

    select
        profile_name,
        profile_version,
        changed_at,
        row_number() over (
            partition by profile_name order by profile_version desc
        ) as version_rank
    from {{ ref('score_profile_history') }}

),

final as (

    select
        profile_kpis.profile_name,
        cast(ranked_versions.profile_version as integer) as profile_version,
        profile_kpis.profile_label,
        profile_kpis.org_levels,
        profile_kpis.unit_type,
        profile_kpis.stages,
        profile_kpis.metric_name,
        profile_kpis.direction,
        profile_kpis.weight,
        profile_kpis.scoring_method,
        profile_kpis.min_base,
        profile_kpis.grade_bands,
        ranked_versions.changed_at as last_changed_at
    from profile_kpis
    left join ranked_versions
        on
            profile_kpis.profile_name = ranked_versions.profile_name
            and ranked_versions.version_rank = 1

)

select * from final
