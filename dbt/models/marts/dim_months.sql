{#- The reporting calendar: every month from the first to the last month with operational
    events. Snapshot facts (backlog, policies in force, staffing) are taken at these month ends,
    and cohorts mature against data_end_date, the newest event delivered. -#}
with

event_bounds as (

    select
        min(reported_at) as first_at,
        max(reported_at) as last_at
    from {{ ref('stg_claims__claims') }}
    union all
    select
        min(arrived_at) as first_at,
        max(arrived_at) as last_at
    from {{ ref('stg_contacts__contacts') }}
    union all
    select
        min(created_at) as first_at,
        max(created_at) as last_at
    from {{ ref('stg_tasks__tasks') }}

),

bounds as (

    select
        cast(date_trunc('month', min(first_at)) as date) as first_month,
        cast(date_trunc('month', max(last_at)) as date) as last_month,
        cast(max(last_at) as date) as data_end_date
    from event_bounds

),

months as (

    select
        cast(series.month_start as date) as month_start_date,
        bounds.data_end_date
    from bounds,
        generate_series(
            cast(bounds.first_month as timestamp),
            cast(bounds.last_month as timestamp),
            interval 1 month
        ) as series (month_start)

),

final as (

    select
        month_start_date,
        last_day(month_start_date) as month_end_date,
        data_end_date
    from months

)

select * from final
