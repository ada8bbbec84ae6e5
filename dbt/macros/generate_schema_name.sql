{#- Schemas are the architecture's layers (raw, staging, intermediate, marts): use the folder's
    schema name as it is instead of dbt's default `<target>_<schema>` prefixing. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
