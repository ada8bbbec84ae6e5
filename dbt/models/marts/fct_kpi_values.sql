-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- (RF04: `value` is the published column name, also in the cascade CTEs a macro renders.)
-- noqa: disable=LT02,LT05,RF04
{# The published KPI table, computed from the governed metric definitions (the semantic-layer
    YAML in each owner's folder) by the kpi_* macros: one scan per semantic model turns every
    record into per-metric observations, summed per day, unit and center (for the detail facts
    once per batch, in int_kpi_day_sums). Those sums are attributed to the org tree version
    valid on the day, summed again per unit path and rolled up to all tiers in one grouping-sets
    pass. Ratios are sums of numerators over sums of denominators at every level; percentiles
    are recomputed from the detail rows, whose samples travel as an array per day and per unit
    path and become rows again for the grouping sets; snapshot measures are taken at the month
    end. -#}

{#- Incremental by month: the KPIs of a metric and month are a function of that month's
    observations and the org tree alone (no window reaches across months), so a run recomputes
    only the (metric, month) pairs whose inputs changed. `input_digest` fingerprints those inputs
    (int_kpi_months_fingerprinted: the batches that observe the pair, from
    int_kpi_months_observed_by_batch, which indexes each batch once, when it arrives; the
    month-end snapshots' and monthly extracts' observations; the org tree). Pairs whose digest matches the stored one are left alone; for
    the others, only the day sums of the batches that observe them are read again. Late records, corrected
    files, month-end snapshots and reorganisations all show up as changed digests. The post-hook
    (kpi_delete_stale_pairs, dbt_project.yml) drops rows whose pair left the inputs or was
    recomputed to no row (a file re-delivered empty): delete+insert alone only replaces the pairs
    it writes. -#}
{#- On Spark the table is partitioned by month, and a month is recomputed whole
    (kpi_pairs_to_recompute): a partition per pair would be hundreds of tiny files. -#}
{{ config(**incremental_by_key_config(['metric_name', 'period_start'], ['period_start'])) }}

{#- Static dependencies for dbt's DAG: every model a semantic model rests on. -#}
{{ kpi_depends_on() }}

{%- if execute %}
    {%- set specs = kpi_metric_specs() %}
{%- else %}
    {%- set specs = {} %}
{%- endif %}
{%- set index = kpi_semantic_index() if execute else {'models': {}} %}
{%- set unit_path = kpi_unit_path() %}
{%- set percentiles = [] %}
{%- for spec in specs.values() if spec.kind == 'percentile' %}
    {%- if spec.percentile not in percentiles %}
        {%- do percentiles.append(spec.percentile) %}
    {%- endif %}
{%- endfor %}

with

month_inputs as (

    select * from {{ ref('int_kpi_months_fingerprinted') }}

),

org_versions as (

    select * from {{ ref('dim_org') }}

),

table_observations as (

    {{ kpi_table_observations(specs, index) }}

),

changed_months as (

    select
        metric_name,
        period_start,
        input_digest
    from month_inputs
    {%- if is_incremental() %}
    where ({{ kpi_pairs_to_recompute('month_inputs') }})
    -- a month's cascaded targets rest on the same month a year before (fct_unit_targets)
    or exists (
        select 1
        from month_inputs as last_year
        where
            last_year.metric_name = month_inputs.metric_name
            and last_year.period_start
            = cast({{ dbt.dateadd('month', -12, 'month_inputs.period_start') }} as date)
            and not exists (
                select 1
                from {{ this }} as published
                where
                    published.metric_name = last_year.metric_name
                    and published.period_start = last_year.period_start
                    and published.input_digest = last_year.input_digest
            )
    )
    {%- endif %}

),

changed_batches as (

    {{ kpi_batches_observing('changed_months') }}

),

-- The batches' observations, summed per day, unit, center and segment when they arrived
-- (int_kpi_day_sums), of the (metric, month) pairs recomputed, summed again over the segments
-- and the batches;
-- the month-end snapshots' and monthly extracts' observations (small) summed here. Everything
-- after needs only these sums and counts, and the samples of percentile metrics (only they
-- have any), kept as an array per day. A full build at scale 1 has 64 million observations and
-- 2 million such rows to attribute.
batch_days as (

    select
        day_sums.metric_name,
        day_sums.period_start,
        day_sums.org_code,
        day_sums.center_code,
        day_sums.event_date,
        day_sums.numerator,
        day_sums.denominator,
        day_sums.numerator_rows,
        day_sums.sample_rows,
        day_sums.samples
    {{ kpi_day_sums_recomputed('changed_batches', 'changed_months') }}

),

table_days as (

    select
        metric_name,
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as period_start,
        org_code,
        center_code,
        event_date,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        count(numerator) as numerator_rows,
        count(sample) as sample_rows,
        array_agg(sample) filter (where sample is not null) as samples
    from table_observations
    group by metric_name, org_code, center_code, event_date

),

observed_days as (

    select
        metric_name,
        period_start,
        org_code,
        center_code,
        event_date,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        sum(numerator_rows) as numerator_rows,
        sum(sample_rows) as sample_rows,
        flatten(array_agg(samples) filter (where samples is not null)) as samples
    from (
        select * from batch_days
        union all
        select * from table_days
    ) as summed_days
    group by metric_name, period_start, org_code, center_code, event_date

),

group_root as (

    select any_value(org_code) as org_code
    from org_versions
    where org_level = 'group' and is_current

),

attributed as (

    {{ kpi_attributed_select('observed_days', 'changed_months', 'org_versions', 'group_root',
        ['metric_name', 'period_start', 'numerator', 'denominator', 'numerator_rows',
            'sample_rows', 'samples']) }}

),

-- Summed again per unit path (its five units), so that the grouping sets below sum a few
-- thousand rows per month rather than every observation once per tier (at scale 1 the full
-- build's select took 9.8 s, grouping 64 million rows five times; with observed_days, 5.9 s).
-- Percentiles cannot be summed: each path keeps its samples, and they reach the grouping sets
-- one row each. `attributed` is read once: read twice, DuckDB would store it.
unit_sums as (

    select
        metric_name,
        period_start,
        {%- for unit in unit_path %}
        {{ unit }},
        {%- endfor %}
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        sum(numerator_rows) as numerator_rows,
        sum(sample_rows) as sample_rows,
        flatten(array_agg(samples) filter (where samples is not null)) as samples
    from attributed
    group by
        metric_name,
        period_start,
        {%- for unit in unit_path %}
        {{ unit }}{% if not loop.last %},{% endif %}
        {%- endfor %}

),

rollup_inputs as (

    select
        metric_name,
        period_start,
        {%- for unit in unit_path %}
        {{ unit }},
        {%- endfor %}
        numerator,
        denominator,
        numerator_rows,
        sample_rows,
        cast(null as double) as sample
    from unit_sums
    union all
    select
        unit_sums.metric_name,
        unit_sums.period_start,
        {%- for unit in unit_path %}
        unit_sums.{{ unit }},
        {%- endfor %}
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        0 as numerator_rows,
        0 as sample_rows,
        unit_samples.sample
    from unit_sums
    {{ unnested_rows('unit_sums.samples', 'unit_samples', 'sample') }}

),

rolled_up as (

    select
        metric_name,
        period_start,
        {{ kpi_rollup_unit_columns() }},
        -- a unit with denominator records but no qualifying numerator record has numerator 0
        coalesce(sum(numerator), 0) as numerator,
        sum(denominator) as denominator,
        sum(numerator_rows) as numerator_rows,
        {%- if percentiles %}
        {{ percentile_columns('sample', percentiles, 'quantiles') }},
        {%- endif %}
        sum(sample_rows) as sample_rows
    from rollup_inputs
    group by {{ kpi_rollup_grouping_sets(['metric_name', 'period_start']) }}  -- noqa: PRS

),

valued as (

    select
        metric_name,
        period_start,
        org_level,
        org_code,
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind == 'percentile' %} null
            {%- elif spec.kind == 'additive' %} numerator
            {%- else %} numerator
            {%- endif %}
            {%- endfor %}
        end as numerator,
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind in ('percentile', 'additive') %} null
            {%- else %} denominator
            {%- endif %}
            {%- endfor %}
        end as denominator,
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind == 'percentile' %}
                {{ percentile_column('quantiles', percentiles.index(spec.percentile) + 1) }}
            {%- elif spec.kind == 'additive' %}
                numerator
            {%- elif spec.kind == 'derived' %}
                case when denominator <> 0 then {{ spec.value }} end
            {%- else %}
                case when denominator <> 0 then numerator / denominator end
            {%- endif %}
            {%- endfor %}
        end as value,  -- noqa: RF04
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind == 'percentile' %} sample_rows > 0
            {%- elif spec.kind == 'additive' %} numerator_rows > 0
            {%- else %} coalesce(denominator, 0) > 0
            {%- endif %}
            {%- endfor %}
        end as has_value
    from rolled_up
    where org_code is not null

),

versions as (

    select
        metric_name,
        definition_version
    from {{ ref('dim_metric_catalog') }}

),

targets as (

    select * from {{ ref('dim_metric_targets') }}

),

-- each org unit's own target, cascaded from the group's (macros/target_cascade.sql): from last
-- year's values, recomputed in this run or kept from earlier ones
cascade_values as (

    select
        metric_name,
        period_start,
        org_level,
        org_code,
        denominator,
        value
    from valued
    where has_value and org_level <> 'center'
    {%- if is_incremental() %}
    union all
    select
        kept.metric_name,
        kept.period_start,
        kept.org_level,
        kept.org_code,
        kept.denominator,
        kept.value
    from {{ this }} as kept
    where
        kept.org_level <> 'center'
        and not exists (
            select 1
            from changed_months
            where
                changed_months.metric_name = kept.metric_name
                and changed_months.period_start = kept.period_start
        )
    {%- endif %}

),

cascade_months as (

    select
        metric_name,
        period_start
    from changed_months

),

cascade_org as (

    select * from org_versions

),

{{ target_cascade_ctes() }}

unit_targets as (

    select
        valued.metric_name,
        valued.period_start,
        valued.org_level,
        valued.org_code,
        targets.direction,
        coalesce(cascaded_targets.target, targets.target) as target,
        coalesce(cascaded_targets.red_threshold, targets.red_threshold) as red_threshold
    from valued
    inner join targets
        on
            valued.metric_name = targets.metric_name
            and valued.org_level = targets.org_level
    left join cascaded_targets
        on
            valued.metric_name = cascaded_targets.metric_name
            and valued.period_start = cascaded_targets.period_start
            and valued.org_level = cascaded_targets.org_level
            and valued.org_code = cascaded_targets.org_code

),

final as (

    select
        valued.metric_name,
        valued.period_start,
        valued.org_level,
        valued.org_code,
        valued.numerator,
        valued.denominator,
        -- `value` is the published column name analysts and dashboards query
        valued.value,  -- noqa: RF04
        versions.definition_version,
        targets.target,
        targets.red_threshold,
        case
            when targets.target is null or valued.value is null then null
            when targets.direction = 'higher_is_better' and valued.value >= targets.target
                then 'green'
            when targets.direction = 'higher_is_better' and valued.value >= targets.red_threshold
                then 'amber'
            when targets.direction = 'higher_is_better' then 'red'
            when targets.direction = 'lower_is_better' and valued.value <= targets.target
                then 'green'
            when targets.direction = 'lower_is_better' and valued.value <= targets.red_threshold
                then 'amber'
            when targets.direction = 'lower_is_better' then 'red'
        end as status,
        changed_months.input_digest,
        '{{ invocation_id }}' as _dbt_invocation_id
    from valued
    inner join versions on valued.metric_name = versions.metric_name
    inner join changed_months
        on
            valued.metric_name = changed_months.metric_name
            and valued.period_start = changed_months.period_start
    left join unit_targets as targets
        on
            valued.metric_name = targets.metric_name
            and valued.period_start = targets.period_start
            and valued.org_level = targets.org_level
            and valued.org_code = targets.org_code
    where valued.has_value

)

select * from final
