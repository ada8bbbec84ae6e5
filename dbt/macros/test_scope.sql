{#- Data tests on the rows a refresh added, not on the whole history.

    dbt wraps the model every generic test reads in get_where_subquery(); this project's version
    adds a scope when the pipeline passes the batches it loaded since the last build (environment
    variable OPSVALUE_NEW_BATCHES, a JSON list; see plan_build in dagster_project/lib/dbt_project.py).
    An environment variable read only at execution time, not a --vars value: dbt re-parses the
    whole project when --vars change, which would cost every refresh a full parse.
    It scopes the tests of models whose rows carry the raw batch they came from (the staging views
    over raw tables and the batch-incremental facts) and nothing else:

    - not_null_columns, not_null, accepted_values, relationships (the child side): the rows of the
      new batches;
    - unique: every row whose key is also the key of a row of a new batch, so a new record that
      repeats an old key still fails.

    The pipeline passes no batches, and every row is tested, when the dbt project or the alias
    list changed (a rebuild) or when a source that tests look values up in (org units, centers)
    changed, since then old rows can break too. Without the var (analysts, CI, `dbt build` by
    hand) tests cover every row, as in dbt. -#}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') %}
    {%- set scope = opsvalue_test_scope() %}
    {%- if where and scope %}
        {%- set where = '(' ~ where ~ ') and (' ~ scope ~ ')' %}
    {%- elif scope %}
        {%- set where = scope %}
    {%- endif %}
    {%- if where %}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) %}
    {%- else %}
        {%- do return(relation) %}
    {%- endif %}
{%- endmacro %}


{% macro opsvalue_test_scope() -%}
    {#- The filter for the current test, or '' to test every row. -#}
    {%- if not execute %}
        {%- do return('') %}
    {%- endif %}
    {%- set listed_json = env_var('OPSVALUE_NEW_BATCHES', '') %}
    {%- if not listed_json %}
        {%- do return('') %}
    {%- endif %}
    {%- set batches = fromjson(listed_json) %}
    {%- set kind = model.test_metadata.name if model.test_metadata else none %}
    {%- if kind not in (
        'not_null_columns', 'not_null', 'accepted_values', 'relationships', 'unique'
    ) %}
        {%- do return('') %}
    {%- endif %}
    {%- set tested = graph.nodes.get(model.attached_node) if model.attached_node else none %}
    {%- if tested is none or not opsvalue_carries_batches(tested) %}
        {%- do return('') %}
    {%- endif %}
    {%- set listed = [] %}
    {%- for batch in batches %}
        {%- do listed.append("'" ~ (batch | string | replace("'", "''")) ~ "'") %}
    {%- endfor %}
    {%- if not listed %}
        {%- do return('false') %}
    {%- endif %}
    {%- if kind == 'unique' %}
        {%- set column = model.test_metadata.kwargs.column_name %}
        {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', column) %}
            {#- an expression or a quoted name: test every row rather than guess -#}
            {%- do return('') %}
        {%- endif %}
        {%- do return(column ~ ' in (select scoped.' ~ column ~ ' from ' ~ tested.relation_name
            ~ ' as scoped where scoped._batch_id in (' ~ listed | join(', ') ~ '))') %}
    {%- endif %}
    {%- do return('_batch_id in (' ~ listed | join(', ') ~ ')') %}
{%- endmacro %}


{% macro opsvalue_carries_batches(node) -%}
    {#- A staging view over one raw table (one row per raw row, each carrying its _batch_id; the
        alias lookup joins at most one alias) or a batch-incremental fact
        (macros/incremental_batches.sql). -#}
    {%- if node.config.materialized == 'incremental' and node.config.unique_key == '_source_file' %}
        {%- do return(true) %}
    {%- endif %}
    {%- set raw_sources = [] %}
    {%- for parent in node.depends_on.nodes if parent.startswith('source.') %}
        {%- if graph.sources[parent].schema == 'raw' %}
            {%- do raw_sources.append(parent) %}
        {%- endif %}
    {%- endfor %}
    {%- do return(node.fqn[1] == 'staging' and raw_sources | length == 1) %}
{%- endmacro %}
