-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- Each raw batch's observations summed per metric, day, unit, center and segment: the KPI
    digests computed once, from the batches, when they arrive.

    Every record of a batch-incremental fact becomes one observation per metric it feeds
    (kpi_observation_select, 64 million at scale 1); the KPI models need only their sums and
    counts per day, unit and center (and segment, for fct_kpi_standardised), and the samples of
    percentile metrics, kept as an array. Until 2026-12 the observations were generated from
    the facts three times per build, in the index (int_kpi_months_observed_by_batch), in
    fct_kpi_values and in fct_kpi_standardised (16 s of a full build's dbt stage at scale 1 and
    42 s at scale 3, one after the other). Now they are generated here, once per batch, and
    the others read these sums: the index counts them per month, and fct_kpi_values and
    fct_kpi_standardised sum them again over the batches of the months they recompute.

    The segment is the value of the record's segmenting column (segment_column, from
    kpi_segments: fct_kpi_standardised's config.meta.segments) as text, null for a semantic
    model that is not segmented. A batch that observes nothing has one row without a metric, so
    it is not read again. -#}
{#- Incremental, appending the batches not summed yet, as the index: a batch's rows never
    change (a corrected file arrives as a new batch). The pre-hook (kpi_forget_redefined_metrics,
    dbt_project.yml) forgets the rows of a metric whose definition changed, or of every metric
    when the segmenting columns or the semantic models' expressions changed (definition_digest
    ends with their digest, kpi_day_sums_digest_suffix), and this run sums them again over
    every batch; the post-hook (kpi_delete_gone_batch_months) drops the batches that left
    their fact. -#}
{{ config(**incremental_append_config(['_batch_id'])) }}

{{ kpi_depends_on() }}

{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set index = kpi_semantic_index() if execute else {'models': {}} %}
{%- set segments = kpi_segments() %}
{%- set digest_suffix = kpi_day_sums_digest_suffix() if execute else '' %}
{%- set scans = [] %}
{%- for scan in kpi_scans(specs, index) if scan.model.batched %}
    {%- do scans.append(scan) %}
{%- endfor %}
{%- set redefined = kpi_redefined_metrics(specs, digest_suffix) if execute and is_incremental() else [] %}

with

digests as (

    {{ kpi_metric_digests(specs) }}

),

{%- for scan in scans %}
{%- set segment = segments.get(scan.model.node_name) %}

new_batches_{{ loop.index }} as (

    select distinct _batch_id
    from {{ ref(scan.model.node_name) }}
    {%- if is_incremental() %}
    where _batch_id not in (
        select summed._batch_id
        from {{ this }} as summed
        where summed.semantic_model = '{{ scan.model.name }}'
    )
    {%- endif %}

),

{%- set new_batches_of_scan -%}
    _batch_id in (select new_batches_{{ loop.index }}._batch_id from new_batches_{{ loop.index }})
{%- endset %}
{#- the metrics whose definition changed, summed again over the batches summed before -#}
{%- set old_items = [] %}
{%- for item in scan['items'] if item.name in redefined %}
    {%- do old_items.append(item) %}
{%- endfor %}
{%- set old_batches_of_scan -%}
    _batch_id not in (select new_batches_{{ loop.index }}._batch_id from new_batches_{{ loop.index }})
{%- endset %}

observed_{{ loop.index }} as (

    select
        observations._batch_id,
        observations.metric_name,
        observations.event_date,
        observations.org_code,
        observations.center_code,
        {%- if segment %}
        observations.segment,
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as segment,
        {%- endif %}
        observations.numerator,
        observations.denominator,
        observations.sample
    from (
        {{ kpi_observation_select(scan, row_filter=new_batches_of_scan, lineage=true,
            segment=segment) }}
        {%- if old_items %}
        union all
        {{ kpi_observation_select({'model': scan.model, 'items': old_items},
            row_filter=old_batches_of_scan, lineage=true, segment=segment) }}
        {%- endif %}
    ) as observations

),

summed_{{ loop.index }} as (

    select
        '{{ scan.model.name }}' as semantic_model,
        _batch_id,
        metric_name,
        cast({{ dbt.date_trunc('month', 'event_date') }} as date) as period_start,
        event_date,
        org_code,
        center_code,
        {%- if segment %}
        '{{ segment }}' as segment_column,
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as segment_column,
        {%- endif %}
        segment,
        count(*) as observations,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        count(numerator) as numerator_rows,
        count(sample) as sample_rows,
        -- null, not an empty array (Spark's collect_list), when no record has a sample
        case
            when count(sample) > 0 then array_agg(sample) filter (where sample is not null)
        end as samples
    from observed_{{ loop.index }}
    group by _batch_id, metric_name, event_date, org_code, center_code, segment

),

-- a new batch observing nothing: one row without a metric, so it is not read again
unobserving_{{ loop.index }} as (

    select
        '{{ scan.model.name }}' as semantic_model,
        new_batches_{{ loop.index }}._batch_id
    from new_batches_{{ loop.index }}
    where not exists (
        select 1
        from summed_{{ loop.index }}
        where summed_{{ loop.index }}._batch_id = new_batches_{{ loop.index }}._batch_id
    )

),
{%- endfor %}

summed as (

    {%- if scans %}
    {%- for scan in scans %}
    select * from summed_{{ loop.index }}
    union all
    {%- endfor %}
    {%- for scan in scans %}
    select
        semantic_model,
        _batch_id,
        null as metric_name,
        null as period_start,
        null as event_date,
        null as org_code,
        null as center_code,
        null as segment_column,
        null as segment,
        0 as observations,
        null as numerator,
        null as denominator,
        0 as numerator_rows,
        0 as sample_rows,
        null as samples
    from unobserving_{{ loop.index }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- else %}
    -- no batch-incremental fact feeds a KPI: no rows, with the columns' types (the samples an
    -- array, from an aggregate over no group)
    select
        cast(null as {{ dbt.type_string() }}) as semantic_model,
        cast(null as {{ dbt.type_string() }}) as _batch_id,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as date) as period_start,
        cast(null as date) as event_date,
        cast(null as {{ dbt.type_string() }}) as org_code,
        cast(null as {{ dbt.type_string() }}) as center_code,
        cast(null as {{ dbt.type_string() }}) as segment_column,
        cast(null as {{ dbt.type_string() }}) as segment,
        cast(0 as bigint) as observations,
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        cast(0 as bigint) as numerator_rows,
        cast(0 as bigint) as sample_rows,
        array_agg(nothing.sample) as samples
    from (select cast(null as double) as sample) as nothing
    where false
    group by nothing.sample
    {%- endif %}

),

final as (

    select
        summed.*,
        case
            when summed.metric_name is not null
                then digests.metric_digest || '{{ digest_suffix }}'
        end as definition_digest
    from summed
    left join digests on summed.metric_name = digests.metric_name

)

select * from final
