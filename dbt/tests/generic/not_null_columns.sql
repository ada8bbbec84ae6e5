{#- Required columns: fails with every row in which one of `columns` is null.

    dbt's own not_null tests one column per test, and every test is a node: at the pipeline's
    size dbt spends more on a node (compiling it, its events, Dagster's asset check) than DuckDB
    spends on the query (a refresh at scale 1: 103 of 226 nodes were not_null tests). One test
    per model names all of its required columns and reads them in one scan. The columns are
    listed in the model's yml, as dbt's not_null would be; the failing rows show which is null. -#}
{% test not_null_columns(model, columns) %}

select {{ columns | join(', ') }}
from {{ model }}
where {% for column in columns -%}
    {{ column }} is null{% if not loop.last %} or {% endif %}
{%- endfor %}

{% endtest %}
