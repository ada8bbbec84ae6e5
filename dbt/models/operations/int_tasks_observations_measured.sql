{#- KPI observations of the operations-center owner: task SLA attainment, one row per completed
    task. -#}
with

tasks as (

    select * from {{ ref('stg_tasks__tasks') }}

),

final as (

    select
        'task_sla_rate' as metric_name,
        cast(completed_at as date) as event_date,
        org_code,
        center_code,
        case when completed_at <= sla_due_at then 1.0 else 0.0 end as numerator,
        1.0 as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        1.0 as scale_factor
    from tasks
    where completed_at is not null

)

select * from final
