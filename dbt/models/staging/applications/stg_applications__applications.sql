with

source as (

    select * from {{ source('applications', 'applications') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        application_id,
        canonical_org_code as org_code,
        upper(trim(center_code)) as center_code,
        channel,
        cast(received_at as timestamp) as received_at,
        cast(nigo as boolean) as is_nigo,
        uw_route,
        cast(decided_at as timestamp) as decided_at,
        decision,
        cast(issued_at as timestamp) as issued_at,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
