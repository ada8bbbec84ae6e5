{#-
  The indicator tree (issue 15), read at execution time from the one place it is defined:
    goals -> dimensions   config.meta.indicator_tree.goals of the model dim_indicator_tree
                          (models/owners/transformation/_transformation__models.yml);
    dimension -> KPI      each KPI's config.meta.dimension (the metric catalog);
    formula links         each ratio or derived metric's own inputs (type_params), so a formula
                          is never written twice;
    driver links          config.meta.indicator_tree.drivers (parent, child, direction).
  `opsvalue catalog lint` (dagster_project/defs/transform/tree.py) checks the same YAML.
-#}

{% macro indicator_tree_config() %}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'dim_indicator_tree' -%}
        {{ return(node.config.meta.get('indicator_tree') or {}) }}
    {%- endfor -%}
    {{ return({}) }}
{% endmacro %}


{% macro indicator_tree_links() %}
    {#- Every link of the tree, parents before children: [{parent, parent_kind, child,
        child_kind, link_type, input_role, is_filtered, direction}]. -#}
    {%- set tree = indicator_tree_config() -%}
    {%- set metrics = {} -%}
    {%- for metric in graph.metrics.values() -%}
        {%- do metrics.update({metric.name: metric}) -%}
    {%- endfor -%}
    {%- set links = [] -%}
    {%- for goal in tree.get('goals') or [] -%}
        {%- do links.append({'parent': none, 'parent_kind': none, 'child': goal.name,
            'child_kind': 'goal', 'link_type': 'root', 'input_role': none, 'is_filtered': false,
            'direction': none}) -%}
        {%- for dimension in goal.get('dimensions') or [] -%}
            {%- do links.append({'parent': goal.name, 'parent_kind': 'goal', 'child': dimension,
                'child_kind': 'dimension', 'link_type': 'hierarchy', 'input_role': none,
                'is_filtered': false, 'direction': none}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for metric in metrics.values() | sort(attribute='name') -%}
        {%- set meta = metric.config.meta or {} -%}
        {%- if not meta.get('component', false) -%}
            {%- do links.append({'parent': meta.get('dimension'), 'parent_kind': 'dimension',
                'child': metric.name, 'child_kind': 'kpi', 'link_type': 'hierarchy',
                'input_role': none, 'is_filtered': false, 'direction': none}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for metric in metrics.values() | sort(attribute='name') if metric.type in ('ratio', 'derived') -%}
        {%- set tp = metric.type_params -%}
        {%- set inputs = [tp.numerator, tp.denominator] if metric.type == 'ratio' else tp.metrics -%}
        {%- for input in inputs if input -%}
            {%- set child = metrics.get(input.name) -%}
            {%- set child_meta = (child.config.meta or {}) if child else {} -%}
            {%- do links.append({'parent': metric.name, 'parent_kind': 'metric', 'child': input.name,
                'child_kind': 'component' if child_meta.get('component', false) else 'kpi',
                'link_type': 'formula',
                'input_role': 'numerator' if loop.first else 'denominator',
                'is_filtered': (input.filter is not none) or (metric.filter is not none),
                'direction': none}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for driver in tree.get('drivers') or [] -%}
        {%- set child = metrics.get(driver.child) -%}
        {%- set child_meta = (child.config.meta or {}) if child else {} -%}
        {%- do links.append({'parent': driver.parent, 'parent_kind': 'metric', 'child': driver.child,
            'child_kind': 'component' if child_meta.get('component', false) else 'kpi',
            'link_type': 'driver', 'input_role': none, 'is_filtered': false,
            'direction': driver.direction}) -%}
    {%- endfor -%}
    {{ return(links) }}
{% endmacro %}
