{#- Semi-additive snapshot: policies in force at each month end (issued on or before it and not
    terminated on or before it), per owning sub-branch, product line and channel. Sum across
    units, never across months. Recomputed only when the policies or the month ends changed
    (macros/input_gates.sql): a day of claims moves the calendar's data end, not this table. -#}
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

final as (

    select
        months.month_end_date,
        policies.org_code,
        policies.product_line,
        policies.channel,
        count(*) as policy_count,
        -- the contract's type on every engine: a sum of decimal(18, 2) is decimal(38, 2) on
        -- DuckDB, decimal(28, 2) on Spark
        cast(sum(policies.annual_premium_cny) as decimal(38, 2)) as annual_premium_cny,
        changed_inputs.input_digest
    from policies
    inner join months
        on
            policies.issued_date <= months.month_end_date
            and coalesce(policies.terminated_date, date '9999-12-31') > months.month_end_date
    cross join changed_inputs
    group by
        months.month_end_date,
        policies.org_code,
        policies.product_line,
        policies.channel,
        changed_inputs.input_digest

)

select * from final
