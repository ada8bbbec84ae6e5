{#-
  What a definition edit changes, and what it makes dbt recompute (README, "what each kind of edit
  rebuilds"): a metric's digests, the resolved catalog as the Python side reads it, and the
  models the pipeline rebuilds from scratch.
-#}

{% macro kpi_metric_digest(spec, with_targets=false) -%}
    {#- One metric's fingerprint: the resolved definition (measures, filters, formula, sources)
        and, with_targets, the direction and targets its statuses are judged against. The
        KPI models fold it into each (metric, month) pair's inputs, so an edit recomputes that
        metric's pairs and no other. -#}
    {%- set fingerprint = {'definition': kpi_definition(spec)} -%}
    {%- if with_targets -%}
        {%- do fingerprint.update({'direction': spec.meta.get('direction'),
            'targets': spec.meta.get('targets')}) -%}
    {%- endif -%}
    {{ return(local_md5(tojson(fingerprint, sort_keys=true))) }}
{%- endmacro %}


{% macro kpi_metric_digests(specs, with_targets=false) -%}
    {#- A relation (metric_name, metric_digest): every KPI's kpi_metric_digest. -#}
    {%- set kpis = [] -%}
    {%- for spec in specs.values() if spec.is_kpi -%}
        {%- do kpis.append(spec) -%}
    {%- endfor -%}
    {%- if kpis %}
    select * from (
        values
        {%- for spec in kpis %}
        ('{{ spec.name }}', '{{ kpi_metric_digest(spec, with_targets) }}'){% if not loop.last %},{% endif %}
        {%- endfor %}
    ) as digests (metric_name, metric_digest)
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as metric_name,
        cast(null as {{ dbt.type_string() }}) as metric_digest
    where false
    {%- endif %}
{%- endmacro %}


{% macro kpi_catalog_state() -%}
    {#- `dbt run-operation kpi_catalog_state`: every metric as the pipeline would publish it, on
        one line of JSON after the marker OPSVALUE_CATALOG_STATE (read by
        dagster_project/defs/transform/catalog.py): the definition JSON and hash exactly as
        metric_definition_history records them, direction, targets and change note. -#}
    {%- set state = {} -%}
    {%- for spec in kpi_metric_specs().values() -%}
        {%- set definition_json = tojson(kpi_definition(spec), sort_keys=true) -%}
        {%- do state.update({spec.name: {
            'definition_json': definition_json,
            'definition_hash': local_md5(definition_json),
            'is_kpi': spec.is_kpi,
            'direction': spec.meta.get('direction'),
            'targets': spec.meta.get('targets'),
            'change_note': spec.meta.get('change_note'),
        }}) -%}
    {%- endfor -%}
    {{ print('OPSVALUE_CATALOG_STATE ' ~ tojson(state, sort_keys=true)) }}
{%- endmacro %}


{% macro should_full_refresh() -%}
    {#- dbt's own rule (the model's full_refresh config, else the --full-refresh flag), plus the
        models the pipeline names in OPSVALUE_FULL_REFRESH_MODELS (a JSON list): those whose own
        SQL, or a model upstream of them, changed (planning.py plan_build). One dbt invocation
        can so rebuild one fact from scratch and extend the others. An environment variable
        read at execution time, not a --vars value, which would make dbt parse the whole
        project again. -#}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if not config_full_refresh and config.get('full_refresh') is none and execute -%}
        {%- set listed = env_var('OPSVALUE_FULL_REFRESH_MODELS', '') -%}
        {%- if listed and model.name in fromjson(listed) -%}
            {%- set config_full_refresh = true -%}
        {%- endif -%}
    {%- endif -%}
    {%- do return(config_full_refresh) -%}
{%- endmacro %}
