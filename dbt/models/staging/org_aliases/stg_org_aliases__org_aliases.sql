with

source as (

    select * from {{ source('org_aliases', 'org_aliases') }}

),

renamed as (

    select
        upper(trim(alias_code)) as alias_code,
        upper(trim(org_code)) as org_code,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from source

)

select * from renamed
