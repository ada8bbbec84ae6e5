{#- A composite key is unique: no two rows share the same values in `columns`.
    Written here because dbt packages (dbt_utils) cannot be fetched on machines without the hub. -#}
{% test unique_key_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
