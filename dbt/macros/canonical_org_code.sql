{#- Canonical org code of an operational record: trimmed, upper-cased, and mapped through the
    org master's alias list (legacy codes some systems still send). A lookup, not a business join:
    conforming codes is part of staging a source, and doing it here means every downstream model
    sees one code per unit.

    A staging model adds the CTE `conformed as ({{ conform_org_codes() }})` after `source` and
    selects `canonical_org_code as org_code` from it. Written as a left join rather than a scalar
    subquery in the select list: DuckDB decorrelates such a subquery into a join over a
    materialised copy of the whole source, which stops filters on the staging view (an
    incremental fact selecting only new batches) from reaching the raw table scan; a plain left
    join lets them through. The alias list is grouped by alias so the join can never repeat a
    record (duplicate aliases also fail stg_org_aliases' unique test). -#}
{% macro conform_org_codes(relation='source', column='org_code') -%}
    select
        {{ relation }}.*,
        coalesce(
            org_aliases.canonical_code, upper(trim({{ relation }}.{{ column }}))
        ) as canonical_org_code
    from {{ relation }}
    left join (
        select
            alias_code,
            min(org_code) as canonical_code
        from {{ ref('stg_org_aliases__org_aliases') }}
        group by alias_code
    ) as org_aliases
        on upper(trim({{ relation }}.{{ column }})) = org_aliases.alias_code
{%- endmacro %}
