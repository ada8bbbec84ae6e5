with

source as (

    select * from {{ source('op_costs', 'op_costs') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        cast(month as date) as month_date,
        canonical_org_code as org_code,
        upper(trim(center_code)) as center_code,
        cost_type,
        cast(amount as decimal(18, 2)) as amount_cny,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
