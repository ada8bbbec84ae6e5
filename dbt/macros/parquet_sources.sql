{#- Sources as Parquet files, for engines whose catalog registers files as tables (Spark,
    Databricks): beyond one machine, the ingestion node writes each source's accepted rows to
    Parquet in object storage and the catalog points a table at each folder, so the staging models
    read the same source() relations as on DuckDB. -#}

{% macro register_parquet_sources(root) -%}
    {{ return(adapter.dispatch('register_parquet_sources', 'opsvalue')(root)) }}
{%- endmacro %}

{% macro default__register_parquet_sources(root) -%}
    {{ exceptions.raise_compiler_error(
        "register_parquet_sources: no implementation for adapter " ~ adapter.type()
        ~ "; register the sources in the engine's catalog") }}
{%- endmacro %}

{% macro spark__register_parquet_sources(root) -%}
    {#- Every source of the project, as an external Parquet table over
        <root>/<schema>/<table>/ (replacing an earlier registration). -#}
    {%- for source in graph.sources.values() | sort(attribute='unique_id') %}
        {%- set relation = source.schema ~ '.' ~ source.identifier %}
        {%- do run_query('create schema if not exists ' ~ source.schema) %}
        {%- do run_query('drop table if exists ' ~ relation) %}
        {%- do run_query('create table ' ~ relation ~ " using parquet location '"
            ~ root ~ '/' ~ source.schema ~ '/' ~ source.identifier ~ "'") %}
        {%- do log('registered ' ~ relation, info=true) %}
    {%- endfor %}
{%- endmacro %}
