with

source as (

    select * from {{ source('rpa_runs', 'rpa_runs') }}

),

renamed as (

    select
        run_id,
        upper(trim(center_code)) as center_code,
        process,
        cast(started_at as timestamp) as started_at,
        cast(ended_at as timestamp) as ended_at,
        cast(items_in as integer) as items_in,
        cast(items_ok as integer) as items_ok,
        cast(items_exception as integer) as items_exception,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from source

)

select * from renamed
