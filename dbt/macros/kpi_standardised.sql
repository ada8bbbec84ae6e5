{#-
  What fct_kpi_standardised standardises, read by the model and by its post-hook alike.
-#}

{% macro kpi_segments() %}
    {#- fct_kpi_standardised's config.meta.segments (the model each segmented semantic model
        reads -> its segmenting column), the one place it is written, read from the graph by the
        models that need it too (int_kpi_day_sums sums each day's records per segment). -#}
    {%- if execute %}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.name == 'fct_kpi_standardised' %}
            {{ return(node.config.get('meta', {}).get('segments') or {}) }}
        {%- endfor %}
    {%- endif %}
    {{ return({}) }}
{% endmacro %}


{% macro kpi_day_sums_digest_suffix() %}
    {#- What int_kpi_day_sums adds to each metric's kpi_metric_digest: what else its sums rest on,
        the segmenting columns and the semantic models' expressions (entities: the org unit and
        center; dimensions: the event dates), which kpi_metric_digest leaves out. An edit of
        either sums every batch again. '' while parsing (the hooks are rendered then too). -#}
    {%- if not execute %}
        {{ return('') }}
    {%- endif %}
    {%- set models = {} %}
    {%- for model in kpi_semantic_index().models.values() %}
        {%- do models.update({model.name: {'node_name': model.node_name,
            'entities': model.entities, 'dims': model.get('dims'),
            'default_time': model.get('default_time')}}) %}
    {%- endfor %}
    {{ return('/inputs:' ~ local_md5(tojson({'segments': kpi_segments(), 'models': models},
        sort_keys=true))) }}
{% endmacro %}


{% macro kpi_standardisation(segments) %}
    {#- {scans, metrics} of the mix-standardised comparison: of the semantic models segmented in
        `segments` (fct_kpi_standardised's config.meta.segments: the model each semantic model
        reads -> its segmenting column), every KPI rate (a ratio or a mean) whose numerator and
        denominator are both read from that one model. `scans` are kpi_scans' entries cut to
        those KPIs; `metrics` maps each KPI to its segmenting column. -#}
    {%- set specs = kpi_metric_specs() %}
    {%- set scans = [] %}
    {%- set metrics = {} %}
    {%- for scan in kpi_scans(specs, kpi_semantic_index()) if scan.model.node_name in segments %}
        {%- set items = [] %}
        {%- for item in scan['items'] %}
            {%- set spec = specs[item.name] %}
            {%- if spec.kind in ('ratio', 'mean')
                and spec.numerator.model == scan.model.name
                and spec.denominator.model == scan.model.name %}
                {%- do items.append(item) %}
                {%- do metrics.update({item.name: segments[scan.model.node_name]}) %}
            {%- endif %}
        {%- endfor %}
        {%- if items %}
            {%- do scans.append({'model': scan.model, 'items': items}) %}
        {%- endif %}
    {%- endfor %}
    {{ return({'scans': scans, 'metrics': metrics}) }}
{% endmacro %}


{% macro kpi_check_day_sums_segments(scans, segments) %}
    {#- fct_kpi_standardised reads the detail facts' segments from int_kpi_day_sums: stop with a
        clear error when a batch-incremental model it standardises was summed there by another
        column than config.meta.segments now names (an edit of the segments followed by a build
        of this model alone, by hand; the pipeline rebuilds int_kpi_day_sums on such an edit,
        planning.project_parts), rather than publish segments of the old column. -#}
    {%- if execute %}
        {%- set wanted = {} %}
        {%- for scan in scans if scan.model.batched %}
            {%- do wanted.update({scan.model.name: segments[scan.model.node_name]}) %}
        {%- endfor %}
        {%- set day_sums = load_relation(ref('int_kpi_day_sums')) %}
        {%- if wanted and day_sums is not none %}
            {%- set found = run_query(
                'select semantic_model, segment_column from ' ~ day_sums
                ~ ' where metric_name is not null group by semantic_model, segment_column') %}
            {%- for row in found if row['semantic_model'] in wanted %}
                {%- if row['segment_column'] != wanted[row['semantic_model']] %}
                    {%- do exceptions.raise_compiler_error(
                        'int_kpi_day_sums holds the ' ~ row['semantic_model'] ~ ' records summed by '
                        ~ (row['segment_column'] or 'no segment') ~ ', but config.meta.segments of '
                        ~ 'fct_kpi_standardised now segments them by '
                        ~ wanted[row['semantic_model']] ~ ': build int_kpi_day_sums first '
                        ~ '(dbt build --select int_kpi_day_sums+; opsvalue run does it)') %}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
    {%- endif %}
{% endmacro %}


{% macro kpi_standardised_delete_stale() -%}
    {#- fct_kpi_standardised's post-hook (dbt_project.yml): drop the rows of (metric, month) pairs
        whose inputs are gone or were recomputed to no row (kpi_delete_stale_pairs, as for
        fct_kpi_values), and the rows of metrics no longer standardised, or over another
        dimension, after an edit of the model's config.meta.segments. -#}
    {%- if execute %}
    {%- set metrics = kpi_standardisation(model.config.meta.get('segments') or {}).metrics %}
    {%- set current -%}
        {%- for metric, dimension in metrics | dictsort -%}
        ({{ kpi_sql_literal(metric) }}, {{ kpi_sql_literal(dimension) }}){% if not loop.last %}, {% endif %}
        {%- endfor -%}
    {%- endset %}
    {{- adapter.dispatch('kpi_standardised_delete_stale', 'opsvalue')(current) }}
    {%- endif %}
{%- endmacro %}

{% macro default__kpi_standardised_delete_stale(current) -%}
    {{ kpi_delete_stale_pairs() }};
    delete from {{ this }}
    {%- if current %}
    where not exists (
        select 1
        from (values {{ current }}) as standardised (metric_name, segment_dimension)
        where
            standardised.metric_name = {{ this }}.metric_name
            and standardised.segment_dimension = {{ this }}.segment_dimension
    )
    {%- endif %}
{%- endmacro %}

{% macro spark__kpi_standardised_delete_stale(current) -%}
    {#- Partitioned by month: a month holding rows of a metric no longer standardised is
        recomputed whole (the model's changed_months) when some standardised metric has inputs in
        it, which overwrites those rows; left are the months whose inputs are gone, dropped here.
        A month with rows of such a metric and no standardised inputs at all would keep them:
        not handled, as no incremental run on Spark is exercised (README, "Beyond one machine"). -#}
    {{ kpi_delete_stale_pairs() }}
{%- endmacro %}
