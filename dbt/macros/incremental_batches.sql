{#- Incremental detail facts: one delivered file version (a raw batch) is the unit of change.

    The raw layer holds each accepted file version once, its rows stamped with _source_file and
    _batch_id; a re-delivered (corrected) file replaces its rows under a new _batch_id. An
    incremental run therefore selects the rows of batches the fact has not seen, and the
    delete+insert strategy keyed on _source_file first removes the rows of an earlier version of
    the same file: late records land in whatever past month their dates say, corrections replace,
    nothing is counted twice.

    A change of the dbt project or of the alias list rebuilds the incremental models from
    scratch: the pipeline runs `dbt build --full-refresh` (lib/dbt_project.plan_build), which
    metric_definition_history ignores (full_refresh=false), so its history outlives rebuilds. A
    flag rather than --vars or an environment variable read while parsing: dbt re-parses the
    whole project when --vars change, and the files reading an environment variable when it
    changes.

    On Spark (dbt-spark, Parquet tables) there is no delete+insert and no DELETE: the facts are
    partitioned by _batch_id and written with insert_overwrite (new batches are new partitions),
    and the post-hook drops the partitions of batches that left the raw layer, which covers both
    a corrected file (its earlier batch left) and a file re-delivered empty. Only full builds of
    that path run in CI (tests/spark/compare.py); see README, "Beyond one machine". -#}

{% macro batch_incremental_config() %}
    {#- unique_key _source_file also marks a batch-incremental fact (kpi_semantic_index,
        opsvalue_carries_batches, delete_gone_batches read it), on every engine. -#}
    {{ return(incremental_by_key_config('_source_file', ['_batch_id'])) }}
{% endmacro %}

{% macro incremental_by_key_config(unique_key, partition_by) -%}
    {#- The config of an incremental model whose rows are replaced by key: a run writes the keys
        it selected, replacing their earlier rows; a post-hook removes the keys that are gone. -#}
    {{ return(adapter.dispatch('incremental_by_key_config', 'opsvalue')(unique_key, partition_by)) }}
{%- endmacro %}

{% macro default__incremental_by_key_config(unique_key, partition_by) -%}
    {#- delete+insert on the unique key (partition_by is Spark's) -#}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'delete+insert',
        'unique_key': unique_key,
        'on_schema_change': 'fail',
    }) }}
{%- endmacro %}

{% macro spark__incremental_by_key_config(unique_key, partition_by) -%}
    {#- Parquet partitions overwritten by the partitions a run writes (dynamic partition
        overwrite); the unique key is only recorded (insert_overwrite does not read it). -#}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite',
        'file_format': 'parquet',
        'partition_by': partition_by,
        'unique_key': unique_key,
        'on_schema_change': 'fail',
    }) }}
{%- endmacro %}

{% macro incremental_append_config(partition_by) -%}
    {#- The config of an incremental model that only appends (its hooks remove what goes). -#}
    {{ return(adapter.dispatch('incremental_append_config', 'opsvalue')(partition_by)) }}
{%- endmacro %}

{% macro default__incremental_append_config(partition_by) -%}
    {#- partition_by is Spark's -#}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'on_schema_change': 'fail',
    }) }}
{%- endmacro %}

{% macro spark__incremental_append_config(partition_by) -%}
    {#- Parquet, partitioned so the post-hook can drop a gone batch's partition. Forgetting a
        redefined metric's rows (the pre-hook's delete) has no Parquet form: not exercised on
        Spark, where CI proves full builds only (README, "Beyond one machine"). -#}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'append',
        'file_format': 'parquet',
        'partition_by': partition_by,
        'on_schema_change': 'fail',
    }) }}
{%- endmacro %}

{% macro batch_source_relation() -%}
    {#- The raw table behind a batch-incremental fact: the source of the one stg_ model it reads
        (looked up in the graph, so no source() call hides a dependency dbt would not see). -#}
    {%- set found = [] %}
    {%- for node in model.depends_on.nodes if node.startswith('model.') and '.stg_' in node %}
        {%- for parent in graph.nodes[node].depends_on.nodes if parent.startswith('source.') %}
            {%- do found.append(graph.sources[parent]) %}
        {%- endfor %}
    {%- endfor %}
    {%- if found | length != 1 %}
        {{ exceptions.raise_compiler_error(
            model.name ~ ": a batch-incremental fact reads exactly one staged raw source, found "
            ~ found | length) }}
    {%- endif %}
    {{ return(found[0]) }}
{%- endmacro %}

{% macro delete_gone_batches() -%}
    {#- The owner folders' post-hook (dbt_project.yml); it acts on the batch-incremental facts
        only. It removes rows whose batch has left the raw layer: a file re-delivered with no
        rows (or none that passed the gate) selects nothing, so delete+insert alone would keep
        its old rows. (Hooks are also rendered while dbt parses, before the graph is known.) -#}
    {%- if execute and model.config.materialized == 'incremental'
        and model.config.unique_key == '_source_file' %}
    {{- adapter.dispatch('delete_gone_batches', 'opsvalue')(batch_source_relation()) }}
    {%- endif %}
{%- endmacro %}

{% macro default__delete_gone_batches(raw) -%}
    delete from {{ this }}
    where _batch_id not in (
        select distinct raw_rows._batch_id
        from {{ raw.relation_name }} as raw_rows
    )
{%- endmacro %}

{% macro spark__delete_gone_batches(raw) -%}
    {%- set gone -%}
        select distinct fact._batch_id
        from {{ this }} as fact
        where fact._batch_id not in (
            select distinct raw_rows._batch_id
            from {{ raw.relation_name }} as raw_rows
        )
    {%- endset %}
    {{- drop_partitions(gone, ['_batch_id']) }}
{%- endmacro %}

{% macro drop_partitions(partitions_sql, columns) -%}
    {#- A statement dropping the partitions of the current model that partitions_sql selects (one
        row per partition, the values of `columns` in order), or nothing when there are none.
        Runs partitions_sql when it renders, so only in a hook. -#}
    {{ return(adapter.dispatch('drop_partitions', 'opsvalue')(partitions_sql, columns)) }}
{%- endmacro %}

{% macro default__drop_partitions(partitions_sql, columns) -%}
    {{ exceptions.raise_compiler_error(
        "drop_partitions: tables on adapter " ~ adapter.type() ~ " are not partitioned here") }}
{%- endmacro %}

{% macro spark__drop_partitions(partitions_sql, columns) -%}
    {%- set specs = [] %}
    {%- for row in run_query(partitions_sql) %}
        {%- set values = [] %}
        {%- for column in columns %}
            {%- do values.append(column ~ ' = ' ~ kpi_sql_literal(row[loop.index0] | string)) %}
        {%- endfor %}
        {%- do specs.append('partition (' ~ values | join(', ') ~ ')') %}
    {%- endfor %}
    {%- if specs %}
    alter table {{ this }} drop if exists {{ specs | join(', ') }}
    {%- endif %}
{%- endmacro %}

{% macro lineage_columns() -%}
    _source_file,
    _batch_id,
    '{{ invocation_id }}' as _dbt_invocation_id
{%- endmacro %}

{% macro only_new_batches() -%}
    {#- The batches of the fact's source the fact has not seen, looked up in the file ledger
        (a few hundred rows) rather than by comparing the staged view with the fact: a short list
        of batch ids reaches the raw table scan as a filter, so an incremental run reads only the
        new batches' rows. The source() call sits outside the branch so dbt records it while
        parsing, when is_incremental() is false. -#}
    {%- set ledger = source('meta', 'file_ledger') %}
    {%- if is_incremental() %}
    where _batch_id in (
        select ledger.batch_id
        from {{ ledger }} as ledger
        where
            ledger.source = '{{ batch_source_relation().source_name }}'
            and ledger.batch_id not in (select distinct seen._batch_id from {{ this }} as seen)
    )
    {%- endif %}
{%- endmacro %}
