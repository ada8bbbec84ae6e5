{{ config(**batch_incremental_config()) }}

with

contacts as (

    select * from {{ ref('stg_contacts__contacts') }}
    {{ only_new_batches() }}

),

final as (

    select
        contact_id,
        org_code,
        center_code,
        channel,
        arrived_at,
        answered_at,
        abandoned_at,
        ended_at,
        channel = 'voice' as is_voice,
        channel in ('app', 'wechat', 'web') as is_digital,
        answered_at is not null as is_answered,
        abandoned_at is not null as is_abandoned,
        coalesce(
            answered_at is not null
            and answered_at <= {{ dbt.dateadd('second', 20, 'arrived_at') }},
            false
        ) as is_answered_within_20s,
        coalesce(
            abandoned_at is not null
            and abandoned_at <= {{ dbt.dateadd('second', 5, 'arrived_at') }},
            false
        ) as is_abandoned_within_5s,
        case
            when answered_at is not null
                then coalesce(talk_sec, 0) + coalesce(hold_sec, 0) + coalesce(acw_sec, 0)
        end as handle_time_sec,
        coalesce(is_first_contact_resolved, false) as is_first_contact_resolved,
        {{ lineage_columns() }}
    from contacts

)

select * from final
