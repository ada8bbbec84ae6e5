{#-
  The incremental read, org attribution and roll-up shared by fct_kpi_values and
  fct_kpi_standardised: written once, so the two models cannot attribute a record to different
  units or read different batches for a month. An observation (or a day's sum of them) counts
  for the org tree version valid on its event's date, a record without an org counts for the
  group, and one grouping-sets pass sums it up to every tier and to its handling center.
-#}

{% macro kpi_batches_observing(months) -%}
    {#- (semantic_model, _batch_id) of every batch that observes a (metric_name, period_start)
        pair of `months` (int_kpi_months_observed_by_batch): the batches an incremental KPI
        model reads again to recompute those pairs. -#}
    select distinct
        indexed.semantic_model,
        indexed._batch_id
    from {{ ref('int_kpi_months_observed_by_batch') }} as indexed
    inner join {{ months }}
        on
            indexed.metric_name = {{ months }}.metric_name
            and indexed.period_start = {{ months }}.period_start
{%- endmacro %}


{% macro kpi_day_sums_recomputed(batches, months) -%}
    {#- The rows of int_kpi_day_sums (aliased day_sums) of the batches in `batches`
        (kpi_batches_observing) and the (metric_name, period_start) pairs in `months`: what an
        incremental KPI model sums again for the pairs it recomputes. A from clause. -#}
    from {{ ref('int_kpi_day_sums') }} as day_sums
    inner join {{ batches }}
        on
            day_sums.semantic_model = {{ batches }}.semantic_model
            and day_sums._batch_id = {{ batches }}._batch_id
    inner join {{ months }}
        on
            day_sums.metric_name = {{ months }}.metric_name
            and day_sums.period_start = {{ months }}.period_start
{%- endmacro %}


{% macro kpi_attributed_select(observations, months, org_versions, group_root, columns) -%}
    {#- The rows of `observations` (observations or their sums per day; a relation with
        org_code, center_code, event_date,
        metric_name, period_start and `columns`) of the (metric, month) pairs in `months`, with
        the units they count for: group_code, subsidiary_code, branch_code, sub_branch_code
        (the org tree version of `org_versions` valid on the event's date) and center_code.
        `group_root` has the current group's org_code, for the records without an org. -#}
    select
        {%- for column in columns %}
        {{ observations }}.{{ column }},
        {%- endfor %}
        {{ observations }}.center_code,
        -- records without an org (center-only sources) still count for the whole group
        coalesce(
            {{ org_versions }}.group_code,
            case when {{ observations }}.org_code is null then {{ group_root }}.org_code end
        ) as group_code,
        {{ org_versions }}.subsidiary_code,
        {{ org_versions }}.branch_code,
        {{ org_versions }}.sub_branch_code
    from {{ observations }}
    inner join {{ months }}
        on
            {{ observations }}.metric_name = {{ months }}.metric_name
            and {{ observations }}.period_start = {{ months }}.period_start
    cross join {{ group_root }}
    left join {{ org_versions }}
        on
            {{ observations }}.org_code = {{ org_versions }}.org_code
            and {{ observations }}.event_date >= {{ org_versions }}.valid_from
            and {{ observations }}.event_date < coalesce({{ org_versions }}.valid_to, date '9999-12-31')
{%- endmacro %}


{% macro kpi_unit_path() -%}
    {#- The columns naming the units an attributed observation counts for (kpi_attributed_select),
        from the top tier down, then its handling center: what kpi_rollup_grouping_sets rolls
        up to. -#}
    {{ return(['group_code', 'subsidiary_code', 'branch_code', 'sub_branch_code', 'center_code']) }}
{%- endmacro %}


{% macro kpi_rollup_unit_columns() -%}
    {#- In a select grouped by kpi_rollup_grouping_sets: the tier and the unit of each row. -#}
    case
            when grouping(group_code) = 0 then 'group'
            when grouping(subsidiary_code) = 0 then 'subsidiary'
            when grouping(branch_code) = 0 then 'branch'
            when grouping(sub_branch_code) = 0 then 'sub_branch'
            else 'center'
        end as org_level,
        coalesce(group_code, subsidiary_code, branch_code, sub_branch_code, center_code)
            as org_code
{%- endmacro %}


{% macro kpi_rollup_grouping_sets(keys) -%}
    {#- The grouping sets summing rows that carry their units (kpi_attributed_select's, or sums
        of them per unit path) up to every tier and to the handling centers, each grouped by
        `keys` too. -#}
    grouping sets (
        {%- for unit in kpi_unit_path() %}
        ({{ keys | join(', ') }}, {{ unit }}){% if not loop.last %},{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
