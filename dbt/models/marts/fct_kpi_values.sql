{#- The published KPI table. Every owner's observations are attributed to the org tree version
    valid on the event's date and rolled up to all tiers in one grouping-sets scan: ratios as
    sum of numerators over sum of denominators, percentiles recomputed from the detail rows. -#}
{%- set observation_models = [
    'int_claims_observations_measured',
    'int_contacts_observations_measured',
    'int_complaints_observations_measured',
    'int_tasks_observations_measured',
] -%}

with

observations as (

    {%- for model in observation_models %}
        select * from {{ ref(model) }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

sub_branches as (

    select * from {{ ref('dim_org') }}
    where org_level = 'sub_branch'

),

attributed as (

    select
        observations.metric_name,
        date_trunc('month', observations.event_date) as period_start,
        observations.numerator,
        observations.denominator,
        observations.duration,
        observations.rollup_kind,
        observations.scale_factor,
        observations.center_code,
        sub_branches.group_code,
        sub_branches.subsidiary_code,
        sub_branches.branch_code,
        sub_branches.sub_branch_code
    from observations
    left join sub_branches
        on
            observations.org_code = sub_branches.org_code
            and observations.event_date >= sub_branches.valid_from
            and observations.event_date < coalesce(sub_branches.valid_to, date '9999-12-31')

),

rolled_up as (

    select
        metric_name,
        period_start,
        case
            when grouping(group_code) = 0 then 'group'
            when grouping(subsidiary_code) = 0 then 'subsidiary'
            when grouping(branch_code) = 0 then 'branch'
            when grouping(sub_branch_code) = 0 then 'sub_branch'
            else 'center'
        end as org_level,
        coalesce(group_code, subsidiary_code, branch_code, sub_branch_code, center_code)
            as org_code,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        quantile_cont(duration, 0.9) as p90,
        any_value(rollup_kind) as rollup_kind,
        any_value(scale_factor) as scale_factor
    from attributed
    group by grouping sets (  -- noqa: PRS
        (metric_name, period_start, group_code),
        (metric_name, period_start, subsidiary_code),
        (metric_name, period_start, branch_code),
        (metric_name, period_start, sub_branch_code),
        (metric_name, period_start, center_code)
    )

),

final as (

    select
        metric_name,
        cast(period_start as date) as period_start,
        org_level,
        org_code,
        case when rollup_kind = 'ratio' then numerator end as numerator,
        case when rollup_kind = 'ratio' then denominator end as denominator,
        -- `value` is the published column name analysts and dashboards query
        case
            when rollup_kind = 'p90' then p90
            else scale_factor * numerator / denominator
        end as value  -- noqa: RF04
    from rolled_up
    -- records without a center (or with an org unknown to the tree) roll up nowhere at that tier
    where
        org_code is not null
        and (
            (rollup_kind = 'ratio' and denominator > 0)
            or (rollup_kind = 'p90' and p90 is not null)
        )

)

select * from final
