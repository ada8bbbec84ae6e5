{{ config(**batch_incremental_config()) }}

with

runs as (

    select * from {{ ref('stg_rpa_runs__rpa_runs') }}
    {{ only_new_batches() }}

),

final as (

    select
        run_id,
        center_code,
        process,
        started_at,
        ended_at,
        items_in,
        items_ok,
        items_exception,
        {{ lineage_columns() }}
    from runs

)

select * from final
