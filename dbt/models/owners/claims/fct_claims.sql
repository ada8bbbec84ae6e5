{{ config(**batch_incremental_config()) }}

with

claims as (

    select * from {{ ref('stg_claims__claims') }}
    {{ only_new_batches() }}

),

final as (

    select
        claim_id,
        policy_id,
        org_code,
        center_code,
        product_line,
        reported_at,
        registered_at,
        approved_at,
        paid_at,
        closed_at,
        reopened_at,
        decision,
        coalesce(is_auto_processed, false) as is_auto_processed,
        coalesce(is_fraud_flagged, false) as is_fraud_flagged,
        coalesce(is_fraud_confirmed, false) as is_fraud_confirmed,
        coalesce(
            reopened_at is not null
            and reopened_at <= {{ dbt.dateadd('day', 90, 'closed_at') }},
            false
        ) as is_reopened_within_90d,
        {{ seconds_between('reported_at', 'paid_at') }} / 86400.0 as cycle_time_days,
        claimed_amount_cny,
        paid_amount_cny,
        {{ lineage_columns() }}
    from claims

)

select * from final
