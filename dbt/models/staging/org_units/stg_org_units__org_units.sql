with

source as (

    select * from {{ source('org_units', 'org_units') }}

),

renamed as (

    select
        upper(trim(org_code)) as org_code,
        org_name,
        org_level,
        upper(trim(parent_code)) as parent_code,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from source

)

select * from renamed
