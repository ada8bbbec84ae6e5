with

centers as (

    select * from {{ ref('stg_centers__centers') }}

),

final as (

    select
        center_code,
        center_name,
        function,
        subsidiary_code
    from centers

)

select * from final
