{#- Semi-additive snapshot: open tasks at each month end per sub-branch and center. -#}
with

open_tasks as (

    select * from {{ ref('int_tasks_open_at_month_end') }}

),

final as (

    select
        month_end_date,
        org_code,
        center_code,
        count(*) as open_task_count,
        count(*) filter (where is_past_sla) as open_past_sla_count
    from open_tasks
    group by month_end_date, org_code, center_code

)

select * from final
