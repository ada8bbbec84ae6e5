{#-
  The composite scorecards' configuration, read from the weight profiles file
  (models/marts/scorecards/_scorecards__profiles.yml, config.meta.scorecards of
  dim_score_profiles) when the models compile, like the metric definitions.
-#}

{#- Park-Miller modulus and multiplier: the rank-stability draws are integer arithmetic below
    2^47, so every engine computes the same uniform numbers from (seed, draw, metric). -#}
{% macro scorecard_modulus() %}{{ return(2147483647) }}{% endmacro %}
{% macro scorecard_multiplier() %}{{ return(48271) }}{% endmacro %}


{% macro scorecard_config() %}
    {%- set node = graph.nodes.get('model.opsvalue.dim_score_profiles') -%}
    {%- if not node -%}
        {{ return({}) }}
    {%- endif -%}
    {{ return((node.config.meta or {}).get('scorecards') or {}) }}
{% endmacro %}


{% macro scorecard_metric_key(metric_name) %}
    {#- A metric's integer key in the draws: the first 7 hex digits of the md5 of its name. -#}
    {{ return(local_md5(metric_name)[:7] | int(0, 16)) }}
{% endmacro %}


{% macro scorecard_profile_kpis(scorecards) %}
    {#- One row per profile, tier, stage and KPI:
        [profile, org_level, unit_type, stage, metric, direction, method, weight, min_base, key] -#}
    {%- set specs = kpi_metric_specs() -%}
    {%- set rows = [] -%}
    {%- for profile in scorecards.get('profiles') or [] -%}
        {%- for tier in profile.tiers -%}
            {%- for stage in profile.stages -%}
                {%- for kpi in profile.kpis -%}
                    {%- set spec = specs.get(kpi.metric) or {'meta': {}} -%}
                    {%- do rows.append([profile.name, tier, profile.unit_type, stage, kpi.metric,
                        spec.meta.get('direction'), kpi.method, kpi.weight,
                        kpi.get('min_base', profile.get('min_base', 0)),
                        scorecard_metric_key(kpi.metric)]) -%}
                {%- endfor -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(rows) }}
{% endmacro %}


{% macro scorecard_stage(scorecards, date_column) %}
    {#- The year's leading goal for a month: the by_year entry of its year, else the default. -#}
    {%- set stages = scorecards.get('stages') or {} -%}
    {%- set by_year = stages.get('by_year') or {} -%}
    case cast(extract(year from {{ date_column }}) as integer)
        {%- for year, stage in by_year.items() %}
        when {{ year | int }} then {{ kpi_sql_literal(stage) }}
        {%- endfor %}
        else {{ kpi_sql_literal(stages.get('default')) }}
    end
{%- endmacro %}


{% macro scorecard_grade(scorecards, score_column, profile_column) %}
    {#- The grade band of a score in its profile: `from` included, `to` excluded except 100. -#}
    case
        {%- for profile in scorecards.get('profiles') or [] %}
        {%- for band in profile.bands %}
        when {{ profile_column }} = {{ kpi_sql_literal(profile.name) }}
            and {{ score_column }} >= {{ band['from'] }}
            and {{ score_column }} {{ '<=' if band['to'] >= 100 else '<' }} {{ band['to'] }}
            then {{ kpi_sql_literal(band.grade) }}
        {%- endfor %}
        {%- endfor %}
    end
{%- endmacro %}


{% macro scorecard_draw_factors(rank_stability, metric_keys) %}
    {#- One row per draw (0 = the profile's own weights, 1..draws re-drawn) and metric key: the
        factor in [1 - spread, 1 + spread) that draw applies to the metric's weight. The uniform
        number is a Park-Miller (Lehmer) hash of (seed, draw, metric): integer arithmetic, the
        same on every engine. -#}
    {%- set m = scorecard_modulus() -%}
    {%- set a = scorecard_multiplier() -%}
    {%- set seed = ((rank_stability.get('seed', 0) | int) * 31) % m -%}
    {%- set spread = rank_stability.get('weight_spread', 0.2) -%}
    {%- set draws = rank_stability.get('draws', 200) | int -%}
    select
        hashed.draw_id,
        hashed.metric_key,
        case
            when hashed.draw_id = 0 then 1.0
            else 1.0 + {{ spread }} * (2.0 * hashed.x5 / {{ m }} - 1.0)
        end as weight_factor
    from (
        select
            x4.draw_id,
            x4.metric_key,
            (x4.x4 * {{ a }}) % {{ m }} as x5
        from (
            select
                x3.draw_id,
                x3.metric_key,
                (x3.x3 * {{ a }}) % {{ m }} as x4
            from (
                select
                    x2.draw_id,
                    x2.metric_key,
                    (x2.x2 + x2.metric_key) % {{ m }} as x3
                from (
                    select
                        draws.draw_id,
                        metric_keys.metric_key,
                        ((cast({{ seed }} as bigint) + draws.draw_id) % {{ m }}) * {{ a }} % {{ m }}
                            as x2
                    from (
                        {%- for d in range(draws + 1) %}
                        select cast({{ d }} as bigint) as draw_id
                        {%- if not loop.last %} union all{% endif %}
                        {%- endfor %}
                    ) as draws
                    cross join (
                        {%- for key in metric_keys | unique | sort %}
                        select cast({{ key }} as bigint) as metric_key
                        {%- if not loop.last %} union all{% endif %}
                        {%- endfor %}
                    ) as metric_keys
                ) as x2
            ) as x3
        ) as x4
    ) as hashed
{%- endmacro %}
