with

source as (

    select * from {{ source('complaints', 'complaints') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        complaint_id,
        canonical_org_code as org_code,
        source,
        category,
        cast(received_at as timestamp) as received_at,
        cast(due_at as timestamp) as due_at,
        cast(closed_at as timestamp) as closed_at,
        outcome,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
