{#-
  The observations behind the published KPIs: generated from the detail facts once per batch,
  by int_kpi_day_sums, and from the other models by the KPI models that read them.

  One scan per semantic model turns every record into one observation per metric it feeds: the
  metric, the event date of the metric's time dimension, and its numerator, denominator or
  sample value (null when the record does not qualify). Records of sources whose rows carry a
  batch (the batch-incremental facts) can be scanned batch by batch, which is what lets a
  refresh recompute only the months its new batches touch.
-#}

{% macro kpi_scans(specs, index) %}
    {#- [{model, items}] for every semantic model at least one published KPI reads. -#}
    {%- set scans = [] %}
    {%- for model in index.models.values() | sort(attribute='name') %}
        {%- set items = [] %}
        {%- for spec in specs.values() if spec.is_kpi %}
            {%- if spec.kind == 'percentile' and spec.sample.model == model.name %}
                {%- do items.append({'date': spec.sample.time_sql, 'when': spec.sample.condition,
                    'num': 'null', 'den': 'null', 'sample': spec.sample.value, 'name': spec.name}) %}
            {%- elif spec.kind == 'additive' and spec.numerator.model == model.name %}
                {%- set n = spec.numerator %}
                {%- do items.append({'date': n.time_sql, 'when': n.condition,
                    'num': n.value, 'den': 'null', 'sample': 'null', 'name': spec.name}) %}
            {%- elif spec.kind in ('mean', 'ratio', 'derived') %}
                {%- set n = spec.numerator %}
                {%- set d = spec.denominator %}
                {%- set den_value = '1.0' if spec.kind == 'mean' else d.value %}
                {%- set same_scan = n.model == model.name and d.model == model.name %}
                {%- if same_scan and n.time_sql == d.time_sql %}
                    {%- do items.append({'date': n.time_sql,
                        'when': '(' ~ n.condition ~ ') or (' ~ d.condition ~ ')',
                        'num': 'case when ' ~ n.condition ~ ' then ' ~ n.value ~ ' end',
                        'den': 'case when ' ~ d.condition ~ ' and (' ~ d.value ~ ') is not null then ' ~ den_value ~ ' end',
                        'sample': 'null', 'name': spec.name}) %}
                {%- else %}
                    {%- if n.model == model.name %}
                        {%- do items.append({'date': n.time_sql, 'when': n.condition,
                            'num': n.value, 'den': 'null', 'sample': 'null', 'name': spec.name}) %}
                    {%- endif %}
                    {%- if d.model == model.name %}
                        {%- do items.append({'date': d.time_sql, 'when': d.condition,
                            'num': 'null', 'den': den_value, 'sample': 'null', 'name': spec.name}) %}
                    {%- endif %}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
        {%- if items %}
            {%- do scans.append({'model': model, 'items': items}) %}
        {%- endif %}
    {%- endfor %}
    {{ return(scans) }}
{% endmacro %}


{% macro kpi_observation_select(scan, row_filter='', lineage=false, segment=none) -%}
    {#- The observations of one semantic model: org_code, center_code, metric_name, event_date,
        numerator, denominator, sample (and _batch_id with lineage=true; segment, the value of
        the record's column `segment` as a string, when one is named), from the records
        passing row_filter. -#}
    select
        observed.org_code,
        observed.center_code,
        observed.metric_name,
        observed.event_date,
        observed.numerator,
        observed.denominator,
        observed.sample
        {%- if lineage %},
        observed._batch_id
        {%- endif %}
        {%- if segment %},
        observed.segment
        {%- endif %}
    from (
        {%- set carried = [
            scan.model.entities.get('org', 'null') ~ ' as org_code',
            scan.model.entities.get('center', 'null') ~ ' as center_code',
        ] %}
        {%- if lineage %}
            {%- do carried.append('_batch_id') %}
        {%- endif %}
        {%- if segment %}
            {%- do carried.append('cast(' ~ segment ~ ' as ' ~ dbt.type_string() ~ ') as segment') %}
        {%- endif %}
        {%- set items = [] %}
        {%- for item in scan['items'] %}
            {%- do items.append({
                'metric_name': "'" ~ item.name ~ "'",
                'event_date': 'case when ' ~ item.when ~ ' then ' ~ item.date ~ ' end',
                'numerator': 'cast(' ~ item.num ~ ' as double)',
                'denominator': 'cast(' ~ item.den ~ ' as double)',
                'sample': 'cast(' ~ item.sample ~ ' as double)',
            }) %}
        {%- endfor %}
        {{ rows_per_item(ref(scan.model.node_name), carried, items, row_filter) }}
    ) as observed
    where observed.event_date is not null
{%- endmacro %}


{% macro kpi_table_observations(specs, index) -%}
    {#- The observations of every semantic model that is not a batch-incremental fact (month-end
        snapshots, monthly extracts: all small), read whole; an empty relation when there are
        none. -#}
    {%- set table_scans = [] %}
    {%- for scan in kpi_scans(specs, index) if not scan.model.batched %}
        {%- do table_scans.append(scan) %}
    {%- endfor %}
    {%- for scan in table_scans %}
    {{ kpi_observation_select(scan) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not table_scans %}
    {{ kpi_no_observations() }}
    {%- endif %}
{%- endmacro %}


{% macro kpi_no_observations(lineage=false) -%}
    {#- An empty relation with the columns of kpi_observation_select. -#}
    select
        cast(null as {{ dbt.type_string() }}) as org_code,
        cast(null as {{ dbt.type_string() }}) as center_code,
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as date) as event_date,
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        cast(null as double) as sample
        {%- if lineage %},
        cast(null as {{ dbt.type_string() }}) as _batch_id
        {%- endif %}
    where false
{%- endmacro %}


{% macro kpi_depends_on() -%}
    {#- Every model a semantic model rests on, for dbt's DAG: int_kpi_day_sums, the
        int_kpi_months_* models and the KPI marts ref() them by names taken from the semantic
        index when they run, which dbt cannot see while parsing.
        Rendered as SQL comments; the ref() calls are what dbt records while parsing. -#}
    {%- for name in [
        'fct_claims', 'fct_applications', 'fct_endorsements', 'fct_policies_in_force_monthly',
        'fct_policy_cohorts', 'fct_contacts', 'fct_nps_responses', 'fct_complaints', 'fct_tasks',
        'fct_task_backlog_monthly', 'fct_rpa_runs', 'fct_op_costs', 'fct_staffing_monthly',
        'fct_project_milestones', 'fct_metric_governance', 'fct_value_lines'] %}
-- depends_on: {{ ref(name) }}
    {%- endfor %}
{%- endmacro %}


{% macro kpi_delete_gone_batch_months() -%}
    {#- The post-hook of int_kpi_day_sums and int_kpi_months_observed_by_batch
        (dbt_project.yml): forget the batches that left their fact (a corrected file replaces
        its batch, a file re-delivered empty removes it). Rendered while parsing too, when the
        semantic index is not known yet. -#}
    {%- if execute %}
        {%- set index = kpi_semantic_index() %}
        {%- set batched = [] %}
        {%- for model in index.models.values() | sort(attribute='name') if model.batched %}
            {%- do batched.append(model) %}
        {%- endfor %}
        {%- set fact_batches -%}
            {%- for model in batched %}
        select distinct fact._batch_id from {{ model.relation }} as fact
            {%- if not loop.last %}
        union all
            {%- endif %}
            {%- endfor %}
            {%- if not batched %}
        select cast(null as {{ dbt.type_string() }}) where false
            {%- endif %}
        {%- endset %}
    {{- adapter.dispatch('kpi_delete_gone_batch_months', 'opsvalue')(fact_batches) }}
    {%- endif %}
{%- endmacro %}

{% macro default__kpi_delete_gone_batch_months(fact_batches) -%}
    delete from {{ this }}
    where _batch_id not in (
        {{- fact_batches }}
    )
{%- endmacro %}

{% macro spark__kpi_delete_gone_batch_months(fact_batches) -%}
    {#- partitioned by _batch_id (incremental_by_key_config): drop the batches' partitions -#}
    {%- set gone -%}
        select distinct indexed._batch_id
        from {{ this }} as indexed
        where indexed._batch_id not in ({{ fact_batches }})
    {%- endset %}
    {{- drop_partitions(gone, ['_batch_id']) }}
{%- endmacro %}


{% macro kpi_delete_stale_pairs() -%}
    {#- fct_kpi_values' post-hook (dbt_project.yml): drop the rows of (metric, month) pairs whose
        inputs are gone (a month's only file re-delivered empty) or were recomputed to no row,
        which delete+insert, replacing only the pairs it writes, would keep. Every row written
        or kept by this run carries its pair's current digest. -#}
    {%- if execute %}
    {{- adapter.dispatch('kpi_delete_stale_pairs', 'opsvalue')() }}
    {%- endif %}
{%- endmacro %}

{% macro default__kpi_delete_stale_pairs() -%}
    delete from {{ this }}
    where not exists (
        select 1
        from {{ ref('int_kpi_months_fingerprinted') }} as inputs
        where
            inputs.metric_name = {{ this }}.metric_name
            and inputs.period_start = {{ this }}.period_start
            and inputs.input_digest = {{ this }}.input_digest
    )
{%- endmacro %}

{% macro spark__kpi_delete_stale_pairs() -%}
    {#- partitioned by period_start, and a month recomputed whole (kpi_pairs_to_recompute): a
        month still holding a row of another digest wrote no row, so all its rows go -#}
    {%- set stale -%}
        select distinct published.period_start
        from {{ this }} as published
        where not exists (
            select 1
            from {{ ref('int_kpi_months_fingerprinted') }} as inputs
            where
                inputs.metric_name = published.metric_name
                and inputs.period_start = published.period_start
                and inputs.input_digest = published.input_digest
        )
    {%- endset %}
    {{- drop_partitions(stale, ['period_start']) }}
{%- endmacro %}


{% macro kpi_pairs_to_recompute(month_inputs) -%}
    {#- fct_kpi_values on an incremental run: a condition on the (metric, month) pairs of
        int_kpi_months_fingerprinted (aliased month_inputs) it recomputes, with their digest. -#}
    {{ return(adapter.dispatch('kpi_pairs_to_recompute', 'opsvalue')(month_inputs)) }}
{%- endmacro %}

{% macro default__kpi_pairs_to_recompute(month_inputs) -%}
    {#- the pairs whose digest is not the one their rows carry -#}
    not exists (
        select 1
        from {{ this }} as published
        where
            published.metric_name = {{ month_inputs }}.metric_name
            and published.period_start = {{ month_inputs }}.period_start
            and published.input_digest = {{ month_inputs }}.input_digest
    )
{%- endmacro %}

{% macro spark__kpi_pairs_to_recompute(month_inputs) -%}
    {#- every pair of a month (a partition, overwritten whole) with a changed pair or a row of a
        pair whose inputs changed or left -#}
    {{ month_inputs }}.period_start in (
        select changed.period_start
        from {{ ref('int_kpi_months_fingerprinted') }} as changed
        where not exists (
            select 1
            from {{ this }} as published
            where
                published.metric_name = changed.metric_name
                and published.period_start = changed.period_start
                and published.input_digest = changed.input_digest
        )
        union all
        select published.period_start
        from {{ this }} as published
        where not exists (
            select 1
            from {{ ref('int_kpi_months_fingerprinted') }} as inputs
            where
                inputs.metric_name = published.metric_name
                and inputs.period_start = published.period_start
                and inputs.input_digest = published.input_digest
        )
    )
{%- endmacro %}
