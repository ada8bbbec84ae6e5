{#-
  What a definition edit changes, and what it makes dbt recompute (README, "what each kind of edit
  rebuilds"): a metric's digests, the resolved catalog as the Python side reads it, and the
  models the pipeline rebuilds from scratch.
-#}

{% macro kpi_metric_digest(spec, with_targets=false) -%}
    {#- One metric's fingerprint: the resolved definition (measures, filters, formula, sources)
        and, with_targets, the direction, targets and cascade rule its statuses are judged
        against (a unit's own target is cascaded by the rule). The KPI models fold it into each
        (metric, month) pair's inputs, so an edit recomputes that metric's pairs and no other. -#}
    {%- set fingerprint = {'definition': kpi_definition(spec)} -%}
    {%- if with_targets -%}
        {%- do fingerprint.update({'direction': spec.meta.get('direction'),
            'targets': spec.meta.get('targets'),
            'target_cascade': target_cascade_spec(spec.meta)}) -%}
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
        metric_definition_history records them, direction, targets, cascade rule (as
        dim_metric_catalog publishes it) and change note. -#}
    {%- set state = {} -%}
    {%- for spec in kpi_metric_specs().values() -%}
        {%- set definition_json = tojson(kpi_definition(spec), sort_keys=true) -%}
        {%- do state.update({spec.name: {
            'definition_json': definition_json,
            'definition_hash': local_md5(definition_json),
            'is_kpi': spec.is_kpi,
            'direction': spec.meta.get('direction'),
            'targets': spec.meta.get('targets'),
            'target_cascade': target_cascade_spec(spec.meta),
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


{% macro kpi_redefined_metrics(specs, digest_suffix='') -%}
    {#- The metrics an incremental model keyed by batch (int_kpi_day_sums,
        int_kpi_months_observed_by_batch) computes again: those batches observe whose recorded
        definition digest differs from the current one (or that are gone), and the KPIs of
        batch-incremental facts it has never seen. A KPI no batch observes at all is looked for
        again on every run: a scan that finds nothing. `digest_suffix` is what the model adds to
        kpi_metric_digest beyond the definition (int_kpi_day_sums: its segmenting columns). -#}
    {%- set scanned = {} -%}
    {%- for scan in kpi_scans(specs, kpi_semantic_index()) if scan.model.batched -%}
        {%- for item in scan['items'] -%}
            {%- do scanned.update({item.name: kpi_metric_digest(specs[item.name]) ~ digest_suffix}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set recorded = {} -%}
    {%- set found = run_query('select distinct metric_name, definition_digest from ' ~ this
        ~ ' where metric_name is not null') -%}
    {%- for row in found -%}
        {%- do recorded.update({row['metric_name']: row['definition_digest']}) -%}
    {%- endfor -%}
    {%- set redefined = [] -%}
    {%- for name in (recorded.keys() | list) + (scanned.keys() | list) -%}
        {%- if scanned.get(name) != recorded.get(name) and name not in redefined -%}
            {%- do redefined.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(redefined | sort) }}
{%- endmacro %}


{% macro kpi_forget_redefined_metrics(digest_suffix='') -%}
    {#- The pre-hook of int_kpi_day_sums and int_kpi_months_observed_by_batch: the rows of the
        metrics they compute again (kpi_redefined_metrics) go, in the transaction that appends
        their new rows. -#}
    {%- if execute and is_incremental() -%}
        {%- set redefined = kpi_redefined_metrics(kpi_metric_specs(), digest_suffix) -%}
        {%- if redefined %}
    delete from {{ this }}
    where metric_name in ({% for name in redefined %}'{{ name }}'{% if not loop.last %}, {% endif %}{% endfor %})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
