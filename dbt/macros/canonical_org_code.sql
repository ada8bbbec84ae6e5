{#- Canonical org code of an operational record: trimmed, upper-cased, and mapped through the
    org master's alias list (legacy codes some systems still send). A lookup, not a business join:
    conforming codes is part of staging a source, and doing it here means every downstream model
    sees one code per unit. Pass the column qualified by its table (`source.org_code`): inside the
    lookup an unqualified `org_code` would mean the alias table's own column. -#}
{% macro canonical_org_code(column) -%}
    coalesce(
        (
            select aliases.org_code
            from {{ ref('stg_org_aliases__org_aliases') }} as aliases
            where aliases.alias_code = upper(trim({{ column }}))
        ),
        upper(trim({{ column }}))
    )
{%- endmacro %}
