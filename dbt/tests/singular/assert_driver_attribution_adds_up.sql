{#- The driver attribution is exact: for every metric, month, comparison and unit, its inputs'
    contributions sum to the change of the metric's value, which is the same on both rows and
    equals the published values' change (fct_kpi_values now and in the base month); each split
    has both inputs. Within 1e-9 of the size of the metric's values, not absolutely: a ratio of
    sums of large amounts in CNY carries float noise in its last digits. -#}

{#- Reads two models: the meta names the one it checks, so Dagster shows it as that asset's
    (blocking) check, like the tests of a single model. -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_driver_attribution'}}}) }}

with

drivers as (

    select * from {{ ref('fct_driver_attribution') }}

),

kpi_values as (

    select * from {{ ref('fct_kpi_values') }}

),

splits as (

    select
        metric_name,
        period_start,
        comparison,
        org_level,
        org_code,
        count(*) as inputs,
        sum(contribution) as contributions,
        min(parent_change) as parent_change,
        max(parent_change) as max_parent_change
    from drivers
    group by metric_name, period_start, comparison, org_level, org_code

),

published as (

    -- the unit's value now and in the base month, from the KPI table itself
    select
        splits.*,
        later.value - earlier.value as published_change,
        greatest(1.0, abs(later.value), abs(earlier.value)) as value_scale
    from splits
    left join kpi_values as later
        on
            splits.metric_name = later.metric_name
            and splits.period_start = later.period_start
            and splits.org_level = later.org_level
            and splits.org_code = later.org_code
    left join kpi_values as earlier
        on
            splits.metric_name = earlier.metric_name
            and splits.org_level = earlier.org_level
            and splits.org_code = earlier.org_code
            and earlier.period_start = cast(
                {{ dbt.dateadd(
                    'month',
                    "case splits.comparison when 'yoy' then -12 else -1 end",
                    'splits.period_start'
                ) }}
                as date
            )

),

final as (

    select
        metric_name,
        period_start,
        comparison,
        org_level,
        org_code,
        case
            when inputs <> 2 then 'a split without both inputs'
            when published_change is null then 'the unit has no published value in a state'
            when max_parent_change <> parent_change then 'parent_change differs between inputs'
            when abs(parent_change - published_change) > 1e-9 * value_scale
                then 'parent_change is not the published change'
            else 'contributions do not sum to parent_change'
        end as failure
    from published
    where
        inputs <> 2
        or published_change is null
        or max_parent_change <> parent_change
        or abs(parent_change - published_change) > 1e-9 * value_scale
        or abs(contributions - parent_change) > 1e-9 * value_scale

)

select * from final
