{#- Semi-additive snapshot: month-end FTE and the month's productive hours per center and the
    sub-branch it serves, dated at the month end. -#}
with

staffing as (

    select * from {{ ref('stg_staffing__center_months') }}

),

final as (

    select
        {{ dbt.last_day('month_date', 'month') }} as month_end_date,
        center_code,
        org_code,
        fte,
        productive_hours
    from staffing

)

select * from final
