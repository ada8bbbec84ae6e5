with

source as (

    select * from {{ source('centers', 'centers') }}

),

renamed as (

    select
        upper(trim(center_code)) as center_code,
        center_name,
        function,
        upper(trim(subsidiary_code)) as subsidiary_code,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from source

)

select * from renamed
