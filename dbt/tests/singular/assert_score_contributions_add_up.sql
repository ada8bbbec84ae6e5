{#- A score's change is split exactly: for every unit and month with a previous score, the
    KPIs' contributions sum to score_change (to 1e-9 points), and every row's performance and
    weight effects sum to its contribution. -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_score_contributions'}}}) }}

with

contributions as (

    select * from {{ ref('fct_score_contributions') }}
    where score_change is not null

),

units as (

    select
        org_level,
        org_code,
        period_start,
        sum(contribution) as contributions,
        min(score_change) as score_change,
        max(score_change) as score_change_max,
        max(abs(performance_effect + weight_effect - contribution)) as row_gap
    from contributions
    group by org_level, org_code, period_start

),

final as (

    select * from units
    where
        abs(contributions - score_change) > 1e-9
        or score_change_max <> score_change
        or row_gap > 1e-9

)

select * from final
