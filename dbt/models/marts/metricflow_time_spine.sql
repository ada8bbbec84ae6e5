{#- MetricFlow's time spine: one row per day of the reporting calendar. -#}
with

months as (

    select * from {{ ref('dim_months') }}

),

days as (

    select cast(day_start as date) as date_day
    from
        generate_series(
            cast((select min(month_start_date) from months) as timestamp),
            cast((select max(month_end_date) from months) as timestamp),
            interval 1 day
        ) as series (day_start)

),

final as (

    select * from days

)

select * from final
