{#-
  Cascaded targets (the value-management reference, section 3): the group's target of a metric
  (its targets.group, else targets.default) is split to the subsidiaries, each subsidiary's to
  its branches, each branch's to its sub-branches, month by month, by the rule the metric
  declares in config.meta.target_cascade:

    inherit                    every child gets the parent's target (ratios, means, percentiles)
    proportional_to_last_year  additive: T x B_j / sum B; ratio: T x r_j / R
    equal_improvement          additive: B_j + (T - sum B) / n; ratio: r_j + (T - R)
    override                   `overrides: {org_code: target}`; the other children share what is
                               left by the `fallback` rule (default inherit, or equal split for
                               additive metrics)

  B_j is the child's value and r_j its rate in the same month a year before, D_j its denominator
  then (the planned denominator), R = sum D_j r_j / sum D_j. Additive children's targets sum to
  the parent's; ratio children's, weighted by D_j, reproduce it: sum D_j t_j / sum D_j = T. A
  child without last year's value plans with D_j = 0 and the parent's target (a ratio) or B_j = 0
  (additive); when no child has one (the first year), every child weighs 1 and inherits (ratio)
  or gets an equal share (additive). Red thresholds keep the parent's distance to its target
  (ratios) or its proportion (additive).

  The models that call target_cascade_ctes() define three CTEs first: cascade_values (metric,
  month, org level and code, denominator, value: at least last year's months), cascade_months
  (metric_name, period_start: the months to compute) and cascade_org (dim_org).
-#}

{% macro target_cascade_spec(meta) %}
    {#- A metric's cascade rule as it is applied, the defaults filled in: {rule, fallback,
        overrides}; none without a group target (nothing to cascade). The one reading of
        config.meta.target_cascade: the cascade applies it, the KPI digests fold it in (a
        cascade edit recomputes the metric's statuses), dim_metric_catalog publishes it (the
        preview compares it). -#}
    {%- set targets = (meta or {}).get('targets') or {} -%}
    {%- set t = targets.get('group') or targets.get('default') -%}
    {%- if not (t and t.get('target') is not none) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set cascade = meta.get('target_cascade') or {} -%}
    {{ return({'rule': cascade.get('rule', 'inherit'), 'fallback': cascade.get('fallback', 'inherit'),
        'overrides': cascade.get('overrides') or {}}) }}
{% endmacro %}


{% macro target_cascade_rules() %}
    {#- [metric, kind (additive | ratio | percentile), rule, fallback, group target, group red,
        {org_code: override}] of every metric with a target. -#}
    {%- set rows = [] -%}
    {%- for spec in kpi_metric_specs().values() -%}
        {#- a unit test's given semantic layer may leave meta out: no cascade, tier targets -#}
        {%- set meta = spec.get('meta') or {} -%}
        {%- set cascade = target_cascade_spec(meta) -%}
        {%- if cascade is not none -%}
            {%- set targets = meta.get('targets') or {} -%}
            {%- set t = targets.get('group') or targets.get('default') -%}
            {%- set kind = 'additive' if spec.kind == 'additive'
                else ('percentile' if spec.kind == 'percentile' else 'ratio') -%}
            {%- do rows.append([spec.name, kind, cascade.rule, cascade.fallback, t.get('target'),
                t.get('red_threshold'), cascade.overrides]) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(rows) }}
{% endmacro %}


{% macro target_cascade_step(parent_cte, child_level) %}
    {#- One tier of the cascade: the targets of the `child_level` children of the units in
        `parent_cte`, as CTEs named cascade_<child_level>_*; the last is cascade_<child_level>. -#}
    {%- set p = 'cascade_' ~ child_level -%}
{{ p }}_children as (

    select
        parents.metric_name,
        parents.period_start,
        tree.org_level,
        tree.org_code,
        parents.org_code as parent_code,
        parents.target as parent_target,
        parents.red_threshold as parent_red_threshold,
        rules.kind,
        rules.rule,
        rules.fallback,
        overrides.target as override_target,
        last_year.value as basis_value,
        case
            when rules.kind = 'additive' then 1.0
            when last_year.value is not null and last_year.denominator > 0
                then last_year.denominator
            else 0.0
        end as basis_weight
    from {{ parent_cte }} as parents
    inner join cascade_tree as tree
        on
            parents.period_start = tree.period_start
            and parents.org_code = tree.parent_code
            and tree.org_level = '{{ child_level }}'
    inner join cascade_rules as rules on parents.metric_name = rules.metric_name
    left join cascade_overrides as overrides
        on
            parents.metric_name = overrides.metric_name
            and tree.org_code = overrides.org_code
            and rules.rule = 'override'
    left join cascade_values as last_year
        on
            parents.metric_name = last_year.metric_name
            and last_year.period_start
            = cast({{ dbt.dateadd('month', -12, 'parents.period_start') }} as date)
            and tree.org_code = last_year.org_code
            and last_year.org_level = '{{ child_level }}'

),

{{ p }}_planned as (

    -- the first year (no child has last year's value): every ratio child weighs 1
    select
        children.*,
        case
            when
                children.kind <> 'additive'
                and sum(children.basis_weight) over (
                    partition by children.metric_name, children.period_start, children.parent_code
                ) = 0
                then 1.0
            else children.basis_weight
        end as planned_weight,
        case
            when children.kind = 'additive' then coalesce(children.basis_value, 0.0)
            when children.basis_weight > 0 then children.basis_value
            else children.parent_target
        end as planned_basis,
        case
            when children.rule = 'override' and children.override_target is not null
                then 'override'
            when children.rule = 'override' then children.fallback
            else children.rule
        end as applied_rule
    from {{ p }}_children as children

),

{{ p }}_shared as (

    -- what the children without an override share: T' and their basis R' (or sum B), n'
    select
        planned.*,
        sum(case when planned.applied_rule = 'override' then 0.0 else planned.planned_weight end)
            over (partition by planned.metric_name, planned.period_start, planned.parent_code)
            as rest_weight,
        sum(
            case
                when planned.applied_rule = 'override' then 0.0
                else planned.planned_weight * planned.planned_basis
            end
        ) over (partition by planned.metric_name, planned.period_start, planned.parent_code)
            as rest_basis,
        sum(case when planned.applied_rule = 'override' then 0.0 else 1.0 end)
            over (partition by planned.metric_name, planned.period_start, planned.parent_code)
            as rest_count,
        sum(
            case
                when planned.applied_rule = 'override'
                    then planned.planned_weight * planned.override_target
                else 0.0
            end
        ) over (partition by planned.metric_name, planned.period_start, planned.parent_code)
            as overridden,
        sum(planned.planned_weight)
            over (partition by planned.metric_name, planned.period_start, planned.parent_code)
            as total_weight
    from {{ p }}_planned as planned

),

{{ p }}_split as (

    select
        shared.*,
        case
            when shared.kind = 'additive' then shared.parent_target - shared.overridden
            when shared.rest_weight > 0
                then
                    (shared.parent_target * shared.total_weight - shared.overridden)
                    / shared.rest_weight
            else shared.parent_target
        end as rest_target,
        case
            when shared.kind = 'additive' then shared.rest_basis
            when shared.rest_weight > 0 then shared.rest_basis / shared.rest_weight
        end as rest_rate
    from {{ p }}_shared as shared

),

{{ p }} as (

    select
        split.metric_name,
        split.period_start,
        split.org_level,
        split.org_code,
        split.parent_code,
        split.applied_rule as cascade_rule,
        split.planned_weight,
        split.planned_basis,
        case
            when split.applied_rule = 'override' then split.override_target
            when split.kind = 'percentile' then split.parent_target
            -- a ratio child without last year's value weighs 0 in the plan: it inherits
            when split.kind <> 'additive' and split.planned_weight = 0 then split.rest_target
            when split.kind = 'additive' and split.applied_rule = 'proportional_to_last_year'
                and split.rest_rate > 0
                then split.rest_target * split.planned_basis / split.rest_rate
            when split.kind = 'additive' and split.applied_rule = 'equal_improvement'
                then split.planned_basis + (split.rest_target - split.rest_rate) / split.rest_count
            when split.kind = 'additive' then split.rest_target / split.rest_count
            when split.applied_rule = 'inherit' then split.rest_target
            when split.applied_rule = 'proportional_to_last_year' and split.rest_rate <> 0
                then split.planned_basis * split.rest_target / split.rest_rate
            when split.applied_rule = 'equal_improvement' and split.rest_rate is not null
                then split.planned_basis + (split.rest_target - split.rest_rate)
            else split.rest_target
        end as target,
        split.parent_target as parent_target_kept,
        split.parent_red_threshold,
        split.kind
    from {{ p }}_split as split

),

{{ p }}_targets as (

    select
        metric_name,
        period_start,
        org_level,
        org_code,
        parent_code,
        target,
        case
            when kind = 'additive' and parent_target_kept <> 0
                then target * parent_red_threshold / parent_target_kept
            else target + (parent_red_threshold - parent_target_kept)
        end as red_threshold,
        cascade_rule,
        planned_weight,
        planned_basis
    from {{ p }}

),
{%- endmacro %}


{% macro target_cascade_ctes() %}
    {%- set rules = target_cascade_rules() if execute else [] -%}
    {%- set overrides = [] -%}
    {%- for r in rules -%}
        {%- for code, value in r[6].items() -%}
            {%- do overrides.append([r[0], code, value]) -%}
        {%- endfor -%}
    {%- endfor -%}
cascade_rules (metric_name, kind, rule, fallback, group_target, group_red_threshold) as (

    {%- if rules %}
    values
    {%- for r in rules %}
        (
            {{ kpi_sql_literal(r[0]) }},
            {{ kpi_sql_literal(r[1]) }},
            {{ kpi_sql_literal(r[2]) }},
            {{ kpi_sql_literal(r[3]) }},
            {{ kpi_sql_number(r[4]) }},
            {{ kpi_sql_number(r[5]) }}
        ){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        {%- for _ in range(4) %}
        cast(null as {{ dbt.type_string() }}),
        {%- endfor %}
        cast(null as double),
        cast(null as double)
    where false
    {%- endif %}

),

cascade_overrides (metric_name, org_code, target) as (

    {%- if overrides %}
    values
    {%- for o in overrides %}
        ({{ kpi_sql_literal(o[0]) }}, {{ kpi_sql_literal(o[1]) }}, {{ kpi_sql_number(o[2]) }})
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        cast(null as double)
    where false
    {%- endif %}

),

-- every unit in each month, under the parent of its latest org version overlapping the month
cascade_tree as (

    select
        period_start,
        org_level,
        org_code,
        parent_code
    from (
        select
            months.period_start,
            org.org_level,
            org.org_code,
            org.parent_code,
            row_number() over (
                partition by months.period_start, org.org_code order by org.valid_from desc
            ) as version_rank
        from (select distinct period_start from cascade_months) as months
        inner join cascade_org as org
            on
                org.valid_from < cast({{ dbt.dateadd('month', 1, 'months.period_start') }} as date)
                and coalesce(org.valid_to, date '9999-12-31') > months.period_start
    ) as overlapping
    where version_rank = 1

),

cascade_group as (

    select
        months.metric_name,
        months.period_start,
        tree.org_level,
        tree.org_code,
        cast(null as {{ dbt.type_string() }}) as parent_code,
        rules.group_target as target,
        rules.group_red_threshold as red_threshold,
        'group' as cascade_rule,
        1.0 as planned_weight,
        cast(null as double) as planned_basis
    from cascade_months as months
    inner join cascade_rules as rules on months.metric_name = rules.metric_name
    inner join cascade_tree as tree
        on months.period_start = tree.period_start and tree.org_level = 'group'

),

{{ target_cascade_step('cascade_group', 'subsidiary') }}

{{ target_cascade_step('cascade_subsidiary_targets', 'branch') }}

{{ target_cascade_step('cascade_branch_targets', 'sub_branch') }}

cascaded_targets as (

    select * from cascade_group
    union all
    select * from cascade_subsidiary_targets
    union all
    select * from cascade_branch_targets
    union all
    select * from cascade_sub_branch_targets

),
{%- endmacro %}
