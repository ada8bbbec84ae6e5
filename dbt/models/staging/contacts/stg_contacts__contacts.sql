with

source as (

    select * from {{ source('contacts', 'contacts') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        contact_id,
        canonical_org_code as org_code,
        upper(trim(center_code)) as center_code,
        channel,
        cast(arrived_at as timestamp) as arrived_at,
        cast(answered_at as timestamp) as answered_at,
        cast(abandoned_at as timestamp) as abandoned_at,
        cast(ended_at as timestamp) as ended_at,
        cast(talk_sec as integer) as talk_sec,
        cast(hold_sec as integer) as hold_sec,
        cast(acw_sec as integer) as acw_sec,
        cast(first_contact_resolved as boolean) as is_first_contact_resolved,
        agent_id,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
