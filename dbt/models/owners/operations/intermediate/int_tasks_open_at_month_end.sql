{#- One row per task open at a month end (created on or before it, not completed by then), read
    from the typed fact rather than the staging view, which would cast every raw row again. -#}
with

tasks as (

    select * from {{ ref('fct_tasks') }}

),

months as (

    select * from {{ ref('dim_months') }}

),

final as (

    select
        months.month_end_date,
        tasks.task_id,
        tasks.org_code,
        tasks.center_code,
        tasks.sla_due_at < {{ dbt.dateadd('day', 1, 'months.month_end_date') }} as is_past_sla
    from tasks
    inner join months
        on
            tasks.created_at < {{ dbt.dateadd('day', 1, 'months.month_end_date') }}
            and coalesce(tasks.completed_at, timestamp '9999-12-31')
            >= {{ dbt.dateadd('day', 1, 'months.month_end_date') }}

)

select * from final
