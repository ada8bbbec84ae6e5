{#- One row per policy issued within the reporting calendar, with its 13th-month persistency:
    a cohort (issue month) is measured once all its policies have reached month 13 by the newest
    data; surrender, lapse or any other termination before then counts as not persisting.
    A view: the policies' rows are stored once in int_policy_cohorts (recomputed only when the
    policies or the calendar's start change), and maturity is judged here against the newest
    data, which moves every day. -#}
{{ config(materialized='view') }}
with

cohorts as (

    select * from {{ ref('int_policy_cohorts') }}

),

calendar as (

    select max(data_end_date) as data_end_date
    from {{ ref('dim_months') }}

),

final as (

    select
        cohorts.policy_id,
        cohorts.org_code,
        cohorts.product_line,
        cohorts.channel,
        cohorts.issued_date,
        cohorts.cohort_matures_on <= calendar.data_end_date as is_cohort_matured_13m,
        cohorts.is_persisting_13m,
        cohorts.input_digest
    from cohorts
    cross join calendar

)

select * from final
