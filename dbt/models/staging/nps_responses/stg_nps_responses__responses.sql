with

source as (

    select * from {{ source('nps_responses', 'nps_responses') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        response_id,
        canonical_org_code as org_code,
        touchpoint,
        cast(score as integer) as score,
        cast(responded_at as timestamp) as responded_at,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
