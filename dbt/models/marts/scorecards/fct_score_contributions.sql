{# Why a unit's score moved since the previous month, KPI by KPI: with w the re-normalised
    weight (0 when the KPI is left out or not in the month's profile) and g the sub-score,
    performance_effect = mean(w) x change of g and weight_effect = change of w x mean(g) (the
    value-management reference, section 2). They sum exactly to the change of the score,
    S1 - S0 = sum(w1 g1 - w0 g0). A KPI left out in one of the two months takes the sub-score
    of the other month, so its whole effect is a weight change. -#}

with

subscores as (

    select * from {{ ref('int_unit_kpis_scored') }}

),

scores as (

    select * from {{ ref('fct_unit_scores') }}
    where score is not null

),

weighted as (

    select
        org_level,
        org_code,
        period_start,
        metric_name,
        value,
        sub_score,
        missing_reason,
        case
            when is_missing then 0.0
            else
                base_weight / sum(case when not is_missing then base_weight end) over (
                    partition by org_level, org_code, period_start
                )
        end as weight
    from subscores

),

this_month as (

    select
        weighted.*,
        weighted.period_start as compared_month
    from weighted

),

last_month as (

    select
        weighted.*,
        cast({{ dbt.dateadd('month', 1, 'weighted.period_start') }} as date) as compared_month
    from weighted

),

paired as (

    select
        coalesce(this_month.org_level, last_month.org_level) as org_level,
        coalesce(this_month.org_code, last_month.org_code) as org_code,
        coalesce(this_month.compared_month, last_month.compared_month) as period_start,
        coalesce(this_month.metric_name, last_month.metric_name) as metric_name,
        this_month.value,
        this_month.sub_score,
        coalesce(this_month.weight, 0.0) as weight,
        this_month.missing_reason,
        last_month.sub_score as previous_sub_score,
        coalesce(last_month.weight, 0.0) as previous_weight,
        coalesce(this_month.sub_score, last_month.sub_score) as g1,
        coalesce(last_month.sub_score, this_month.sub_score) as g0
    from this_month
    full outer join last_month
        on
            this_month.org_level = last_month.org_level
            and this_month.org_code = last_month.org_code
            and this_month.compared_month = last_month.compared_month
            and this_month.metric_name = last_month.metric_name

),

effects as (

    -- a KPI left out in both months has no sub-score on either side, and no effect
    select
        paired.*,
        coalesce((paired.weight + paired.previous_weight) / 2.0 * (paired.g1 - paired.g0), 0.0)
            as performance_effect,
        coalesce((paired.weight - paired.previous_weight) * (paired.g1 + paired.g0) / 2.0, 0.0)
            as weight_effect
    from paired

),

final as (

    select
        paired.org_level,
        paired.org_code,
        paired.period_start,
        scores.profile_name,
        scores.profile_version,
        paired.metric_name,
        paired.value,
        paired.sub_score,
        paired.weight,
        paired.missing_reason,
        paired.previous_sub_score,
        paired.previous_weight,
        case when previous.score is not null then paired.performance_effect end
            as performance_effect,
        case when previous.score is not null then paired.weight_effect end as weight_effect,
        case
            when previous.score is not null
                then paired.performance_effect + paired.weight_effect
        end as contribution,
        scores.score - previous.score as score_change
    from effects as paired
    inner join scores
        on
            paired.org_level = scores.org_level
            and paired.org_code = scores.org_code
            and paired.period_start = scores.period_start
    left join scores as previous
        on
            paired.org_level = previous.org_level
            and paired.org_code = previous.org_code
            and paired.period_start
            = cast({{ dbt.dateadd('month', 1, 'previous.period_start') }} as date)
    -- a KPI of last month only is a row only when last month has a score to compare with
    where
        paired.sub_score is not null or paired.missing_reason is not null
        or previous.score is not null

)

select * from final
