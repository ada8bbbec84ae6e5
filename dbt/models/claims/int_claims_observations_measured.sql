{#- KPI observations of the claims owner: one row per paid claim and metric, in the long shape
    that fct_kpi_values rolls up (numerator, denominator, or a duration for percentiles). -#}
with

claims as (

    select * from {{ ref('stg_claims__claims') }}

),

paid_claims as (

    select
        org_code,
        center_code,
        cast(paid_at as date) as event_date,
        epoch(paid_at - reported_at) / 86400.0 as cycle_time_days,
        coalesce(is_auto_processed, false) as is_auto_processed
    from claims
    where paid_at is not null

),

final as (

    select
        'claims_cycle_time_days' as metric_name,
        event_date,
        org_code,
        center_code,
        cycle_time_days as numerator,
        1.0 as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        1.0 as scale_factor
    from paid_claims
    where cycle_time_days is not null

    union all

    select
        'claims_cycle_time_p90_days' as metric_name,
        event_date,
        org_code,
        center_code,
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        cycle_time_days as duration,
        'p90' as rollup_kind,
        1.0 as scale_factor
    from paid_claims
    where cycle_time_days is not null

    union all

    select
        'claims_auto_rate' as metric_name,
        event_date,
        org_code,
        center_code,
        case when is_auto_processed then 1.0 else 0.0 end as numerator,
        1.0 as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        1.0 as scale_factor
    from paid_claims

)

select * from final
