with

source as (

    select * from {{ source('project_milestones', 'project_milestones') }}

),

renamed as (

    select
        project_id,
        project_name,
        milestone_id,
        upper(trim(owner_org_code)) as owner_org_code,
        cast(due_date as date) as due_date,
        cast(done_date as date) as done_date,
        cast(committed_saving as decimal(18, 2)) as committed_saving_cny,
        cast(realised_saving as decimal(18, 2)) as realised_saving_cny,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from source

)

select * from renamed
