{#- One row per policy issued within the reporting calendar, with its 13th-month persistency:
    a cohort (issue month) is measured once all its policies have reached month 13 by the newest
    data; surrender, lapse or any other termination before then counts as not persisting.
    Recomputed only when the policies, the calendar's first month or its last month end reached by
    the data changed (macros/input_gates.sql): maturity moves at month ends, not every day. -#}
{{ config(**inputs_gate_config(['policies.policies'], 'cohort_window')) }}
with

changed_inputs as (

    {{ inputs_gate(['policies.policies'], 'cohort_window') }}

),

policies as (

    select * from {{ ref('stg_policies__policies') }}
    where exists (select 1 from changed_inputs)

),

calendar as (

    select
        min(month_start_date) as first_month_date,
        max(data_end_date) as data_end_date
    from {{ ref('dim_months') }}

),

final as (

    select
        policies.policy_id,
        policies.org_code,
        policies.product_line,
        policies.channel,
        policies.issued_date,
        {{ dbt.last_day(dbt.dateadd('month', 13, 'policies.issued_date'), 'month') }}
        <= calendar.data_end_date
            as is_cohort_matured_13m,
        coalesce(
            policies.terminated_date > {{ dbt.dateadd('month', 13, 'policies.issued_date') }}, true
        ) as is_persisting_13m,
        changed_inputs.input_digest
    from policies
    cross join calendar
    cross join changed_inputs
    where policies.issued_date >= calendar.first_month_date

)

select * from final
