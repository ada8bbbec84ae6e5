{#- Semi-additive snapshot: open tasks at each month end per sub-branch and center.

    A task is open at a month end when it was created before the next midnight and not completed
    by then (int_tasks_open_at_month_end lists them one by one), that is from the month it was
    created in up to, not including, the month it was completed in; it is past its SLA from the
    later of that first month and the month its SLA falls due. Each task therefore contributes
    +1 in one month and -1 in another, and a month end's backlog is the running sum of those
    changes up to its month: one pass over the tasks, where joining every task to every month
    end it is open at (the list above) cost 1.0 s at scale 1 and 3.5 s at scale 3 on every run,
    refreshes included, and grew with how long tasks stay open. Month ends without an open task
    have no row, as in the list. -#}
with

tasks as (

    select * from {{ ref('fct_tasks') }}

),

months as (

    select * from {{ ref('dim_months') }}

),

task_months as (

    -- the first month (its start) at which the task is open, no longer open, past its SLA
    select
        org_code,
        center_code,
        opened_month,
        closed_month,
        case
            when due_month is not null
                then case when due_month > opened_month then due_month else opened_month end
        end as past_sla_month
    from (
        select
            org_code,
            center_code,
            cast({{ dbt.date_trunc('month', 'created_at') }} as date) as opened_month,
            cast({{ dbt.date_trunc('month', 'completed_at') }} as date) as closed_month,
            cast({{ dbt.date_trunc('month', 'sla_due_at') }} as date) as due_month
        from tasks
        where created_at is not null
    ) as truncated

),

open_spans as (

    -- a task completed in the month it was created in (or before it) is open at no month end;
    -- tasks of one span are counted together, so what follows reads a few thousand rows
    select
        org_code,
        center_code,
        opened_month,
        closed_month,
        past_sla_month,
        count(*) as task_count
    from task_months
    where closed_month is null or closed_month > opened_month
    group by org_code, center_code, opened_month, closed_month, past_sla_month

),

changes as (

    select
        org_code,
        center_code,
        opened_month as change_month,
        task_count as open_change,
        0 as past_sla_change
    from open_spans
    union all
    select
        org_code,
        center_code,
        closed_month as change_month,
        -task_count as open_change,
        0 as past_sla_change
    from open_spans
    where closed_month is not null
    union all
    select
        org_code,
        center_code,
        past_sla_month as change_month,
        0 as open_change,
        task_count as past_sla_change
    from open_spans
    where past_sla_month is not null and (closed_month is null or past_sla_month < closed_month)
    union all
    select
        org_code,
        center_code,
        closed_month as change_month,
        0 as open_change,
        -task_count as past_sla_change
    from open_spans
    where
        past_sla_month is not null and closed_month is not null and past_sla_month < closed_month

),

monthly_changes as (

    select
        org_code,
        center_code,
        change_month,
        sum(open_change) as open_change,
        sum(past_sla_change) as past_sla_change
    from changes
    group by org_code, center_code, change_month

),

running as (

    select
        months.month_end_date,
        monthly_changes.org_code,
        monthly_changes.center_code,
        cast(sum(monthly_changes.open_change) as bigint) as open_task_count,
        cast(sum(monthly_changes.past_sla_change) as bigint) as open_past_sla_count
    from months
    inner join monthly_changes on months.month_start_date >= monthly_changes.change_month
    group by months.month_end_date, monthly_changes.org_code, monthly_changes.center_code

),

final as (

    select
        month_end_date,
        org_code,
        center_code,
        open_task_count,
        open_past_sla_count
    from running
    where open_task_count > 0

)

select * from final
