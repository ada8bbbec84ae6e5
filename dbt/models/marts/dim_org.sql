{#- Flattens the versioned org tree: each node version is joined to the versions of its parent
    that overlap it in time, so one row holds a node's full ancestor chain for one interval. -#}
with recursive

org_units as (

    select * from {{ ref('stg_org_units__org_units') }}

),

versions as (

    select
        org_code,
        org_name,
        org_level,
        parent_code,
        valid_from,
        -- open-ended versions get a far-future end so interval intersection is plain min/max
        coalesce(valid_to, date '9999-12-31') as valid_until
    from org_units

),

chains as (

    select
        org_code,
        org_name,
        org_level,
        parent_code,
        valid_from,
        valid_until,
        org_code as group_code,
        cast(null as {{ dbt.type_string() }}) as subsidiary_code,
        cast(null as {{ dbt.type_string() }}) as branch_code,
        cast(null as {{ dbt.type_string() }}) as sub_branch_code
    from versions
    where parent_code is null

    union all

    select
        child.org_code,
        child.org_name,
        child.org_level,
        child.parent_code,
        greatest(child.valid_from, parent.valid_from) as valid_from,
        least(child.valid_until, parent.valid_until) as valid_until,
        parent.group_code,
        case
            when child.org_level = 'subsidiary' then child.org_code else parent.subsidiary_code
        end as subsidiary_code,
        case
            when child.org_level = 'branch' then child.org_code else parent.branch_code
        end as branch_code,
        case
            when child.org_level = 'sub_branch' then child.org_code else parent.sub_branch_code
        end as sub_branch_code
    from versions as child
    inner join chains as parent
        on
            child.parent_code = parent.org_code
            and child.valid_from < parent.valid_until
            and child.valid_until > parent.valid_from

),

final as (

    select
        org_code,
        org_name,
        org_level,
        parent_code,
        valid_from,
        nullif(valid_until, date '9999-12-31') as valid_to,
        valid_until = date '9999-12-31' as is_current,
        group_code,
        subsidiary_code,
        branch_code,
        sub_branch_code
    from chains

)

select * from final
