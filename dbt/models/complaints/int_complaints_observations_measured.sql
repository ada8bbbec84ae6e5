{#- KPI observations of the complaints owner: complaints per 10,000 policies in force.
    Complaints count on their received date; policies in force are counted per sub-branch at each
    month end and attributed through the hierarchy valid on that day. -#}
with

complaints as (

    select * from {{ ref('stg_complaints__complaints') }}

),

policies as (

    select * from {{ ref('stg_policies__policies') }}

),

complaint_months as (

    select distinct last_day(received_at) as month_end_date
    from complaints

),

policies_in_force as (

    select
        complaint_months.month_end_date,
        policies.org_code,
        count(*) as policy_count
    from policies
    inner join complaint_months
        on
            policies.issued_date <= complaint_months.month_end_date
            and coalesce(policies.terminated_date, date '9999-12-31')
            > complaint_months.month_end_date
    group by complaint_months.month_end_date, policies.org_code

),

final as (

    select
        'complaints_per_10k_policies' as metric_name,
        cast(received_at as date) as event_date,
        org_code,
        cast(null as varchar) as center_code,
        1.0 as numerator,
        0.0 as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        10000.0 as scale_factor
    from complaints

    union all

    select
        'complaints_per_10k_policies' as metric_name,
        month_end_date as event_date,
        org_code,
        cast(null as varchar) as center_code,
        0.0 as numerator,
        cast(policy_count as double) as denominator,
        cast(null as double) as duration,
        'ratio' as rollup_kind,
        10000.0 as scale_factor
    from policies_in_force

)

select * from final
