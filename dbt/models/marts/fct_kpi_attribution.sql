{#- Why a KPI moved, child by child: the exact attribution of the value-management reference
    (section 4), computed from the published KPI rows (fct_kpi_values) and the org tree.

    A parent's value in each state is R = sum of x_j over its children, x_j = s_j * r_j, with s_j
    the child's share of the parent's denominator and r_j the child's published value (any fixed
    multiplier, as NPS's 100, is in both). Between two states (bars: the mean of both):
        contribution_j = (x_j1 - x_j0) - mean(R) * (s_j1 - s_j0)
        rate_effect_j  = mean(s_j) * (r_j1 - r_j0)
        mix_effect_j   = (s_j1 - s_j0) * (mean(r_j) - mean(R))
    The contributions sum to R1 - R0 whenever the shares sum to 1 and the x_j to R in each state;
    rate + mix equal the contribution (the symmetric Kitagawa identity), computed separately here
    so the model's tests check one against the other. A child absent in a state has share 0
    there and its present rate (all its effect is mix). Additive metrics: the child's own change.

    Balance. A parent's records are not always all in its children: records booked at the parent
    itself (a project owned by a branch), records with no org (center-only sources count for the
    group), children whose denominator is 0 (no row of their own, their numerator still counts).
    That part is one more row per parent and state, child_code = the parent's own code: its
    share is what the children leave of 1, its x what they leave of R. So every breakdown adds
    up exactly, by construction, in every state.

    Against target (ratios with a target), state 0 is the plan: each org child at its cascaded
    target (fct_unit_targets.target) with its planned share (its planned_weight, last year's
    denominator, over its siblings'), which the cascade makes add up to the parent's target. A
    child's rate effect is then its performance against its own target, its mix effect its share
    moving away from the plan; a child the plan gives no weight (no value a year before) is in
    the later state only, all mix. The centers, which the cascade plans no share for, keep
    their tier's target at their actual share (no mix). -#}

with

kpi_values as (

    select * from {{ ref('fct_kpi_values') }}

),

catalog as (

    select * from {{ ref('dim_metric_catalog') }}

),

org_versions as (

    select * from {{ ref('dim_org') }}

),

unit_targets as (

    select * from {{ ref('fct_unit_targets') }}

),

metric_splits as (

    -- how a metric's change splits among children, from its declared rollup kind: percentiles
    -- do not split (no rows); means, ratios, derived ratios, cohort ratios and ratios of
    -- month-end snapshots split into rate and mix; additive and snapshot sums by own change
    select
        metric_name,
        org_attribute,
        case
            when rollup_kind = 'percentile' then 'none'
            when metric_type in ('ratio', 'derived') or rollup_kind = 'mean' then 'rate_mix'
            else 'own_change'
        end as split_kind
    from catalog

),

kpis as (

    select
        kpi_values.metric_name,
        kpi_values.period_start,
        kpi_values.org_level,
        kpi_values.org_code,
        kpi_values.denominator,
        kpi_values.value as kpi_value,
        kpi_values.target,
        metric_splits.split_kind,
        metric_splits.org_attribute
    from kpi_values
    inner join metric_splits on kpi_values.metric_name = metric_splits.metric_name
    where metric_splits.split_kind <> 'none'

),

org_children as (

    -- each unit under its parent in the month: the tree version valid on the month's last day.
    -- A reorganisation takes effect on the 1st of a month (the generator's does), so every day
    -- of the month, the month-end snapshots' day included, sees the same parent. A mid-month
    -- move would split a child's month between two parents, which fct_kpi_values does not
    -- record: the parents' own parts (balances, below) would hold the difference.
    select
        kpis.metric_name,
        kpis.period_start,
        org_versions.parent_code,
        kpis.org_level as child_level,
        kpis.org_code as child_code,
        kpis.denominator,
        kpis.kpi_value,
        kpis.target
    from kpis
    inner join org_versions
        on
            kpis.org_code = org_versions.org_code
            and org_versions.valid_from
            < cast({{ dbt.dateadd('month', 1, 'kpis.period_start') }} as date)
            and coalesce(org_versions.valid_to, date '9999-12-31')
            >= cast({{ dbt.dateadd('month', 1, 'kpis.period_start') }} as date)
    where kpis.org_level in ('subsidiary', 'branch', 'sub_branch')

),

center_children as (

    -- metrics attributed to the handling center: the centers are a second set of the group's
    -- children, beside the subsidiaries
    select
        centers.metric_name,
        centers.period_start,
        group_units.org_code as parent_code,
        centers.org_level as child_level,
        centers.org_code as child_code,
        centers.denominator,
        centers.kpi_value,
        centers.target
    from kpis as centers
    inner join kpis as group_units
        on
            centers.metric_name = group_units.metric_name
            and centers.period_start = group_units.period_start
            and group_units.org_level = 'group'
    where centers.org_level = 'center' and centers.org_attribute = 'handling_center'

),

children as (

    select * from org_children
    union all
    select * from center_children

),

members as (

    -- one row per parent, month and child: the child's share of the parent's denominator
    select
        parents.metric_name,
        parents.period_start,
        parents.org_level,
        parents.org_code,
        parents.split_kind,
        children.child_level,
        children.child_code,
        case
            when parents.split_kind = 'rate_mix' then children.denominator / parents.denominator
        end as child_share,
        children.kpi_value as child_value,
        children.target as child_target
    from children
    inner join kpis as parents
        on
            children.metric_name = parents.metric_name
            and children.period_start = parents.period_start
            and children.parent_code = parents.org_code
            and parents.org_level in ('group', 'subsidiary', 'branch')

),

planned_members as (

    -- against target, the plan: each org child's cascaded target at its planned share, its
    -- planned weight (last year's denominator) over its siblings' (fct_unit_targets), which
    -- reproduce the parent's target: sum of planned share x target = the parent's target
    select
        metric_name,
        period_start,
        parent_code as org_code,
        org_level as child_level,
        org_code as child_code,
        planned_weight / nullif(
            sum(planned_weight) over (partition by metric_name, period_start, parent_code), 0
        ) as planned_share,
        target as child_target
    from unit_targets
    where parent_code is not null and planned_weight > 0

),

member_levels as (

    -- the sets of children a parent has in a month: the plan covers every unit of the tree,
    -- also where a metric has no values at that tier (the group of a center-only metric), and
    -- a plan is only compared with children that exist
    select distinct
        metric_name,
        period_start,
        org_code,
        child_level
    from members

),

comparisons as (

    select
        'mom' as comparison,
        1 as months_back
    union all
    select
        'yoy' as comparison,
        12 as months_back

),

parent_pairs as (

    -- the parent in both states, the month explained (state 1) and the one it is compared with
    -- (state 0): the month before, the same month a year before, or its target
    select
        comparisons.comparison,
        later.metric_name,
        later.period_start,
        later.org_level,
        later.org_code,
        later.split_kind,
        earlier.period_start as base_period_start,
        earlier.kpi_value as base_value,
        later.kpi_value as parent_value
    from kpis as later
    cross join comparisons
    inner join kpis as earlier
        on
            later.metric_name = earlier.metric_name
            and later.org_level = earlier.org_level
            and later.org_code = earlier.org_code
            and earlier.period_start = cast(
                {{ dbt.dateadd('month', '-comparisons.months_back', 'later.period_start') }}
                as date
            )
    where later.org_level in ('group', 'subsidiary', 'branch')

    union all

    -- against target: only ratios, whose children's targets are rates a share can weight
    -- (an additive target is only meaningful once it is split among the children)
    select
        'target' as comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        split_kind,
        period_start as base_period_start,
        target as base_value,
        kpi_value as parent_value
    from kpis
    where
        org_level in ('group', 'subsidiary', 'branch')
        and split_kind = 'rate_mix'
        and target is not null

),

child_states as (

    -- state 1: the parent's children in the month explained
    select
        parent_pairs.comparison,
        parent_pairs.metric_name,
        parent_pairs.period_start,
        parent_pairs.org_level,
        parent_pairs.org_code,
        members.child_level,
        members.child_code,
        1 as state,
        members.child_share as parent_share,
        members.child_value as rate
    from parent_pairs
    inner join members
        on
            parent_pairs.metric_name = members.metric_name
            and parent_pairs.period_start = members.period_start
            and parent_pairs.org_level = members.org_level
            and parent_pairs.org_code = members.org_code

    union all

    -- state 0: its children in the base month under the tree of that month; against target,
    -- the centers (a second set of the group's children, which the cascade plans no share for)
    -- at their tier's target with their actual share as the planned share
    select
        parent_pairs.comparison,
        parent_pairs.metric_name,
        parent_pairs.period_start,
        parent_pairs.org_level,
        parent_pairs.org_code,
        members.child_level,
        members.child_code,
        0 as state,
        members.child_share as parent_share,
        case
            when parent_pairs.comparison = 'target' then members.child_target
            else members.child_value
        end as rate
    from parent_pairs
    inner join members
        on
            parent_pairs.metric_name = members.metric_name
            and parent_pairs.base_period_start = members.period_start
            and parent_pairs.org_level = members.org_level
            and parent_pairs.org_code = members.org_code
    where parent_pairs.comparison <> 'target' or members.child_level = 'center'

    union all

    -- state 0 against target for the org children: the plan, so a child's share moving away
    -- from its planned share is mix, its rate against its own target is rate
    select
        parent_pairs.comparison,
        parent_pairs.metric_name,
        parent_pairs.period_start,
        parent_pairs.org_level,
        parent_pairs.org_code,
        planned_members.child_level,
        planned_members.child_code,
        0 as state,
        planned_members.planned_share as parent_share,
        planned_members.child_target as rate
    from parent_pairs
    inner join planned_members
        on
            parent_pairs.metric_name = planned_members.metric_name
            and parent_pairs.period_start = planned_members.period_start
            and parent_pairs.org_code = planned_members.org_code
    inner join member_levels
        on
            planned_members.metric_name = member_levels.metric_name
            and planned_members.period_start = member_levels.period_start
            and planned_members.org_code = member_levels.org_code
            and planned_members.child_level = member_levels.child_level
    where parent_pairs.comparison = 'target'

),

child_terms as (

    select
        *,
        -- x = share * rate for ratios; an additive child's x is its value
        coalesce(parent_share, 1.0) * rate as term
    from child_states

),

breakdown_keys as (

    -- one row per parent pair and set of children (child_level)
    select distinct
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level
    from child_states

),

states as (

    select 0 as state
    union all
    select 1 as state

),

breakdowns as (

    -- each breakdown in both states, also one with children in only one of them
    select
        breakdown_keys.*,
        states.state
    from breakdown_keys
    cross join states

),

breakdown_sums as (

    select
        breakdowns.comparison,
        breakdowns.metric_name,
        breakdowns.period_start,
        breakdowns.org_level,
        breakdowns.org_code,
        breakdowns.child_level,
        breakdowns.state,
        sum(child_terms.parent_share) as children_share,
        sum(child_terms.term) as children_term,
        count(child_terms.child_code) - count(child_terms.term) as children_without_rate
    from breakdowns
    left join child_terms
        on
            breakdowns.comparison = child_terms.comparison
            and breakdowns.metric_name = child_terms.metric_name
            and breakdowns.period_start = child_terms.period_start
            and breakdowns.org_level = child_terms.org_level
            and breakdowns.org_code = child_terms.org_code
            and breakdowns.child_level = child_terms.child_level
            and breakdowns.state = child_terms.state
    group by
        breakdowns.comparison,
        breakdowns.metric_name,
        breakdowns.period_start,
        breakdowns.org_level,
        breakdowns.org_code,
        breakdowns.child_level,
        breakdowns.state

),

planned_sums as (

    -- against target, the centers' planned shares are their actual ones: the same sum in both
    -- states (summed once, so the two states cannot differ in the last bits)
    select
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level,
        state,
        children_without_rate,
        children_term,
        case
            when comparison = 'target' and child_level = 'center'
                then max(case when state = 1 then children_share end) over (
                    partition by
                        comparison, metric_name, period_start, org_level, org_code, child_level
                )
            else children_share
        end as children_share
    from breakdown_sums

),

balances as (

    -- what the children leave of the parent in each state; float noise (1e-10 of the value, a
    -- tenth of what the balance test allows) is zero, so a parent whose children cover it gets
    -- no balancing row
    select
        planned_sums.comparison,
        planned_sums.metric_name,
        planned_sums.period_start,
        planned_sums.org_level,
        planned_sums.org_code,
        planned_sums.child_level,
        planned_sums.state,
        planned_sums.children_without_rate,
        parent_pairs.split_kind,
        parent_pairs.base_value,
        parent_pairs.parent_value,
        case
            when parent_pairs.split_kind <> 'rate_mix' then null
            when abs(1.0 - coalesce(planned_sums.children_share, 0)) <= 1e-10 then 0.0
            else 1.0 - coalesce(planned_sums.children_share, 0)
        end as parent_share,
        case planned_sums.state
            when 0 then parent_pairs.base_value
            else parent_pairs.parent_value
        end - coalesce(planned_sums.children_term, 0) as unsnapped_term
    from planned_sums
    inner join parent_pairs
        on
            planned_sums.comparison = parent_pairs.comparison
            and planned_sums.metric_name = parent_pairs.metric_name
            and planned_sums.period_start = parent_pairs.period_start
            and planned_sums.org_level = parent_pairs.org_level
            and planned_sums.org_code = parent_pairs.org_code

),

balance_terms as (

    select
        *,
        case
            when
                abs(unsnapped_term) <= 1e-10 * greatest(
                    1.0,
                    abs(case state when 0 then base_value else parent_value end)
                )
                then 0.0
            else unsnapped_term
        end as term
    from balances

),

balance_states as (

    select
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level,
        -- the parent's own part: records booked at the parent, or in no child of this level
        org_code as child_code,
        state,
        parent_share,
        case
            when split_kind <> 'rate_mix' then term
            when parent_share <> 0 then term / parent_share
        end as rate,
        term
    from balance_terms
    where coalesce(parent_share, 0) <> 0 or term <> 0

),

incomplete_breakdowns as (

    -- against target, every child needs a target of its own
    select distinct
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level
    from breakdown_sums
    where children_without_rate > 0

),

all_states as (

    select
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level,
        child_code,
        state,
        parent_share,
        rate,
        term
    from child_terms
    union all
    select
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level,
        child_code,
        state,
        parent_share,
        rate,
        term
    from balance_states

),

paired_states as (

    select
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level,
        child_code,
        coalesce(max(case when state = 0 then parent_share end), 0) as share_0,
        coalesce(max(case when state = 1 then parent_share end), 0) as share_1,
        max(case when state = 0 then rate end) as rate_0,
        max(case when state = 1 then rate end) as rate_1,
        coalesce(max(case when state = 0 then term end), 0) as term_0,
        coalesce(max(case when state = 1 then term end), 0) as term_1
    from all_states
    group by
        comparison,
        metric_name,
        period_start,
        org_level,
        org_code,
        child_level,
        child_code

),

effects as (

    select
        paired_states.*,
        parent_pairs.split_kind,
        parent_pairs.parent_value - parent_pairs.base_value as parent_change,
        (parent_pairs.base_value + parent_pairs.parent_value) / 2 as mean_parent_value
    from paired_states
    inner join parent_pairs
        on
            paired_states.comparison = parent_pairs.comparison
            and paired_states.metric_name = parent_pairs.metric_name
            and paired_states.period_start = parent_pairs.period_start
            and paired_states.org_level = parent_pairs.org_level
            and paired_states.org_code = parent_pairs.org_code
    where not exists (
        select 1
        from incomplete_breakdowns
        where
            incomplete_breakdowns.comparison = paired_states.comparison
            and incomplete_breakdowns.metric_name = paired_states.metric_name
            and incomplete_breakdowns.period_start = paired_states.period_start
            and incomplete_breakdowns.org_level = paired_states.org_level
            and incomplete_breakdowns.org_code = paired_states.org_code
            and incomplete_breakdowns.child_level = paired_states.child_level
    )

),

final as (

    select
        metric_name,
        period_start,
        comparison,
        org_level,
        org_code,
        child_level,
        child_code,
        case
            when split_kind <> 'rate_mix' then null
            when share_0 <> 0 and share_1 <> 0 then (share_0 + share_1) / 2 * (rate_1 - rate_0)
            -- a part with no share in either state (a numerator without a denominator)
            when share_0 = 0 and share_1 = 0 then term_1 - term_0
            -- present in one state only: its rate is its present rate, so no rate effect
            else 0.0
        end as rate_effect,
        case
            when split_kind <> 'rate_mix' then null
            -- an unchanged share (a center against target, by construction) has no mix effect
            when share_0 = share_1 then 0.0
            when share_0 <> 0 and share_1 <> 0
                then (share_1 - share_0) * ((rate_0 + rate_1) / 2 - mean_parent_value)
            else
                (share_1 - share_0) * (coalesce(rate_1, rate_0) - mean_parent_value)
                -- and any numerator without a denominator in the state it has no share in
                - case when share_0 = 0 then term_0 else 0.0 end
                + case when share_1 = 0 then term_1 else 0.0 end
        end as mix_effect,
        case
            when split_kind = 'rate_mix'
                then (term_1 - term_0) - mean_parent_value * (share_1 - share_0)
            else term_1 - term_0
        end as contribution,
        parent_change
    from effects

)

select * from final
