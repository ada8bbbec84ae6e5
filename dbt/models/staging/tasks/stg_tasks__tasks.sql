with

source as (

    select * from {{ source('tasks', 'tasks') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        task_id,
        canonical_org_code as org_code,
        upper(trim(center_code)) as center_code,
        task_type,
        cast(created_at as timestamp) as created_at,
        cast(assigned_at as timestamp) as assigned_at,
        cast(completed_at as timestamp) as completed_at,
        cast(sla_due_at as timestamp) as sla_due_at,
        cast(returned_count as integer) as returned_count,
        cast(qa_sampled as boolean) as is_qa_sampled,
        cast(qa_passed as boolean) as is_qa_passed,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
