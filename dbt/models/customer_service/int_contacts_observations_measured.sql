{#- KPI observations of the customer-service owner: voice-contact service level and abandonment,
    and NPS, one row per record and metric. -#}
with

contacts as (

    select * from {{ ref('stg_contacts__contacts') }}

),

responses as (

    select * from {{ ref('stg_nps_responses__responses') }}

),

voice_contacts as (

    select
        org_code,
        center_code,
        cast(arrived_at as date) as event_date,
        answered_at is not null
        and answered_at - arrived_at <= interval 20 second as is_answered_within_20s,
        abandoned_at is not null as is_abandoned,
        abandoned_at is not null
        and abandoned_at - arrived_at <= interval 5 second as is_abandoned_within_5s
    from contacts
    where channel = 'voice'

),

final as (

    select
        'service_level_20s' as metric_name,
        event_date,
        org_code,
        center_code,
        case when is_answered_within_20s then 1.0 else 0.0 end as numerator,
        case when is_abandoned_within_5s then 0.0 else 1.0 end as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        1.0 as scale_factor
    from voice_contacts

    union all

    select
        'abandonment_rate' as metric_name,
        event_date,
        org_code,
        center_code,
        case when is_abandoned then 1.0 else 0.0 end as numerator,
        1.0 as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        1.0 as scale_factor
    from voice_contacts

    union all

    -- NPS = 100 x (promoters - detractors) / responses: each response counts +1, 0 or -1
    select
        'nps' as metric_name,
        cast(responded_at as date) as event_date,
        org_code,
        cast(null as varchar) as center_code,
        case when score >= 9 then 1.0 when score <= 6 then -1.0 else 0.0 end as numerator,
        1.0 as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        100.0 as scale_factor
    from responses

)

select * from final
