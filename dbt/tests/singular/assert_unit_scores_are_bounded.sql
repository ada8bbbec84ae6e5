{#- Scores lie in 0..100, a scored unit has a grade and ranks inside its rank band, and an
    unscored unit (no KPI with a sub-score) is partial with no grade or rank: never a 0. -#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_unit_scores'}}}) }}

with

scores as (

    select * from {{ ref('fct_unit_scores') }}

),

final as (

    select * from scores
    where
        (score is not null and (
            score < 0 or score > 100
            or grade is null
            or rank_in_siblings < rank_band_low or rank_in_siblings > rank_band_high
            or rank_in_tier < tier_rank_band_low or rank_in_tier > tier_rank_band_high
            or rank_in_siblings > rank_in_tier
            or kpis_scored = 0
        ))
        or (score is null and (not is_partial or grade is not null or rank_in_tier is not null))
        or (is_partial <> (kpis_scored < kpis_in_profile))

)

select * from final
