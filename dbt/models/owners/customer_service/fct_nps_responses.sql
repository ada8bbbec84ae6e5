{{ config(**batch_incremental_config()) }}

with

responses as (

    select * from {{ ref('stg_nps_responses__responses') }}
    {{ only_new_batches() }}

),

final as (

    select
        response_id,
        org_code,
        touchpoint,
        score,
        responded_at,
        score >= 9 as is_promoter,
        score <= 6 as is_detractor,
        case when score >= 9 then 1 when score <= 6 then -1 else 0 end as net_promoter_points,
        {{ lineage_columns() }}
    from responses

)

select * from final
