{#- MetricFlow's time spine: one row per day of the reporting calendar. -#}
with

months as (

    select * from {{ ref('dim_months') }}

),

days as (

    select series.series_date as date_day
    from
        {{ date_series(
            'day',
            '(select min(month_start_date) from months)',
            '(select max(month_end_date) from months)'
        ) }} as series

),

final as (

    select * from days

)

select * from final
