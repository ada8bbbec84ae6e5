-- `value` is the KPI column name fct_kpi_values publishes (RF04 below).
-- Rendered from Jinja loops over the weight profiles: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05,RF04
{# Every KPI of every unit's score profile, month by month, with its sub-score 0..100 or the
    reason it is left out of the score (no_data, small_base, stale_source, no_target,
    no_peer_base). The profile is chosen by the unit's tier, unit type and the stage (the
    leading goal of the month's year); the methods are the value-management reference's
    (section 2): target attainment against the unit's own (cascaded) target, or the peer base
    over the units of the same tier and unit type. -#}
{%- set scorecards = scorecard_config() if execute else {} %}
{%- set rows = scorecard_profile_kpis(scorecards) if execute else [] %}
{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set sources = [] %}
{%- set seen = [] %}
{%- for r in rows if r[4] not in seen %}
    {%- do seen.append(r[4]) %}
    {%- for source in (specs.get(r[4]) or {'meta': {}}).meta.get('source_systems') or [] %}
        {%- do sources.append([r[4], source]) %}
    {%- endfor %}
{%- endfor %}

with

kpi_values as (

    select * from {{ ref('fct_kpi_values') }}

),

gate_states as (

    select * from {{ ref('stg_meta__source_gate_states') }}

),

profile_kpis (
    profile_name,
    org_level,
    unit_type,
    stage,
    metric_name,
    direction,
    scoring_method,
    base_weight,
    min_base,
    metric_key
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
            {{ kpi_sql_number(r[8]) }},
            cast({{ r[9] }} as bigint)
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {%- for _ in range(7) %}
        cast(null as {{ dbt.type_string() }}),
        {%- endfor %}
        cast(null as double),
        cast(null as double),
        cast(null as bigint)
    where false
    {%- endif %}

),

metric_sources (metric_name, source) as (

    {%- if sources %}
    values
    {%- for s in sources %}
        ({{ kpi_sql_literal(s[0]) }}, {{ kpi_sql_literal(s[1]) }}){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }})
    where false
    {%- endif %}

),

-- a source held by the gate or late leaves its KPIs' latest month incomplete: left out there
stale_metrics as (

    select distinct metric_sources.metric_name
    from metric_sources
    inner join gate_states on metric_sources.source = gate_states.source
    where gate_states.is_stale or gate_states.state = 'held'

),

latest_months as (

    select
        metric_name,
        max(period_start) as period_start
    from kpi_values
    group by metric_name

),

unit_months as (

    select distinct
        org_level,
        org_code,
        period_start,
        case
            when org_level = 'center' then 'back_office_center' else 'functional_unit'
        end as unit_type,
        {{ scorecard_stage(scorecards, 'period_start') }} as stage
    from kpi_values

),

assigned as (

    select
        unit_months.org_level,
        unit_months.org_code,
        unit_months.period_start,
        unit_months.unit_type,
        unit_months.stage,
        profile_kpis.profile_name,
        profile_kpis.metric_name,
        profile_kpis.direction,
        profile_kpis.scoring_method,
        profile_kpis.base_weight,
        profile_kpis.min_base,
        profile_kpis.metric_key
    from unit_months
    inner join profile_kpis
        on
            unit_months.org_level = profile_kpis.org_level
            and unit_months.unit_type = profile_kpis.unit_type
            and unit_months.stage = profile_kpis.stage

),

observed as (

    select
        assigned.*,
        kpi.value,
        kpi.denominator,
        kpi.target,
        kpi.red_threshold,
        case
            when kpi.value is null then 'no_data'
            when kpi.denominator < assigned.min_base then 'small_base'
            when
                stale_metrics.metric_name is not null
                and latest_months.period_start = assigned.period_start
                then 'stale_source'
            when
                assigned.scoring_method = 'target_attainment'
                and (
                    kpi.target is null
                    or kpi.red_threshold is null
                    or kpi.target = kpi.red_threshold
                )
                then 'no_target'
        end as missing_reason
    from assigned
    left join kpi_values as kpi
        on
            assigned.metric_name = kpi.metric_name
            and assigned.period_start = kpi.period_start
            and assigned.org_level = kpi.org_level
            and assigned.org_code = kpi.org_code
    left join stale_metrics on assigned.metric_name = stale_metrics.metric_name
    left join latest_months on assigned.metric_name = latest_months.metric_name

),

-- b: the mean value of the units of the same tier (and so unit type) that have the KPI
peer_bases as (

    select
        metric_name,
        period_start,
        org_level,
        avg(value) as peer_base
    from observed
    where missing_reason is null and scoring_method = 'peer_base'
    group by metric_name, period_start, org_level

),

based as (

    select
        observed.org_level,
        observed.org_code,
        observed.period_start,
        observed.unit_type,
        observed.stage,
        observed.profile_name,
        observed.metric_name,
        observed.direction,
        observed.scoring_method,
        observed.base_weight,
        observed.min_base,
        observed.metric_key,
        observed.value,
        observed.denominator,
        observed.target,
        observed.red_threshold,
        peer_bases.peer_base,
        case
            when observed.missing_reason is not null then observed.missing_reason
            when
                observed.scoring_method = 'peer_base'
                and not coalesce(peer_bases.peer_base > 0, false)
                then 'no_peer_base'
        end as missing_reason
    from observed
    left join peer_bases
        on
            observed.metric_name = peer_bases.metric_name
            and observed.period_start = peer_bases.period_start
            and observed.org_level = peer_bases.org_level

),

raw_scored as (

    select
        *,
        case
            when missing_reason is not null then null
            -- 0 at the red threshold, 100 at the target, whichever side is better
            when scoring_method = 'target_attainment'
                then 100.0 * (value - red_threshold) / (target - red_threshold)
            when direction = 'higher_is_better' then 50.0 * value / peer_base
            -- adverse indicator: the peer base over the value (none at all scores the top)
            when value <= 0 then 100.0
            else 50.0 * peer_base / value
        end as raw_score
    from based

),

final as (

    select
        org_level,
        org_code,
        period_start,
        unit_type,
        stage,
        profile_name,
        metric_name,
        direction,
        scoring_method,
        base_weight,
        min_base,
        metric_key,
        value,
        denominator,
        target,
        red_threshold,
        peer_base,
        case
            when raw_score < 0 then 0.0 when raw_score > 100 then 100.0 else raw_score
        end as sub_score,
        missing_reason,
        missing_reason is not null as is_missing
    from raw_scored

)

select * from final
