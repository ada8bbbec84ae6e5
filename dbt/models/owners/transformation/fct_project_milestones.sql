with

milestones as (

    select * from {{ ref('stg_project_milestones__milestones') }}

),

calendar as (

    select max(data_end_date) as data_end_date from {{ ref('dim_months') }}

),

final as (

    select
        milestones.project_id,
        milestones.project_name,
        milestones.milestone_id,
        milestones.owner_org_code as org_code,
        milestones.due_date,
        milestones.done_date,
        milestones.committed_saving_cny,
        milestones.realised_saving_cny,
        milestones.due_date <= calendar.data_end_date as is_due,
        coalesce(milestones.done_date <= milestones.due_date, false) as is_done_on_time
    from milestones
    cross join calendar

)

select * from final
