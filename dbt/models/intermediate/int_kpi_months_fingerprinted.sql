-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{#- What the KPIs of each (metric, month) are computed from, as one fingerprint (input_digest):
    the batches of the batch-incremental facts that observe the pair and how often (from
    int_kpi_months_observed_by_batch), the other models' observations of it (month-end
    snapshots and monthly extracts, all small), the org tree, and the metric's own definition,
    targets and cascade rule (kpi_metric_digest): an edit of one metric's YAML changes the
    digests of that metric's pairs only. fct_kpi_values recomputes the pairs whose digest differs from the one its
    rows carry, and drops the rows of pairs no longer here (a metric taken out of the catalog). -#}

{{ kpi_depends_on() }}

{%- set specs = kpi_metric_specs() if execute else {} %}
{%- set index = kpi_semantic_index() if execute else {'models': {}} %}

with

metric_digests as (

    {{ kpi_metric_digests(specs, with_targets=true) }}

),

batch_inputs as (

    select
        metric_name,
        period_start,
        sum(hash(semantic_model, _batch_id, observations)) as batch_digest
    from {{ ref('int_kpi_months_observed_by_batch') }}
    where metric_name is not null
    group by metric_name, period_start

),

table_observations as (

    {{ kpi_table_observations(specs, index) }}

),

table_inputs as (

    select
        metric_name,
        cast(date_trunc('month', event_date) as date) as period_start,
        count(*) as observations,
        sum(hash(org_code, center_code, event_date, numerator, denominator, sample)) as digest
    from table_observations
    group by metric_name, cast(date_trunc('month', event_date) as date)

),

org_versions as (

    select * from {{ ref('dim_org') }}

),

org_tree_digest as (

    select
        sum(hash(
            org_code, valid_from, valid_to, org_level, is_current, group_code, subsidiary_code,
            branch_code, sub_branch_code
        )) as digest
    from org_versions

),

month_inputs as (

    select
        coalesce(batch_inputs.metric_name, table_inputs.metric_name) as metric_name,
        coalesce(batch_inputs.period_start, table_inputs.period_start) as period_start,
        md5(concat_ws(
            '|',
            coalesce(batch_inputs.batch_digest, 0),
            coalesce(table_inputs.observations, 0),
            coalesce(table_inputs.digest, 0),
            org_tree_digest.digest,
            metric_digests.metric_digest
        )) as input_digest
    from batch_inputs
    full outer join table_inputs
        on
            batch_inputs.metric_name = table_inputs.metric_name
            and batch_inputs.period_start = table_inputs.period_start
    cross join org_tree_digest
    inner join metric_digests
        on coalesce(batch_inputs.metric_name, table_inputs.metric_name) = metric_digests.metric_name

)

select
    metric_name,
    period_start,
    input_digest
from month_inputs
