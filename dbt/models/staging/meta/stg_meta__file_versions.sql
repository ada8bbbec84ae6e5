with

ledger as (

    select * from {{ source('meta', 'file_ledger') }}

),

renamed as (

    select
        ledger_id,
        source,
        path as file_path,
        batch_id,
        status,
        rows_delivered,
        rows_loaded,
        rows_quarantined,
        rows_rejected,
        rows_flagged,
        rejection_rule,
        message,
        loaded_at
    from ledger

)

select * from renamed
