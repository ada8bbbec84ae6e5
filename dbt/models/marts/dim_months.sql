{#- The reporting calendar: every month from the first to the last month with operational
    events. Snapshot facts (backlog, policies in force, staffing) are taken at these month ends,
    and cohorts mature against data_end_date, the newest event delivered. The bounds are read
    from the typed facts (one row per raw record, like staging), not from the staging views,
    which would cast every raw text timestamp again on every run. -#}
with

event_bounds as (

    select
        min(reported_at) as first_at,
        max(reported_at) as last_at
    from {{ ref('fct_claims') }}
    union all
    select
        min(arrived_at) as first_at,
        max(arrived_at) as last_at
    from {{ ref('fct_contacts') }}
    union all
    select
        min(created_at) as first_at,
        max(created_at) as last_at
    from {{ ref('fct_tasks') }}

),

bounds as (

    select
        cast({{ dbt.date_trunc('month', 'min(first_at)') }} as date) as first_month,
        cast({{ dbt.date_trunc('month', 'max(last_at)') }} as date) as last_month,
        cast(max(last_at) as date) as data_end_date
    from event_bounds

),

month_starts as (

    select series.series_date as month_start_date
    from
        {{ date_series(
            'month',
            '(select first_month from bounds)',
            '(select last_month from bounds)'
        ) }} as series

),

months as (

    select
        month_starts.month_start_date,
        bounds.data_end_date
    from month_starts
    cross join bounds

),

final as (

    select
        month_start_date,
        {{ dbt.last_day('month_start_date', 'month') }} as month_end_date,
        data_end_date
    from months

)

select * from final
