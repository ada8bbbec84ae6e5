{#- Every value stream, the operations cost and the value created roll up the tiers: a unit's
    value is the sum of its children's (sub-branches -> branch -> subsidiary -> group, through
    the org tree version valid on the month's first day, the date every value line and cost
    line carries), and the centers sum to the group for what is handled by centers. Bot work is
    done for centers, not branches, so hours_released_value_cny reaches the group through the
    centers only and is left out of the branch chain's value created; the retention stream has
    no center. Within 1e-9 of the size of the values (sums of CNY amounts carry float noise in
    their last digits). Rows returned are the parents whose children do not add up. -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_value_created'}}}) }}

with

value_created as (

    select * from {{ ref('fct_value_created') }}

),

org_versions as (

    select * from {{ ref('dim_org') }}

),

group_root as (

    select distinct org_code from value_created where org_level = 'group'

),

-- each child with its parent unit: by the org tree valid on the month's first day, or, for a
-- center, the group
children as (

    select
        case value_created.org_level
            when 'subsidiary' then 'group'
            when 'branch' then 'subsidiary'
            when 'sub_branch' then 'branch'
        end as parent_level,
        case value_created.org_level
            when 'subsidiary' then org_versions.group_code
            when 'branch' then org_versions.subsidiary_code
            when 'sub_branch' then org_versions.branch_code
        end as parent_code,
        'org' as chain,
        value_created.*
    from value_created
    inner join org_versions
        on
            value_created.org_code = org_versions.org_code
            and value_created.org_level = org_versions.org_level
            and value_created.period_start >= org_versions.valid_from
            and value_created.period_start
            < coalesce(org_versions.valid_to, date '9999-12-31')
    where value_created.org_level in ('subsidiary', 'branch', 'sub_branch')
    union all
    select
        'group' as parent_level,
        group_root.org_code as parent_code,
        'center' as chain,
        value_created.*
    from value_created
    cross join group_root
    where value_created.org_level = 'center'

),

summed as (

    select
        chain,
        parent_level,
        parent_code,
        period_start,
        sum(ops_cost_cny) as ops_cost_cny,
        sum(automation_savings_cny) as automation_savings_cny,
        sum(fraud_loss_avoided_cny) as fraud_loss_avoided_cny,
        sum(retention_value_cny) as retention_value_cny,
        sum(hours_released_value_cny) as hours_released_value_cny,
        sum(value_created_cny - hours_released_value_cny) as owned_value_cny
    from children
    group by chain, parent_level, parent_code, period_start

),

-- (stream, parent's value, children's sum) for what each chain must reconcile
compared as (

    {%- set org_columns = ['ops_cost_cny', 'automation_savings_cny', 'fraud_loss_avoided_cny',
        'retention_value_cny'] %}
    {%- for column in org_columns %}
    select
        'org' as chain,
        '{{ column }}' as stream,
        parent.org_level,
        parent.org_code,
        parent.period_start,
        parent.{{ column }} as parent_value,
        summed.{{ column }} as children_sum
    from value_created as parent
    left join summed
        on
            summed.chain = 'org'
            and parent.org_level = summed.parent_level
            and parent.org_code = summed.parent_code
            and parent.period_start = summed.period_start
    where parent.org_level in ('group', 'subsidiary', 'branch')
    union all
    {%- endfor %}
    select
        'org' as chain,
        'value_created_cny' as stream,
        parent.org_level,
        parent.org_code,
        parent.period_start,
        parent.value_created_cny - parent.hours_released_value_cny as parent_value,
        summed.owned_value_cny as children_sum
    from value_created as parent
    left join summed
        on
            summed.chain = 'org'
            and parent.org_level = summed.parent_level
            and parent.org_code = summed.parent_code
            and parent.period_start = summed.period_start
    where parent.org_level in ('group', 'subsidiary', 'branch')
    union all
    select
        'center' as chain,
        'hours_released_value_cny' as stream,
        parent.org_level,
        parent.org_code,
        parent.period_start,
        parent.hours_released_value_cny as parent_value,
        summed.hours_released_value_cny as children_sum
    from value_created as parent
    left join summed
        on
            summed.chain = 'center'
            and parent.org_code = summed.parent_code
            and parent.period_start = summed.period_start
    where parent.org_level = 'group'

),

final as (

    select * from compared
    where
        abs(coalesce(parent_value, 0) - coalesce(children_sum, 0))
        > 1e-9 * greatest(1.0, abs(coalesce(parent_value, 0)), abs(coalesce(children_sum, 0)))

)

select * from final
