{#- Semi-additive snapshot: policies in force at each month end (issued on or before it and not
    terminated on or before it), per owning sub-branch, product line and channel. Sum across
    units, never across months. Recomputed only when the policies or the month ends changed
    (macros/input_gates.sql): a day of claims moves the calendar's data end, not this table.

    A policy is in force from the month it was issued in up to, not including, the month it was
    terminated in, so it adds to the counts in one month and leaves them in another, and a
    month end's snapshot is the running sum of those changes up to its month: one pass over the
    policies, where joining every policy to every month end it is in force at cost 4.1 s of a
    full build at scale 1 (as fct_task_backlog_monthly, which counts open tasks the same way).
    Month ends without a policy in force have no row. -#}
{{ config(**inputs_gate_config(['policies.policies'], 'month_ends')) }}

with

changed_inputs as (

    {{ inputs_gate(['policies.policies'], 'month_ends') }}

),

policies as (

    select * from {{ ref('stg_policies__policies') }}
    where exists (select 1 from changed_inputs)

),

months as (

    select * from {{ ref('dim_months') }}

),

policy_spans as (

    -- the first month (its start) a policy is in force and the first it no longer is; policies
    -- terminated in the month they were issued in (or before it) are in force at no month end;
    -- those of one span are counted together
    select
        org_code,
        product_line,
        channel,
        cast({{ dbt.date_trunc('month', 'issued_date') }} as date) as issued_month,
        cast({{ dbt.date_trunc('month', 'terminated_date') }} as date) as terminated_month,
        count(*) as policy_count,
        sum(annual_premium_cny) as annual_premium_cny,
        count(annual_premium_cny) as premium_count
    from policies
    where
        issued_date is not null
        and (
            terminated_date is null
            or {{ dbt.date_trunc('month', 'terminated_date') }}
            > {{ dbt.date_trunc('month', 'issued_date') }}
        )
    group by
        org_code,
        product_line,
        channel,
        cast({{ dbt.date_trunc('month', 'issued_date') }} as date),
        cast({{ dbt.date_trunc('month', 'terminated_date') }} as date)

),

changes as (

    select
        org_code,
        product_line,
        channel,
        issued_month as change_month,
        policy_count,
        annual_premium_cny,
        premium_count
    from policy_spans
    union all
    select
        org_code,
        product_line,
        channel,
        terminated_month as change_month,
        -policy_count as policy_count,
        -annual_premium_cny as annual_premium_cny,
        -premium_count as premium_count
    from policy_spans
    where terminated_month is not null

),

monthly_changes as (

    select
        org_code,
        product_line,
        channel,
        change_month,
        sum(policy_count) as policy_count,
        sum(annual_premium_cny) as annual_premium_cny,
        sum(premium_count) as premium_count
    from changes
    group by org_code, product_line, channel, change_month

),

running as (

    select
        months.month_end_date,
        monthly_changes.org_code,
        monthly_changes.product_line,
        monthly_changes.channel,
        sum(monthly_changes.policy_count) as policy_count,
        sum(monthly_changes.annual_premium_cny) as annual_premium_cny,
        sum(monthly_changes.premium_count) as premium_count
    from months
    inner join monthly_changes on months.month_start_date >= monthly_changes.change_month
    group by
        months.month_end_date,
        monthly_changes.org_code,
        monthly_changes.product_line,
        monthly_changes.channel

),

final as (

    select
        running.month_end_date,
        running.org_code,
        running.product_line,
        running.channel,
        cast(running.policy_count as bigint) as policy_count,
        -- the contract's type on every engine; null when no policy in force has a premium, as
        -- a sum over the policies themselves would be
        cast(
            case when running.premium_count > 0 then running.annual_premium_cny end
            as decimal(38, 2)
        ) as annual_premium_cny,
        changed_inputs.input_digest
    from running
    cross join changed_inputs
    where running.policy_count > 0

)

select * from final
