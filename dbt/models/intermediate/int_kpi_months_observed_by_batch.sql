-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- Which months of which metrics each raw batch feeds: the index that lets fct_kpi_values
    recompute only the (metric, month) pairs a refresh touches without re-reading the history.
    Counted from the batches' day sums (int_kpi_day_sums), which generate the observations once.

    One row per batch of a batch-incremental fact and (metric, month) its records observe, with
    the number of observations (and one row with no metric for a batch that feeds none, so it is
    not looked at again). A batch's rows never change (a corrected file arrives as a new batch),
    so each run adds the batches it has not indexed, reading only their rows, and its post-hook
    (kpi_delete_gone_batch_months, set in dbt_project.yml) drops the batches that left their
    fact. -#}
{#- Incremental, unlike the rest of its folder (tables): the index grows batch by batch.
    Each row carries the definition digest of its metric (kpi_metric_digest) when it was
    indexed. When a metric's definition changes (a filter decides which records it observes),
    that metric alone is indexed again over every batch: the pre-hook
    (kpi_forget_redefined_metrics, set in dbt_project.yml) forgets its rows and this run
    appends the new ones, in the same transaction. Append, not delete+insert on _batch_id,
    which would drop the batch's rows of every other metric; a new batch is never in the index
    yet (new_batches), so appending it is safe. -#}
{{ config(**incremental_append_config(['_batch_id'])) }}

{{ kpi_depends_on() }}
-- depends_on: {{ ref('int_kpi_day_sums') }}

{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set index = kpi_semantic_index() if execute else {'models': {}} %}
{%- set scans = [] %}
{%- for scan in kpi_scans(specs, index) if scan.model.batched %}
    {%- do scans.append(scan) %}
{%- endfor %}
{%- set redefined = kpi_redefined_metrics(specs) if execute and is_incremental() else [] %}

with

digests as (

    {{ kpi_metric_digests(specs) }}

),

{%- for scan in scans %}

-- the fact's batches not indexed yet that int_kpi_day_sums has summed: one it has not (only
-- when this model is built alone, by hand) waits for it, rather than be indexed as observing
-- nothing
new_batches_{{ loop.index }} as (

    select distinct _batch_id
    from {{ ref(scan.model.node_name) }}
    where
        _batch_id in (
            select day_sums._batch_id
            from {{ ref('int_kpi_day_sums') }} as day_sums
            where day_sums.semantic_model = '{{ scan.model.name }}'
        )
        {%- if is_incremental() %}
        and _batch_id not in (
            select indexed._batch_id
            from {{ this }} as indexed
            where indexed.semantic_model = '{{ scan.model.name }}'
        )
        {%- endif %}

),

batches_{{ loop.index }} as (

    select
        '{{ scan.model.name }}' as semantic_model,
        _batch_id,
        any_value(_source_file) as _source_file
    from {{ ref(scan.model.node_name) }}
    where _batch_id in (select new_batches_{{ loop.index }}._batch_id from new_batches_{{ loop.index }})
    group by _batch_id

),

observed_{{ loop.index }} as (

    select
        day_sums.semantic_model,
        day_sums._batch_id,
        day_sums.metric_name,
        day_sums.period_start,
        day_sums.observations
    from {{ ref('int_kpi_day_sums') }} as day_sums
    where
        day_sums.semantic_model = '{{ scan.model.name }}'
        and day_sums.metric_name is not null
        and day_sums._batch_id in (
            select new_batches_{{ loop.index }}._batch_id from new_batches_{{ loop.index }}
        )

),

{#- the metrics whose definition changed, indexed again over the batches indexed before -#}
{%- set old_names = [] %}
{%- for item in scan['items'] if item.name in redefined and item.name not in old_names %}
    {%- do old_names.append(item.name) %}
{%- endfor %}

reindexed_{{ loop.index }} as (

    {%- if old_names %}
    select
        day_sums.semantic_model,
        day_sums._batch_id,
        any_value(sources._source_file) as _source_file,
        day_sums.metric_name,
        day_sums.period_start,
        cast(sum(day_sums.observations) as bigint) as observations
    from {{ ref('int_kpi_day_sums') }} as day_sums
    inner join (
        select distinct
            _batch_id,
            _source_file
        from {{ this }}
        where semantic_model = '{{ scan.model.name }}'
    ) as sources
        on day_sums._batch_id = sources._batch_id
    where
        day_sums.semantic_model = '{{ scan.model.name }}'
        and day_sums.metric_name in (
            {%- for name in old_names %}'{{ name }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        )
        and day_sums._batch_id not in (
            select new_batches_{{ loop.index }}._batch_id from new_batches_{{ loop.index }}
        )
    group by
        day_sums.semantic_model,
        day_sums._batch_id,
        day_sums.metric_name,
        day_sums.period_start
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as semantic_model,
        cast(null as {{ dbt.type_string() }}) as _batch_id,
        cast(null as {{ dbt.type_string() }}) as _source_file,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as date) as period_start,
        cast(0 as bigint) as observations
    where false
    {%- endif %}

),
{%- endfor %}

batches as (

    {%- for scan in scans %}
    select * from batches_{{ loop.index }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not scans %}
    select
        cast(null as {{ dbt.type_string() }}) as semantic_model,
        cast(null as {{ dbt.type_string() }}) as _batch_id,
        cast(null as {{ dbt.type_string() }}) as _source_file
    where false
    {%- endif %}

),

observed as (

    {%- for scan in scans %}
    select * from observed_{{ loop.index }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not scans %}
    select
        cast(null as {{ dbt.type_string() }}) as semantic_model,
        cast(null as {{ dbt.type_string() }}) as _batch_id,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as date) as period_start,
        cast(0 as bigint) as observations
    where false
    {%- endif %}

),

indexed as (

    select
        batches.semantic_model,
        batches._batch_id,
        batches._source_file,
        observed.metric_name,
        observed.period_start,
        cast(coalesce(sum(observed.observations), 0) as bigint) as observations
    from batches
    left join observed
        on
            batches.semantic_model = observed.semantic_model
            and batches._batch_id = observed._batch_id
    group by
        batches.semantic_model,
        batches._batch_id,
        batches._source_file,
        observed.metric_name,
        observed.period_start

    {%- for scan in scans %}
    union all
    select * from reindexed_{{ loop.index }}
    {%- endfor %}

),

final as (

    select
        indexed.semantic_model,
        indexed._batch_id,
        indexed._source_file,
        indexed.metric_name,
        indexed.period_start,
        indexed.observations,
        digests.metric_digest as definition_digest
    from indexed
    left join digests on indexed.metric_name = digests.metric_name

)

select * from final
