{{ config(**batch_incremental_config()) }}

with

tasks as (

    select * from {{ ref('stg_tasks__tasks') }}
    {{ only_new_batches() }}

),

final as (

    select
        task_id,
        org_code,
        center_code,
        task_type,
        created_at,
        assigned_at,
        completed_at,
        sla_due_at,
        returned_count,
        coalesce(completed_at <= sla_due_at, false) as is_completed_within_sla,
        coalesce(returned_count > 0, false) as is_reworked,
        coalesce(is_qa_sampled, false) as is_qa_sampled,
        coalesce(is_qa_passed, false) as is_qa_passed,
        {{ seconds_between('created_at', 'assigned_at') }} / 60.0 as dispatch_latency_min,
        {{ lineage_columns() }}
    from tasks

)

select * from final
