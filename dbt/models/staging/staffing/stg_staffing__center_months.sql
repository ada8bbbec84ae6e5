with

source as (

    select * from {{ source('staffing', 'staffing') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        cast(month as date) as month_date,
        upper(trim(center_code)) as center_code,
        canonical_org_code as org_code,
        cast(fte as decimal(10, 2)) as fte,
        cast(productive_hours as decimal(12, 2)) as productive_hours,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
