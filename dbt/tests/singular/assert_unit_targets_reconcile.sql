{#- Cascaded targets reconcile at every tier and month: the children of a unit, additive ones
    summed, ratio ones weighted by their planned denominators, reproduce the unit's target to
    1e-9 (relative to its size). -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_unit_targets'}}}) }}

{%- set rules = target_cascade_rules() if execute else [] %}
{%- set additive = [] %}
{%- for r in rules if r[1] == 'additive' %}
    {%- do additive.append(r[0]) %}
{%- endfor %}

with

targets as (

    select * from {{ ref('fct_unit_targets') }}

),

children as (

    select
        metric_name,
        period_start,
        parent_code,
        {%- if additive %}
        case when metric_name in ({% for m in additive %}'{{ m }}'{% if not loop.last %}, {% endif %}{% endfor %})
            then sum(target)
            else sum(planned_weight * target) / sum(planned_weight)
        end as reconciled
        {%- else %}
        sum(planned_weight * target) / sum(planned_weight) as reconciled
        {%- endif %}
    from targets
    where parent_code is not null
    group by metric_name, period_start, parent_code

),

final as (

    select
        parents.metric_name,
        parents.period_start,
        parents.org_code,
        parents.target,
        children.reconciled
    from children
    inner join targets as parents
        on
            children.metric_name = parents.metric_name
            and children.period_start = parents.period_start
            and children.parent_code = parents.org_code
    where
        abs(children.reconciled - parents.target)
        > 1e-9 * (case when abs(parents.target) > 1 then abs(parents.target) else 1 end)

)

select * from final
