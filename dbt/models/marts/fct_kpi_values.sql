-- Rendered from Jinja loops over the semantic layer: indentation and line length follow the
-- template, not the rendered SQL.
-- noqa: disable=LT02,LT05
{# The published KPI table, computed from the governed metric definitions (the semantic-layer
    YAML in each owner's folder) by the kpi_* macros: one scan per semantic model turns every
    record into per-metric observations, which are attributed to the org tree version valid on
    the event's date and rolled up to all tiers in one grouping-sets pass. Ratios are sums of
    numerators over sums of denominators at every level, percentiles are recomputed from the
    detail rows, and snapshot measures are taken at the month end. -#}

{#- Incremental by month: the KPIs of a metric and month are a function of that month's
    observations and the org tree alone (no window reaches across months), so a run recomputes
    only the (metric, month) pairs whose inputs changed. `input_digest` fingerprints those inputs
    (count and an order-independent sum of row hashes of the observations, plus the org tree);
    pairs whose digest matches the stored one are left alone. Late records, corrected files,
    month-end snapshots and reorganisations all show up as changed digests. The observation scan
    itself runs every time: it is what tells which months changed. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['metric_name', 'period_start'],
    on_schema_change='fail',
    full_refresh=var('opsvalue_rebuild', none),
) }}

{#- Static dependencies for dbt's DAG: every model a semantic model rests on. -#}
-- depends_on: {{ ref('fct_claims') }}
-- depends_on: {{ ref('fct_applications') }}
-- depends_on: {{ ref('fct_endorsements') }}
-- depends_on: {{ ref('fct_policies_in_force_monthly') }}
-- depends_on: {{ ref('fct_policy_cohorts') }}
-- depends_on: {{ ref('fct_contacts') }}
-- depends_on: {{ ref('fct_nps_responses') }}
-- depends_on: {{ ref('fct_complaints') }}
-- depends_on: {{ ref('fct_tasks') }}
-- depends_on: {{ ref('fct_task_backlog_monthly') }}
-- depends_on: {{ ref('fct_rpa_runs') }}
-- depends_on: {{ ref('fct_op_costs') }}
-- depends_on: {{ ref('fct_staffing_monthly') }}
-- depends_on: {{ ref('fct_project_milestones') }}
-- depends_on: {{ ref('fct_metric_governance') }}

{%- if execute %}
    {%- set specs = kpi_metric_specs() %}
{%- else %}
    {%- set specs = {} %}
{%- endif %}
{%- set index = kpi_semantic_index() if execute else {'models': {}} %}
{%- set percentiles = [] %}
{%- for spec in specs.values() if spec.kind == 'percentile' %}
    {%- if spec.percentile not in percentiles %}
        {%- do percentiles.append(spec.percentile) %}
    {%- endif %}
{%- endfor %}

with

observations as (

    {%- set scans = [] %}
    {%- for model in index.models.values() | sort(attribute='name') %}
        {%- set items = [] %}
        {%- for spec in specs.values() if spec.is_kpi %}
            {%- if spec.kind == 'percentile' and spec.sample.model == model.name %}
                {%- do items.append({'date': spec.sample.time_sql, 'when': spec.sample.condition,
                    'num': 'null', 'den': 'null', 'sample': spec.sample.value, 'name': spec.name}) %}
            {%- elif spec.kind == 'additive' and spec.numerator.model == model.name %}
                {%- set n = spec.numerator %}
                {%- do items.append({'date': n.time_sql, 'when': n.condition,
                    'num': n.value, 'den': 'null', 'sample': 'null', 'name': spec.name}) %}
            {%- elif spec.kind in ('mean', 'ratio', 'derived') %}
                {%- set n = spec.numerator %}
                {%- set d = spec.denominator %}
                {%- set den_value = '1.0' if spec.kind == 'mean' else d.value %}
                {%- set same_scan = n.model == model.name and d.model == model.name %}
                {%- if same_scan and n.time_sql == d.time_sql %}
                    {%- do items.append({'date': n.time_sql,
                        'when': '(' ~ n.condition ~ ') or (' ~ d.condition ~ ')',
                        'num': 'case when ' ~ n.condition ~ ' then ' ~ n.value ~ ' end',
                        'den': 'case when ' ~ d.condition ~ ' and (' ~ d.value ~ ') is not null then ' ~ den_value ~ ' end',
                        'sample': 'null', 'name': spec.name}) %}
                {%- else %}
                    {%- if n.model == model.name %}
                        {%- do items.append({'date': n.time_sql, 'when': n.condition,
                            'num': n.value, 'den': 'null', 'sample': 'null', 'name': spec.name}) %}
                    {%- endif %}
                    {%- if d.model == model.name %}
                        {%- do items.append({'date': d.time_sql, 'when': d.condition,
                            'num': 'null', 'den': den_value, 'sample': 'null', 'name': spec.name}) %}
                    {%- endif %}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
        {%- if items %}
            {%- do scans.append({'model': model, 'items': items}) %}
        {%- endif %}
    {%- endfor %}
    {%- for scan in scans %}
    select
        observed.org_code,
        observed.center_code,
        observed.metric_name,
        observed.event_date,
        observed.numerator,
        observed.denominator,
        observed.sample
    from (
        select
            {{ scan.model.entities.get('org', 'null') }} as org_code,
            {{ scan.model.entities.get('center', 'null') }} as center_code,
            unnest([
                {%- for item in scan['items'] %}
                {
                    'metric_name': '{{ item.name }}',
                    'event_date': case when {{ item.when }} then {{ item.date }} end,
                    'numerator': cast({{ item.num }} as double),
                    'denominator': cast({{ item.den }} as double),
                    'sample': cast({{ item.sample }} as double)
                }{% if not loop.last %},{% endif %}
                {%- endfor %}
            ], recursive := true)
        from {{ scan.model.relation }}
    ) as observed
    where observed.event_date is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not scans %}
    select
        cast(null as varchar) as org_code,
        cast(null as varchar) as center_code,
        cast(null as varchar) as metric_name,
        cast(null as date) as event_date,
        cast(null as double) as numerator,
        cast(null as double) as denominator,
        cast(null as double) as sample
    where false
    {%- endif %}

),

org_versions as (

    select * from {{ ref('dim_org') }}

),

org_tree_digest as (

    select
        sum(hash(
            org_code, valid_from, valid_to, group_code, subsidiary_code, branch_code,
            sub_branch_code
        )) as digest
    from org_versions

),

observed_months as (

    select
        *,
        cast(date_trunc('month', event_date) as date) as period_start
    from observations

),

month_inputs as (

    select
        observed_months.metric_name,
        observed_months.period_start,
        md5(concat_ws(
            '|',
            count(*),
            sum(hash(
                observed_months.org_code,
                observed_months.center_code,
                observed_months.event_date,
                observed_months.numerator,
                observed_months.denominator,
                observed_months.sample
            )),
            any_value(org_tree_digest.digest)
        )) as input_digest
    from observed_months
    cross join org_tree_digest
    group by observed_months.metric_name, observed_months.period_start

),

changed_months as (

    select
        metric_name,
        period_start,
        input_digest
    from month_inputs
    {%- if is_incremental() %}
    where not exists (
        select 1
        from {{ this }} as published
        where
            published.metric_name = month_inputs.metric_name
            and published.period_start = month_inputs.period_start
            and published.input_digest = month_inputs.input_digest
    )
    {%- endif %}

),

group_root as (

    select any_value(org_code) as org_code
    from org_versions
    where org_level = 'group' and is_current

),

attributed as (

    select
        observations.metric_name,
        observations.period_start,
        observations.numerator,
        observations.denominator,
        observations.sample,
        observations.center_code,
        -- records without an org (center-only sources) still count for the whole group
        coalesce(
            org_versions.group_code,
            case when observations.org_code is null then group_root.org_code end
        ) as group_code,
        org_versions.subsidiary_code,
        org_versions.branch_code,
        org_versions.sub_branch_code
    from observed_months as observations
    inner join changed_months
        on
            observations.metric_name = changed_months.metric_name
            and observations.period_start = changed_months.period_start
    cross join group_root
    left join org_versions
        on
            observations.org_code = org_versions.org_code
            and observations.event_date >= org_versions.valid_from
            and observations.event_date < coalesce(org_versions.valid_to, date '9999-12-31')

),

rolled_up as (

    select
        metric_name,
        period_start,
        case
            when grouping(group_code) = 0 then 'group'
            when grouping(subsidiary_code) = 0 then 'subsidiary'
            when grouping(branch_code) = 0 then 'branch'
            when grouping(sub_branch_code) = 0 then 'sub_branch'
            else 'center'
        end as org_level,
        coalesce(group_code, subsidiary_code, branch_code, sub_branch_code, center_code)
            as org_code,
        -- a unit with denominator records but no qualifying numerator record has numerator 0
        coalesce(sum(numerator), 0) as numerator,
        sum(denominator) as denominator,
        count(numerator) as numerator_rows,
        {%- if percentiles %}
        quantile_cont(sample, {{ percentiles | list }}) as quantiles,
        {%- endif %}
        count(sample) as sample_rows
    from attributed
    group by grouping sets (  -- noqa: PRS
        (metric_name, period_start, group_code),
        (metric_name, period_start, subsidiary_code),
        (metric_name, period_start, branch_code),
        (metric_name, period_start, sub_branch_code),
        (metric_name, period_start, center_code)
    )

),

valued as (

    select
        metric_name,
        period_start,
        org_level,
        org_code,
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind == 'percentile' %} null
            {%- elif spec.kind == 'additive' %} numerator
            {%- else %} numerator
            {%- endif %}
            {%- endfor %}
        end as numerator,
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind in ('percentile', 'additive') %} null
            {%- else %} denominator
            {%- endif %}
            {%- endfor %}
        end as denominator,
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind == 'percentile' %}
                quantiles[{{ percentiles.index(spec.percentile) + 1 }}]
            {%- elif spec.kind == 'additive' %}
                numerator
            {%- elif spec.kind == 'derived' %}
                case when denominator <> 0 then {{ spec.value }} end
            {%- else %}
                case when denominator <> 0 then numerator / denominator end
            {%- endif %}
            {%- endfor %}
        end as value,  -- noqa: RF04
        case metric_name
            {%- for spec in specs.values() if spec.is_kpi %}
            when '{{ spec.name }}' then
            {%- if spec.kind == 'percentile' %} sample_rows > 0
            {%- elif spec.kind == 'additive' %} numerator_rows > 0
            {%- else %} coalesce(denominator, 0) > 0
            {%- endif %}
            {%- endfor %}
        end as has_value
    from rolled_up
    where org_code is not null

),

versions as (

    select
        metric_name,
        definition_version
    from {{ ref('dim_metric_catalog') }}

),

targets as (

    select * from {{ ref('dim_metric_targets') }}

),

final as (

    select
        valued.metric_name,
        valued.period_start,
        valued.org_level,
        valued.org_code,
        valued.numerator,
        valued.denominator,
        -- `value` is the published column name analysts and dashboards query
        valued.value,  -- noqa: RF04
        versions.definition_version,
        targets.target,
        targets.red_threshold,
        case
            when targets.target is null or valued.value is null then null
            when targets.direction = 'higher_is_better' and valued.value >= targets.target
                then 'green'
            when targets.direction = 'higher_is_better' and valued.value >= targets.red_threshold
                then 'amber'
            when targets.direction = 'higher_is_better' then 'red'
            when targets.direction = 'lower_is_better' and valued.value <= targets.target
                then 'green'
            when targets.direction = 'lower_is_better' and valued.value <= targets.red_threshold
                then 'amber'
            when targets.direction = 'lower_is_better' then 'red'
        end as status,
        changed_months.input_digest,
        '{{ invocation_id }}' as _dbt_invocation_id
    from valued
    inner join versions on valued.metric_name = versions.metric_name
    inner join changed_months
        on
            valued.metric_name = changed_months.metric_name
            and valued.period_start = changed_months.period_start
    left join targets
        on
            valued.metric_name = targets.metric_name
            and valued.org_level = targets.org_level
    where valued.has_value

)

select * from final
