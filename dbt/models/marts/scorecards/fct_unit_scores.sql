-- Rendered from Jinja loops over the weight profiles: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# The composite score of every unit and month: S = sum of w_k g_k over the KPIs of the unit's
    profile that have a sub-score, the weights re-normalised over those (a missing KPI is left
    out, never counted as 0, and the score is flagged partial). Ranks among the siblings (same
    parent in the org tree version of the month; the centers rank among the centers) and across
    the tier, ties sharing the better rank on scores rounded to 1e-9. The rank band is the
    lowest to the highest sibling rank over the profile's own weights and `draws` re-draws of
    every weight within +-weight_spread (scorecard_draw_factors): the OECD/JRC sensitivity
    test of a composite indicator. -#}
{%- set scorecards = scorecard_config() if execute else {} %}
{%- set keys = [] %}
{%- for r in (scorecard_profile_kpis(scorecards) if execute else []) %}
    {%- do keys.append(r[9]) %}
{%- endfor %}

with

subscores as (

    select * from {{ ref('int_unit_kpis_scored') }}

),

profiles as (

    select distinct
        profile_name,
        profile_version
    from {{ ref('dim_score_profiles') }}

),

org_versions as (

    select * from {{ ref('dim_org') }}

),

unit_scores as (

    select
        org_level,
        org_code,
        period_start,
        profile_name,
        sum(case when not is_missing then base_weight * sub_score end)
        / sum(case when not is_missing then base_weight end) as score,
        sum(case when is_missing then 1 else 0 end) > 0 as is_partial,
        sum(case when is_missing then 0 else 1 end) as kpis_scored,
        count(*) as kpis_in_profile
    from subscores
    group by org_level, org_code, period_start, profile_name

),

-- the parent a unit has in the month: of the org versions overlapping it, the latest
parents as (

    select
        org_code,
        period_start,
        parent_code
    from (
        select
            unit_scores.org_code,
            unit_scores.period_start,
            org_versions.parent_code,
            row_number() over (
                partition by unit_scores.org_code, unit_scores.period_start
                order by org_versions.valid_from desc
            ) as version_rank
        from unit_scores
        inner join org_versions
            on
                unit_scores.org_code = org_versions.org_code
                and org_versions.valid_from < cast({{ dbt.dateadd('month', 1, 'unit_scores.period_start') }} as date)
                and coalesce(org_versions.valid_to, date '9999-12-31') > unit_scores.period_start
        where unit_scores.org_level <> 'center'
    ) as overlapping
    where version_rank = 1

),

placed as (

    select
        unit_scores.*,
        -- the centers are one set of siblings; the group has none
        coalesce(parents.parent_code, unit_scores.org_level) as sibling_set
    from unit_scores
    left join parents
        on
            unit_scores.org_code = parents.org_code
            and unit_scores.period_start = parents.period_start

),

draw_factors as (

    {{ scorecard_draw_factors(scorecards.get('rank_stability') or {}, keys) }}

),

drawn_scores as (

    select
        subscores.org_level,
        subscores.org_code,
        subscores.period_start,
        draw_factors.draw_id,
        sum(subscores.base_weight * draw_factors.weight_factor * subscores.sub_score)
        / sum(subscores.base_weight * draw_factors.weight_factor) as draw_score
    from subscores
    inner join draw_factors on subscores.metric_key = draw_factors.metric_key
    where not subscores.is_missing
    group by subscores.org_level, subscores.org_code, subscores.period_start, draw_factors.draw_id

),

drawn_ranks as (

    select
        drawn_scores.org_level,
        drawn_scores.org_code,
        drawn_scores.period_start,
        drawn_scores.draw_id,
        rank() over (
            partition by
                drawn_scores.org_level, drawn_scores.period_start, drawn_scores.draw_id,
                placed.sibling_set
            order by round(drawn_scores.draw_score, 9) desc
        ) as sibling_rank,
        rank() over (
            partition by drawn_scores.org_level, drawn_scores.period_start, drawn_scores.draw_id
            order by round(drawn_scores.draw_score, 9) desc
        ) as tier_rank
    from drawn_scores
    inner join placed
        on
            drawn_scores.org_level = placed.org_level
            and drawn_scores.org_code = placed.org_code
            and drawn_scores.period_start = placed.period_start

),

rank_bands as (

    select
        org_level,
        org_code,
        period_start,
        sum(case when draw_id = 0 then sibling_rank else 0 end) as rank_in_siblings,
        sum(case when draw_id = 0 then tier_rank else 0 end) as rank_in_tier,
        min(sibling_rank) as rank_band_low,
        max(sibling_rank) as rank_band_high,
        min(tier_rank) as tier_rank_band_low,
        max(tier_rank) as tier_rank_band_high,
        count(*) - 1 as rank_draws
    from drawn_ranks
    group by org_level, org_code, period_start

),

final as (

    select
        placed.org_level,
        placed.org_code,
        placed.period_start,
        placed.profile_name,
        profiles.profile_version,
        placed.score,
        {{ scorecard_grade(scorecards, 'placed.score', 'placed.profile_name') }} as grade,
        cast(rank_bands.rank_in_siblings as integer) as rank_in_siblings,
        cast(rank_bands.rank_in_tier as integer) as rank_in_tier,
        cast(rank_bands.rank_band_low as integer) as rank_band_low,
        cast(rank_bands.rank_band_high as integer) as rank_band_high,
        placed.is_partial,
        cast(placed.kpis_scored as integer) as kpis_scored,
        cast(placed.kpis_in_profile as integer) as kpis_in_profile,
        case when placed.org_level = 'center' then null else parents.parent_code end
            as parent_code,
        cast(rank_bands.tier_rank_band_low as integer) as tier_rank_band_low,
        cast(rank_bands.tier_rank_band_high as integer) as tier_rank_band_high,
        cast(rank_bands.rank_draws as integer) as rank_draws
    from placed
    inner join profiles on placed.profile_name = profiles.profile_name
    left join rank_bands
        on
            placed.org_level = rank_bands.org_level
            and placed.org_code = rank_bands.org_code
            and placed.period_start = rank_bands.period_start
    left join parents
        on
            placed.org_code = parents.org_code
            and placed.period_start = parents.period_start

)

select * from final
