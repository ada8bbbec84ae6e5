{#-
  Reading the governed metric definitions (dbt semantic-layer YAML: semantic_models + metrics) at
  execution time, so that the published KPI table is computed from exactly what MetricFlow reads.
  Written here, not taken from a package: MetricFlow answers one query at a time, while
  fct_kpi_values needs every metric at every tier in one pass over each semantic model.

  Supported metric shapes (the catalog lint enforces them):
    simple   on a measure with agg sum | count | sum_boolean (additive), average (mean) or
             percentile (recomputed from the detail rows at every tier);
    ratio    numerator / denominator, each a simple additive metric (ratio of sums);
    derived  an arithmetic expr over exactly two simple additive metrics, listed numerator first
             (e.g. 100 * net_promoters / nps_responses).
  Filters are MetricFlow where-clauses on the semantic model's own dimensions.
-#}

{% macro kpi_semantic_index() %}
    {%- set measures = {} -%}
    {%- set models = {} -%}
    {%- for sm in graph.semantic_models.values() -%}
        {%- set dims = {} -%}
        {%- for d in sm.dimensions -%}
            {%- do dims.update({d.name: (d.expr or d.name)}) -%}
        {%- endfor -%}
        {%- set entities = {} -%}
        {%- for e in sm.entities -%}
            {%- do entities.update({e.name: (e.expr or e.name)}) -%}
        {%- endfor -%}
        {%- set node = graph.nodes.get(sm.depends_on.nodes[0], {}) if sm.depends_on.nodes else {} -%}
        {%- set node_config = node.get('config', {}) -%}
        {#- batched: a batch-incremental fact (macros/incremental_batches.sql), whose rows carry
            the _source_file and _batch_id they came from; a batch's rows never change -#}
        {#- relation: for SQL rendered outside a model (hooks); a model reads the semantic
            model's node through ref(node_name), which a unit test's given rows can stand in for -#}
        {%- do models.update({sm.name: {
            'name': sm.name,
            'relation': sm.node_relation.relation_name,
            'node_name': node.get('name'),
            'model': sm.model,
            'batched': node_config.get('materialized') == 'incremental'
                and node_config.get('unique_key') == '_source_file',
            'dims': dims,
            'entities': entities,
            'default_time': sm.defaults.agg_time_dimension if sm.defaults else none,
        }}) -%}
        {%- for m in sm.measures -%}
            {%- do measures.update({m.name: {'model': sm.name, 'measure': m}}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return({'measures': measures, 'models': models}) }}
{% endmacro %}


{% macro kpi_filter_sql(where_templates, model) %}
    {#- MetricFlow where-clauses -> SQL on the model's columns:
        {{ Dimension('entity__name') }} and {{ TimeDimension('entity__name', 'grain') }}. -#}
    {%- set parts = [] -%}
    {%- for template in where_templates -%}
        {#- a namespace, because a plain `set` inside a Jinja loop does not outlive the iteration -#}
        {%- set ns = namespace(sql=modules.re.sub(
            "\\{\\{\\s*(?:Time)?Dimension\\(\\s*'[a-z0-9_]+?__([a-z0-9_]+)'[^)]*\\)\\s*\\}\\}",
            "[[\\1]]",
            template
        )) -%}
        {%- for name, expr in model.dims.items() -%}
            {%- set ns.sql = ns.sql | replace('[[' ~ name ~ ']]', '(' ~ expr ~ ')') -%}
        {%- endfor -%}
        {%- if '[[' in ns.sql -%}
            {{ exceptions.raise_compiler_error(
                "metric filter '" ~ template ~ "' uses a dimension that semantic model '"
                ~ model.name ~ "' does not have") }}
        {%- endif -%}
        {%- do parts.append('(' ~ ns.sql ~ ')') -%}
    {%- endfor -%}
    {{ return(parts | join(' and ') if parts else 'true') }}
{% endmacro %}


{% macro kpi_where_templates() %}
    {#- every positional argument is a MetricFlow filter (or none); Jinja collects them in varargs -#}
    {%- set out = [] -%}
    {%- for f in varargs -%}
        {%- if f and f.where_filters -%}
            {%- for w in f.where_filters -%}
                {%- do out.append(w.where_sql_template) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}


{% macro kpi_measure_part(index, measure_name, where_templates, metric_name) %}
    {#- One measure of a metric as row-level SQL on its semantic model. -#}
    {%- if measure_name not in index.measures -%}
        {{ exceptions.raise_compiler_error("metric " ~ metric_name ~ ": unknown measure " ~ measure_name) }}
    {%- endif -%}
    {%- set hit = index.measures[measure_name] -%}
    {%- set model = index.models[hit.model] -%}
    {%- set m = hit.measure -%}
    {%- set time_dim = m.agg_time_dimension or model.default_time -%}
    {%- set expr = m.expr or m.name -%}
    {%- set condition = kpi_filter_sql(where_templates, model) -%}
    {%- if m.agg == 'sum' -%}
        {%- set value = 'cast(' ~ expr ~ ' as double)' -%}
    {%- elif m.agg == 'count' -%}
        {%- set value = 'case when (' ~ expr ~ ') is not null then 1.0 end' -%}
    {%- elif m.agg == 'sum_boolean' -%}
        {%- set value = 'case when (' ~ expr ~ ') then 1.0 else 0.0 end' -%}
    {%- elif m.agg in ('average', 'percentile') -%}
        {%- set value = 'cast(' ~ expr ~ ' as double)' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("metric " ~ metric_name ~ ": measure " ~ measure_name
            ~ " has agg " ~ m.agg ~ ", which does not roll up across tiers") }}
    {%- endif -%}
    {{ return({
        'model': model.name,
        'time_sql': 'cast(' ~ model.dims[time_dim] ~ ' as date)',
        'condition': condition,
        'value': value,
        'agg': m.agg,
        'percentile': (m.agg_params.percentile if m.agg_params else none),
        'measure': measure_name,
        'expr': expr,
        'time_dimension': time_dim,
    }) }}
{% endmacro %}


{% macro kpi_metric_specs() %}
    {#- Every published metric resolved to the parts fct_kpi_values computes:
        {name: {kind, numerator part, denominator part, value expr, ...}} -#}
    {%- set index = kpi_semantic_index() -%}
    {%- set by_name = {} -%}
    {%- for metric in graph.metrics.values() -%}
        {%- do by_name.update({metric.name: metric}) -%}
    {%- endfor -%}
    {%- set specs = {} -%}
    {%- for metric in graph.metrics.values() | sort(attribute='name') -%}
        {%- set meta = metric.config.meta or metric.meta or {} -%}
        {%- set tp = metric.type_params -%}
        {%- if metric.type == 'simple' -%}
            {%- set part = kpi_measure_part(index, tp.measure.name,
                kpi_where_templates(metric.filter, tp.measure.filter), metric.name) -%}
            {%- if part.agg == 'percentile' -%}
                {%- set spec = {'kind': 'percentile', 'sample': part, 'percentile': part.percentile} -%}
            {%- elif part.agg == 'average' -%}
                {%- set spec = {'kind': 'mean', 'numerator': part, 'denominator': part} -%}
            {%- else -%}
                {%- set spec = {'kind': 'additive', 'numerator': part} -%}
            {%- endif -%}
        {%- elif metric.type in ('ratio', 'derived') -%}
            {%- if metric.type == 'ratio' -%}
                {%- set inputs = [tp.numerator, tp.denominator] -%}
            {%- else -%}
                {%- set inputs = tp.metrics -%}
                {%- if inputs | length != 2 -%}
                    {{ exceptions.raise_compiler_error("metric " ~ metric.name
                        ~ ": a derived metric must combine exactly two metrics (numerator, denominator)") }}
                {%- endif -%}
            {%- endif -%}
            {%- set parts = [] -%}
            {%- for input in inputs -%}
                {%- set base = by_name.get(input.name) -%}
                {%- if base is none or base.type != 'simple' -%}
                    {{ exceptions.raise_compiler_error("metric " ~ metric.name ~ ": input "
                        ~ input.name ~ " must be a simple metric") }}
                {%- endif -%}
                {%- set part = kpi_measure_part(index, base.type_params.measure.name,
                    kpi_where_templates(metric.filter, base.filter, base.type_params.measure.filter, input.filter),
                    metric.name) -%}
                {%- if part.agg not in ('sum', 'count', 'sum_boolean') -%}
                    {{ exceptions.raise_compiler_error("metric " ~ metric.name ~ ": input "
                        ~ input.name ~ " must be additive (sum, count or sum_boolean)") }}
                {%- endif -%}
                {%- do parts.append(part) -%}
            {%- endfor -%}
            {%- if metric.type == 'ratio' -%}
                {%- set value = 'numerator / denominator' -%}
            {%- else -%}
                {%- set value = tp.expr -%}
                {%- set value = modules.re.sub('\\b' ~ (inputs[0].alias or inputs[0].name) ~ '\\b', 'numerator', value) -%}
                {%- set value = modules.re.sub('\\b' ~ (inputs[1].alias or inputs[1].name) ~ '\\b', 'denominator', value) -%}
            {%- endif -%}
            {%- set spec = {'kind': metric.type, 'numerator': parts[0], 'denominator': parts[1], 'value': value} -%}
        {%- else -%}
            {{ exceptions.raise_compiler_error("metric " ~ metric.name ~ ": type " ~ metric.type
                ~ " is not supported by fct_kpi_values") }}
        {%- endif -%}
        {%- do spec.update({'name': metric.name, 'meta': meta, 'group': metric.group or metric.config.group,
            'type': metric.type, 'label': metric.label, 'description': metric.description,
            'is_kpi': not meta.get('component', false)}) -%}
        {%- do specs.update({metric.name: spec}) -%}
    {%- endfor -%}
    {{ return(specs) }}
{% endmacro %}


{% macro kpi_definition(spec) %}
    {#- What a metric's number depends on: its formula, filters and sources. A change here is a
        new definition version; labels, targets and descriptions are not. -#}
    {%- set parts = {} -%}
    {%- for role in ('numerator', 'denominator', 'sample') if spec.get(role) -%}
        {%- set p = spec[role] -%}
        {%- do parts.update({role: {'semantic_model': p.model, 'measure': p.measure, 'agg': p.agg,
            'expr': p.expr, 'time_dimension': p.time_dimension, 'filter': p.condition}}) -%}
    {%- endfor -%}
    {{ return({
        'type': spec.type,
        'kind': spec.kind,
        'value': spec.get('value'),
        'percentile': spec.get('percentile'),
        'parts': parts,
        'formula': spec.meta.get('formula'),
        'sources': spec.meta.get('source_systems'),
    }) }}
{% endmacro %}


{% macro kpi_sql_literal(value) -%}
    {#- The value as a SQL string literal that reads back as the same text on the engine. -#}
    {%- if value is none -%}null{%- else -%}
    {{- adapter.dispatch('kpi_sql_literal', 'opsvalue')(value | string) -}}
    {%- endif -%}
{%- endmacro %}

{% macro default__kpi_sql_literal(text) -%}
    {#- Standard SQL: only a single quote is special, written twice. -#}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__kpi_sql_literal(text) -%}
    {#- Spark also reads backslash escapes in literals ('\u0027' is a quote, '\n' a newline):
        a backslash is written twice first. -#}
    '{{ text | replace("\\", "\\\\") | replace("'", "''") }}'
{%- endmacro %}


{% macro kpi_sql_number(value) -%}
    {%- if value is none -%}cast(null as double){%- else -%}cast({{ value }} as double){%- endif -%}
{%- endmacro %}
