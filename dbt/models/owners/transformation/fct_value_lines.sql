{#- One row per month, owning org, center, value stream and item type: what operations gave back
    in CNY (issue 15, the value-management reference section 5). The value streams are
    governed catalog metrics over this table (_transformation__metrics.yml), so fct_kpi_values
    rolls them up every tier like any other metric; the constants no source delivers are the
    dbt vars of dbt_project.yml, read here once each.

    Monthly, like the operations cost it is set against: a line's event date is its month's
    first day, so it is attributed to the org tree version valid then, as fct_op_costs is. -#}
{%- set unit_cost = var('manual_unit_cost_cny') %}

with

claims as (

    select * from {{ ref('fct_claims') }}

),

applications as (

    select * from {{ ref('fct_applications') }}

),

endorsements as (

    select * from {{ ref('fct_endorsements') }}

),

rpa_runs as (

    select * from {{ ref('fct_rpa_runs') }}

),

cohorts as (

    select * from {{ ref('fct_policy_cohorts') }}

),

policies as (

    select * from {{ ref('stg_policies__policies') }}

),

-- automation savings: items handled with no human touch, each worth the manual unit cost of
-- its type; bot items are not here (they are the hours released stream), so nothing counts twice
straight_through as (

    select
        cast({{ dbt.date_trunc('month', 'paid_at') }} as date) as month_date,
        org_code,
        center_code,
        'claim' as item_type,
        cast(1 as double) as item_count,
        cast({{ unit_cost['claim'] }} as double) as value_cny
    from claims
    where is_auto_processed and paid_at is not null

    union all

    select
        cast({{ dbt.date_trunc('month', 'decided_at') }} as date) as month_date,
        org_code,
        center_code,
        'application' as item_type,
        cast(1 as double) as item_count,
        cast({{ unit_cost['application'] }} as double) as value_cny
    from applications
    where is_auto_underwritten and decided_at is not null

    union all

    select
        cast({{ dbt.date_trunc('month', 'completed_at') }} as date) as month_date,
        org_code,
        center_code,
        'endorsement' as item_type,
        cast(1 as double) as item_count,
        cast({{ unit_cost['endorsement'] }} as double) as value_cny
    from endorsements
    where is_auto_processed and completed_at is not null

),

-- fraud loss avoided: what confirmed-fraud claims asked for and were not paid, at closing
fraud_avoided as (

    select
        cast({{ dbt.date_trunc('month', 'closed_at') }} as date) as month_date,
        org_code,
        center_code,
        'claim' as item_type,
        cast(1 as double) as item_count,
        cast(claimed_amount_cny - coalesce(paid_amount_cny, 0) as double) as value_cny
    from claims
    where
        is_fraud_confirmed
        and closed_at is not null
        and claimed_amount_cny > coalesce(paid_amount_cny, 0)

),

-- retention value: per sub-branch and issue-month cohort, the annual premium kept above the
-- baseline persistency (premium of the policies in force at month 13 - baseline x the cohort's
-- premium), counted in the month its 13th policy month is complete (its persistency is known). A
-- cohort below the baseline creates no value (0): its shortfall shows in persistency_13m and is
-- not netted against other units, so the stream is additive and never negative.
matured_policies as (

    select
        cast(
            {{ dbt.date_trunc('month', dbt.dateadd('month', 13, 'cohorts.issued_date')) }} as date
        ) as month_date,
        cohorts.org_code,
        cohorts.is_persisting_13m,
        cast(policies.annual_premium_cny as double) as annual_premium_cny
    from cohorts
    inner join policies on cohorts.policy_id = policies.policy_id
    where cohorts.is_cohort_matured_13m

),

cohort_premiums as (

    select
        month_date,
        org_code,
        count(*) as policy_count,
        sum(annual_premium_cny) as cohort_premium_cny,
        sum(case when is_persisting_13m then annual_premium_cny else 0 end) as kept_premium_cny
    from matured_policies
    group by month_date, org_code

),

retention as (

    select
        month_date,
        org_code,
        cast(null as {{ dbt.type_string() }}) as center_code,
        'policy' as item_type,
        cast(policy_count as double) as item_count,
        greatest(
            kept_premium_cny
            - {{ var('baseline_persistency_13m') }} * cohort_premium_cny,
            0
        ) as value_cny
    from cohort_premiums

),

-- hours released: bot items x standard minutes, valued at the loaded hourly cost; bots work for
-- centers, not branches, so these lines have a center and no org
bot_hours as (

    select
        cast({{ dbt.date_trunc('month', 'started_at') }} as date) as month_date,
        cast(null as {{ dbt.type_string() }}) as org_code,
        center_code,
        'bot_item' as item_type,
        cast(items_ok as double) as item_count,
        cast(
            items_ok * {{ var('bot_item_standard_minutes') }} / 60.0
            * {{ var('loaded_hourly_cost_cny') }} as double
        ) as value_cny
    from rpa_runs

),

lines as (

    select
        'automation_savings' as value_stream,
        *
    from straight_through
    union all
    select
        'fraud_loss_avoided' as value_stream,
        *
    from fraud_avoided
    union all
    select
        'retention_value' as value_stream,
        *
    from retention
    union all
    select
        'hours_released_value' as value_stream,
        *
    from bot_hours

),

final as (

    select
        month_date,
        org_code,
        center_code,
        cast(value_stream as {{ dbt.type_string() }}) as value_stream,
        cast(item_type as {{ dbt.type_string() }}) as item_type,
        sum(item_count) as item_count,
        sum(value_cny) as value_cny
    from lines
    group by month_date, org_code, center_code, value_stream, item_type

)

select * from final
