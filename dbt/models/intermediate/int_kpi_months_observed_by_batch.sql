-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- Which months of which metrics each raw batch feeds: the index that lets fct_kpi_values
    recompute only the (metric, month) pairs a refresh touches without re-reading the history.

    One row per batch of a batch-incremental fact and (metric, month) its records observe, with
    the number of observations (and one row with no metric for a batch that feeds none, so it is
    not looked at again). A batch's rows never change (a corrected file arrives as a new batch),
    so each run adds the batches it has not indexed, reading only their rows, and its post-hook
    (kpi_delete_gone_batch_months, set in dbt_project.yml) drops the batches that left their
    fact. -#}
{#- Incremental, unlike the rest of its folder (tables): the index grows batch by batch. -#}
{{ config(**incremental_by_key_config('_batch_id', ['_batch_id'])) }}

{{ kpi_depends_on() }}

{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set index = kpi_semantic_index() if execute else {'models': {}} %}
{%- set scans = [] %}
{%- for scan in kpi_scans(specs, index) if scan.model.batched %}
    {%- do scans.append(scan) %}
{%- endfor %}

with

{%- for scan in scans %}

new_batches_{{ loop.index }} as (

    select distinct _batch_id
    from {{ ref(scan.model.node_name) }}
    {%- if is_incremental() %}
    where _batch_id not in (
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

{%- set new_batches_of_scan -%}
    _batch_id in (select new_batches_{{ loop.index }}._batch_id from new_batches_{{ loop.index }})
{%- endset %}

observed_{{ loop.index }} as (

    select
        '{{ scan.model.name }}' as semantic_model,
        observations._batch_id,
        observations.metric_name,
        cast({{ dbt.date_trunc('month', 'observations.event_date') }} as date) as period_start
    from (
        {{ kpi_observation_select(scan, row_filter=new_batches_of_scan, lineage=true) }}
    ) as observations

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
        cast(null as date) as period_start
    where false
    {%- endif %}

),

final as (

    select
        batches.semantic_model,
        batches._batch_id,
        batches._source_file,
        observed.metric_name,
        observed.period_start,
        count(observed.metric_name) as observations
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

)

select * from final
