with

costs as (

    select * from {{ ref('stg_op_costs__cost_lines') }}

),

final as (

    select
        month_date,
        org_code,
        center_code,
        cost_type,
        amount_cny
    from costs

)

select * from final
