{{ config(**batch_incremental_config()) }}

with

applications as (

    select * from {{ ref('stg_applications__applications') }}
    {{ only_new_batches() }}

),

final as (

    select
        application_id,
        org_code,
        center_code,
        channel,
        received_at,
        decided_at,
        issued_at,
        decision,
        uw_route,
        coalesce(is_nigo, false) as is_nigo,
        uw_route = 'auto' as is_auto_underwritten,
        {{ seconds_between('received_at', 'issued_at') }} / 86400.0 as issuance_turnaround_days,
        {{ lineage_columns() }}
    from applications

)

select * from final
