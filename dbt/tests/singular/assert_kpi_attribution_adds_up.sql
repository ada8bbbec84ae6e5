{#- The attribution is exact: for every metric, month, comparison, parent and set of children
    (child_level), the contributions sum to the parent's change, which is the same on all its
    rows; on every row, rate_effect + mix_effect = contribution, the two effects null together
    (additive metrics). Within 1e-9 of the size of the parent's values (its value in the month
    and in the base state), not absolutely: sums of large amounts in CNY carry float noise in
    their last digits. -#}

{#- Reads two models: the meta names the one it checks, so Dagster shows it as that asset's
    (blocking) check, like the tests of a single model. -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_kpi_attribution'}}}) }}

with

attribution as (

    select * from {{ ref('fct_kpi_attribution') }}

),

kpi_values as (

    select * from {{ ref('fct_kpi_values') }}

),

scaled as (

    -- the size of the parent's values: now, and in the base state (now - parent_change)
    select
        attribution.*,
        greatest(
            1.0,
            abs(kpi_values.value),
            abs(kpi_values.value - attribution.parent_change)
        ) as parent_scale
    from attribution
    inner join kpi_values
        on
            attribution.metric_name = kpi_values.metric_name
            and attribution.period_start = kpi_values.period_start
            and attribution.org_level = kpi_values.org_level
            and attribution.org_code = kpi_values.org_code

),

breakdowns as (

    select
        metric_name,
        period_start,
        comparison,
        org_level,
        org_code,
        child_level,
        sum(contribution) as contributions,
        min(parent_change) as parent_change,
        max(parent_change) as max_parent_change,
        max(parent_scale) as parent_scale
    from scaled
    group by metric_name, period_start, comparison, org_level, org_code, child_level

),

unbalanced as (

    select
        metric_name,
        period_start,
        comparison,
        org_level,
        org_code,
        child_level,
        cast(null as {{ dbt.type_string() }}) as child_code,
        'contributions do not sum to parent_change' as failure
    from breakdowns
    where
        abs(contributions - parent_change) > 1e-9 * parent_scale
        or max_parent_change <> parent_change

),

rows_off as (

    select
        metric_name,
        period_start,
        comparison,
        org_level,
        org_code,
        child_level,
        child_code,
        'rate_effect + mix_effect differs from contribution' as failure
    from scaled
    where
        (rate_effect is null and mix_effect is not null)
        or (rate_effect is not null and mix_effect is null)
        or abs(rate_effect + mix_effect - contribution) > 1e-9 * parent_scale

),

unmatched as (

    -- every parent is a published KPI row of the month
    select
        metric_name,
        period_start,
        comparison,
        org_level,
        org_code,
        child_level,
        child_code,
        'parent not in fct_kpi_values' as failure
    from attribution
    where not exists (
        select 1
        from kpi_values
        where
            kpi_values.metric_name = attribution.metric_name
            and kpi_values.period_start = attribution.period_start
            and kpi_values.org_level = attribution.org_level
            and kpi_values.org_code = attribution.org_code
    )

),

final as (

    select * from unbalanced
    union all
    select * from rows_off
    union all
    select * from unmatched

)

select * from final
