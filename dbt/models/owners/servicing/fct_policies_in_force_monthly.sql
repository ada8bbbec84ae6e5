{#- Semi-additive snapshot: policies in force at each month end (issued on or before it and not
    terminated on or before it), per owning sub-branch, product line and channel. Sum across
    units, never across months. -#}
with

policies as (

    select * from {{ ref('stg_policies__policies') }}

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
        sum(policies.annual_premium_cny) as annual_premium_cny
    from policies
    inner join months
        on
            policies.issued_date <= months.month_end_date
            and coalesce(policies.terminated_date, date '9999-12-31') > months.month_end_date
    group by months.month_end_date, policies.org_code, policies.product_line, policies.channel

)

select * from final
