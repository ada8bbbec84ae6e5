-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- Mix-standardised comparison (the value-management reference, section 4): each unit's rate
    at the group's mix over a segmenting dimension, next to its raw rate, and both ranks among
    the units of its tier.

    R_u^std = sum_j S_j r_uj / sum_j S_j over the segments j the unit has (D_uj > 0), with S_j
    the group's share of the denominator in segment j and r_uj = N_uj / D_uj the unit's own rate
    there. A unit without a segment the group has is standardised over the segments it has
    (mix_coverage says how much of the group's mix that is), not given a rate it does not have.
    The raw value is the published one (fct_kpi_values.value), which equals sum_j s_uj r_uj at
    the unit's own mix s_uj.

    Which semantic model is segmented by which column is config.meta.segments of this model
    (_attribution__models.yml), the one place it is written: product line for claims and
    policies, channel for applications and contacts. The metrics: every KPI rate (a ratio or a
    mean) whose numerator and denominator are both read from one segmented model. Observations
    come from the same macros as fct_kpi_values (kpi_observation_select: for the detail facts
    once per batch, summed per day and segment in int_kpi_day_sums), attributed to the org
    tree valid on the event's date, records without an org counting for the group, and rolled
    up to every tier and to the handling centers. Records without a segment value form their own
    segment ('(none)'), so the segments always make up the unit. -#}

{#- Incremental by month, as fct_kpi_values: a (metric, month) pair's rows depend on that month's
    observations, the org tree and the metric's direction alone, which the pair's input_digest in
    int_kpi_months_fingerprinted fingerprints. A run recomputes the pairs whose digest is not the
    one their rows carry (kpi_pairs_to_recompute: on Spark, whole months), reading only the
    batches that observe them, and every pair of a month holding rows of a metric whose segmenting
    dimension changed or that is no longer standardised (an edit of config.meta.segments). The
    post-hook (kpi_standardised_delete_stale, dbt_project.yml) removes the rows of pairs whose
    inputs are gone and of metrics no longer standardised. Until 2026-12 the model was a table
    rebuilt from every fact on every run, refreshes included: 7.5 s of dbt node time at scale 1
    on an idle machine; 1.4 s now in a one-day refresh. -#}
{{ config(**incremental_by_key_config(['metric_name', 'period_start'], ['period_start'])) }}

{#- Static dependencies for dbt's DAG: the models the semantic models rest on (the scans
    ref() them by names known only when the model runs). -#}
{{ kpi_depends_on() }}

{%- set segments = (config.get('meta') or {}).get('segments') or {} %}
{%- set standardisation = kpi_standardisation(segments) if execute else {'scans': [], 'metrics': {}} %}
{%- set scans = standardisation.scans %}
{%- set standardised = standardisation.metrics %}
{{ kpi_check_day_sums_segments(scans, segments) }}

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

metric_segments (metric_name, segment_dimension) as (

    {%- if standardised %}
    values
    {%- for metric, dimension in standardised | dictsort %}
        ({{ kpi_sql_literal(metric) }}, {{ kpi_sql_literal(dimension) }}){% if not loop.last %},{% endif %}
    {%- endfor %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }})
    where false
    {%- endif %}

),

month_inputs as (

    select inputs.*
    from {{ ref('int_kpi_months_fingerprinted') }} as inputs
    inner join metric_segments on inputs.metric_name = metric_segments.metric_name

),

changed_months as (

    select
        metric_name,
        period_start,
        input_digest
    from month_inputs
    {%- if is_incremental() %}
    where
        ({{ kpi_pairs_to_recompute('month_inputs') }})
        or period_start in (
            select kept.period_start
            from {{ this }} as kept
            left join metric_segments
                on
                    kept.metric_name = metric_segments.metric_name
                    and kept.segment_dimension = metric_segments.segment_dimension
            where metric_segments.metric_name is null
        )
    {%- endif %}

),

changed_batches as (

    {{ kpi_batches_observing('changed_months') }}

),

-- the detail facts' observations summed per day, unit, center and segment once per batch
-- (int_kpi_day_sums, segmented by this model's config.meta.segments), the month-end
-- snapshots' read here; summed per day, unit, center and segment before the org tree is
-- joined: what follows needs only sums
{%- set table_scans = [] %}
{%- for scan in scans if not scan.model.batched %}
    {%- do table_scans.append(scan) %}
{%- endfor %}

table_observations as (

    {%- for scan in table_scans %}
    {{ kpi_observation_select(scan, segment=segments[scan.model.node_name]) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not table_scans %}
    select
        cast(null as {{ dbt.type_string() }}) as org_code,
        cast(null as {{ dbt.type_string() }}) as center_code,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as date) as event_date,
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        cast(null as double) as sample,
        cast(null as {{ dbt.type_string() }}) as segment
    where false
    {%- endif %}

),

observed_days as (

    select
        metric_name,
        period_start,
        segment,
        org_code,
        center_code,
        event_date,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from (
        select
            day_sums.metric_name,
            day_sums.period_start,
            coalesce(day_sums.segment, '(none)') as segment,
            day_sums.org_code,
            day_sums.center_code,
            day_sums.event_date,
            day_sums.numerator,
            day_sums.denominator
        {{ kpi_day_sums_recomputed('changed_batches', 'changed_months') }}
        union all
        select
            metric_name,
            cast({{ dbt.date_trunc('month', 'event_date') }} as date) as period_start,
            coalesce(segment, '(none)') as segment,
            org_code,
            center_code,
            event_date,
            numerator,
            denominator
        from table_observations
    ) as summed_days
    group by metric_name, period_start, segment, org_code, center_code, event_date

),

group_root as (

    select any_value(org_code) as org_code
    from org_versions
    where org_level = 'group' and is_current

),

attributed as (

    -- as fct_kpi_values attributes them (macros/kpi_rollup.sql)
    {{ kpi_attributed_select('observed_days', 'changed_months', 'org_versions', 'group_root',
        ['metric_name', 'period_start', 'segment', 'numerator', 'denominator']) }}

),

unit_segments as (

    -- each unit's numerator and denominator in each segment, at every tier
    select
        metric_name,
        period_start,
        segment,
        {{ kpi_rollup_unit_columns() }},
        coalesce(sum(numerator), 0) as numerator,
        sum(denominator) as denominator
    from attributed
    group by {{ kpi_rollup_grouping_sets(['metric_name', 'period_start', 'segment']) }}  -- noqa: PRS

),

group_mix as (

    -- S_j: the group's share of the denominator in each segment
    select
        metric_name,
        period_start,
        segment,
        denominator / sum(denominator) over (partition by metric_name, period_start)
            as group_share
    from unit_segments
    where org_level = 'group' and denominator > 0

),

standardised as (

    select
        unit_segments.metric_name,
        unit_segments.period_start,
        unit_segments.org_level,
        unit_segments.org_code,
        count(*) as segments,
        sum(group_mix.group_share) as mix_coverage,
        sum(group_mix.group_share * unit_segments.numerator / unit_segments.denominator)
        / sum(group_mix.group_share) as standardised_value
    from unit_segments
    inner join group_mix
        on
            unit_segments.metric_name = group_mix.metric_name
            and unit_segments.period_start = group_mix.period_start
            and unit_segments.segment = group_mix.segment
    where unit_segments.org_code is not null and unit_segments.denominator > 0
    group by
        unit_segments.metric_name,
        unit_segments.period_start,
        unit_segments.org_level,
        unit_segments.org_code

),

compared as (

    select
        standardised.metric_name,
        standardised.period_start,
        standardised.org_level,
        standardised.org_code,
        metric_segments.segment_dimension,
        changed_months.input_digest,
        standardised.segments,
        standardised.mix_coverage,
        kpi_values.value as raw_value,
        standardised.standardised_value,
        standardised.standardised_value - kpi_values.value as mix_adjustment,
        catalog.direction
    from standardised
    inner join metric_segments on standardised.metric_name = metric_segments.metric_name
    inner join changed_months
        on
            standardised.metric_name = changed_months.metric_name
            and standardised.period_start = changed_months.period_start
    inner join catalog on standardised.metric_name = catalog.metric_name
    inner join kpi_values
        on
            standardised.metric_name = kpi_values.metric_name
            and standardised.period_start = kpi_values.period_start
            and standardised.org_level = kpi_values.org_level
            and standardised.org_code = kpi_values.org_code
    where kpi_values.value is not null

),

final as (

    -- ranks among the units of the tier, 1 the best in the metric's direction
    select
        metric_name,
        period_start,
        org_level,
        org_code,
        segment_dimension,
        segments,
        mix_coverage,
        raw_value,
        standardised_value,
        mix_adjustment,
        -- rank() is a bigint in DuckDB and an int in Spark: the contract's bigint on both.
        -- Values equal to 9 decimals share a rank: a weighted sum of rates carries float noise
        -- in its last bits that differs between engines (1.0 here, 0.9999999999999999 there).
        cast(rank() over (
            partition by metric_name, period_start, org_level
            order by
                round(
                    case when direction = 'lower_is_better' then raw_value else -raw_value end, 9
                )
        ) as bigint) as raw_rank,
        cast(rank() over (
            partition by metric_name, period_start, org_level
            order by
                round(
                    case
                        when direction = 'lower_is_better' then standardised_value
                        else -standardised_value
                    end,
                    9
                )
        ) as bigint) as standardised_rank,
        count(*) over (partition by metric_name, period_start, org_level) as units_ranked,
        input_digest,
        '{{ invocation_id }}' as _dbt_invocation_id
    from compared

)

select * from final
