with

source as (

    select * from {{ source('policies', 'policies') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        policy_id,
        canonical_org_code as org_code,
        product_line,
        channel,
        cast(issued_date as date) as issued_date,
        cast(terminated_date as date) as terminated_date,
        cast(annual_premium as decimal(18, 2)) as annual_premium_cny,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
