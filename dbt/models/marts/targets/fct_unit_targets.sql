{# Every org unit's own target and red threshold for every metric with a target and every month
    the metric has values, cascaded from the group's target down the org tree of the month by
    the metric's rule (macros/target_cascade.sql), with the planned weight that reconciles it:
    additive children sum to their parent's target, ratio children weighted by their planned
    denominators (last year's) reproduce it. fct_kpi_values computes the same targets with the
    same macro for the months it recomputes. -#}

with

cascade_values as (

    select
        metric_name,
        period_start,
        org_level,
        org_code,
        denominator,
        value
    from {{ ref('fct_kpi_values') }}
    where org_level <> 'center'

),

cascade_months as (

    select distinct
        metric_name,
        period_start
    from cascade_values

),

cascade_org as (

    select * from {{ ref('dim_org') }}

),

{{ target_cascade_ctes() }}

final as (

    select
        metric_name,
        period_start,
        org_level,
        org_code,
        parent_code,
        target,
        red_threshold,
        cascade_rule,
        planned_weight,
        planned_basis
    from cascaded_targets

)

select * from final
