{#- Canonical org code of an operational record: trimmed, upper-cased, and mapped through the
    org master's alias list (legacy codes some systems still send). A lookup, not a business join:
    conforming codes is part of staging a source, and doing it here means every downstream model
    sees one code per unit. The alias table's own org_code is renamed inside the lookup so that
    the unqualified `column` can only mean the outer record's column. -#}
{% macro canonical_org_code(column) -%}
    coalesce(
        (
            select aliases.canonical_code
            from (
                select
                    alias_code,
                    org_code as canonical_code
                from {{ ref('stg_org_aliases__org_aliases') }}
            ) as aliases
            where aliases.alias_code = upper(trim({{ column }}))
        ),
        upper(trim({{ column }}))
    )
{%- endmacro %}
