{{ config(**batch_incremental_config()) }}

with

complaints as (

    select * from {{ ref('stg_complaints__complaints') }}
    {{ only_new_batches() }}

),

final as (

    select
        complaint_id,
        org_code,
        source,
        category,
        received_at,
        due_at,
        closed_at,
        outcome,
        source = 'regulator' as is_from_regulator,
        coalesce(closed_at <= due_at, false) as is_closed_on_time,
        {{ lineage_columns() }}
    from complaints

)

select * from final
