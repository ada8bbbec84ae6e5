with

gate_states as (

    select * from {{ source('meta', 'source_gate_state') }}

),

renamed as (

    select
        source,
        data_owner,
        state,
        check_name,
        reason,
        since as held_since,
        last_file,
        last_loaded_at,
        is_stale,
        stale_reason,
        delivered_at
    from gate_states

)

select * from renamed
