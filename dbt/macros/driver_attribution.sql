{#-
  Which formula-linked metrics fct_driver_attribution splits into their inputs' contributions, and
  how: read from the value expression fct_kpi_values computes (kpi_metric_specs), so the formula
  is never written a second time. Constants and brackets aside, `numerator / denominator` is a
  quotient (ratios, NPS, per-10k and per-FTE metrics) and `numerator * denominator` a product of
  two factors; any other shape (a sum, a difference) has no exact two-input split the model
  documents, so it gets no rows rather than a wrong one; so does a power (`**`, `^`, pow), which
  would hide behind the same shape once the constants are gone.
-#}

{% macro driver_formula_kinds() %}
    {#- {metric_name: {kind: quotient | product, constant: SQL of k}} of every ratio or derived
        metric of those shapes, y = k N / D or y = k N D: k is the value expression itself at
        N = D = 1, so a constant such as NPS's 100 is read from its one definition. -#}
    {%- set kinds = {} -%}
    {%- for spec in kpi_metric_specs().values() if spec.kind in ('ratio', 'derived') -%}
        {%- set shape = modules.re.sub('[0-9.\\s()]+', '', spec.value) -%}
        {%- set flat = modules.re.sub('\\s+', '', spec.value) | lower -%}
        {%- if '**' in flat or '^' in flat or 'pow' in flat -%}
        {%- else -%}
            {%- set constant = modules.re.sub('\\b(numerator|denominator)\\b', '1.0', spec.value) -%}
            {%- if modules.re.fullmatch('\\**numerator\\**/denominator[*/]*', shape) -%}
                {%- do kinds.update({spec.name: {'kind': 'quotient', 'constant': constant}}) -%}
            {%- elif modules.re.fullmatch('\\**numerator\\*+denominator[*/]*', shape) -%}
                {%- do kinds.update({spec.name: {'kind': 'product', 'constant': constant}}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(kinds) }}
{% endmacro %}
