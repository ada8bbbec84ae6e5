with

rule_counts as (

    select * from {{ source('meta', 'batch_rule_counts') }}

),

renamed as (

    select
        batch_id,
        source,
        path as file_path,
        rule,
        outcome,
        rows as row_count,
        recorded_at
    from rule_counts

)

select * from renamed
