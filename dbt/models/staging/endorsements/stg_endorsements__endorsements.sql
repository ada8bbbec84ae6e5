with

source as (

    select * from {{ source('endorsements', 'endorsements') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        endorsement_id,
        policy_id,
        canonical_org_code as org_code,
        upper(trim(center_code)) as center_code,
        endorsement_type,
        cast(requested_at as timestamp) as requested_at,
        cast(completed_at as timestamp) as completed_at,
        cast(sla_hours as integer) as sla_hours,
        cast(auto_processed as boolean) as is_auto_processed,
        cast(rework_count as integer) as rework_count,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
