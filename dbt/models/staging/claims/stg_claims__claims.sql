with

source as (

    select * from {{ source('claims', 'claims') }}

),

conformed as (

    {{ conform_org_codes() }}

),

renamed as (

    select
        claim_id,
        policy_id,
        canonical_org_code as org_code,
        upper(trim(center_code)) as center_code,
        product_line,
        cast(reported_at as timestamp) as reported_at,
        cast(registered_at as timestamp) as registered_at,
        cast(approved_at as timestamp) as approved_at,
        cast(paid_at as timestamp) as paid_at,
        cast(closed_at as timestamp) as closed_at,
        cast(claimed_amount as decimal(18, 2)) as claimed_amount_cny,
        cast(paid_amount as decimal(18, 2)) as paid_amount_cny,
        decision,
        cast(auto_processed as boolean) as is_auto_processed,
        cast(fraud_flag as boolean) as is_fraud_flagged,
        cast(fraud_confirmed as boolean) as is_fraud_confirmed,
        cast(reopened_at as timestamp) as reopened_at,
        handler_id,
        _source_file,
        _row_number,
        _batch_id,
        _loaded_at
    from conformed

)

select * from renamed
