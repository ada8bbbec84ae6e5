{{ config(**batch_incremental_config()) }}

with

endorsements as (

    select * from {{ ref('stg_endorsements__endorsements') }}
    {{ only_new_batches() }}

),

final as (

    select
        endorsement_id,
        policy_id,
        org_code,
        center_code,
        endorsement_type,
        requested_at,
        completed_at,
        sla_hours,
        coalesce(is_auto_processed, false) as is_auto_processed,
        rework_count,
        {{ seconds_between('requested_at', 'completed_at') }} / 3600.0 as turnaround_hours,
        completed_at <= {{ dbt.dateadd('hour', 'sla_hours', 'requested_at') }} as is_within_sla,
        {{ lineage_columns() }}
    from endorsements

)

select * from final
