with

runs as (

    select * from {{ ref('stg_rpa_runs__rpa_runs') }}

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
        items_exception
    from runs

)

select * from final
