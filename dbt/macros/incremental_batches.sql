{#- Incremental detail facts: one delivered file version (a raw batch) is the unit of change.

    The raw layer holds each accepted file version once, its rows stamped with _source_file and
    _batch_id; a re-delivered (corrected) file replaces its rows under a new _batch_id. An
    incremental run therefore selects the rows of batches the fact has not seen, and the
    delete+insert strategy keyed on _source_file first removes the rows of an earlier version of
    the same file: late records land in whatever past month their dates say, corrections replace,
    nothing is counted twice.

    A change of the dbt project or of the alias list rebuilds the incremental models from
    scratch: the pipeline passes --vars '{opsvalue_rebuild: true}' (defs/dbt/assets.py), which
    these models and fct_kpi_values take as their full_refresh config. Not --full-refresh: that
    would also wipe metric_definition_history, whose whole point is to outlive rebuilds. -#}

{% macro batch_incremental_config() %}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': '_source_file',
        'on_schema_change': 'fail',
        'full_refresh': var('opsvalue_rebuild', none),
    }) }}
{% endmacro %}

{% macro delete_gone_batches() -%}
    {#- The owner folders' post-hook (dbt_project.yml); it acts on the batch-incremental facts
        only. It removes rows whose batch has left the raw layer: a file re-delivered with no
        rows (or none that passed the gate) selects nothing, so delete+insert alone would keep
        its old rows. The staging model is the one stg_ model the fact depends on (hooks are
        also rendered while dbt parses, before dependencies are known). -#}
    {%- if execute and model.config.materialized == 'incremental'
        and model.config.unique_key == '_source_file' %}
        {%- set staging = [] %}
        {%- for node in model.depends_on.nodes if node.startswith('model.') and '.stg_' in node %}
            {%- do staging.append(node.split('.')[-1]) %}
        {%- endfor %}
    delete from {{ this }}
    where _batch_id not in (
        select distinct staged._batch_id from {{ ref(staging[0]) }} as staged
    )
    {%- endif %}
{%- endmacro %}

{% macro lineage_columns() -%}
    _source_file,
    _batch_id,
    '{{ invocation_id }}' as _dbt_invocation_id
{%- endmacro %}

{% macro only_new_batches() -%}
    {%- if is_incremental() %}
    where _batch_id not in (select distinct seen._batch_id from {{ this }} as seen)
    {%- endif %}
{%- endmacro %}
