{#- The data-governance view of the warehouse's inputs: what each owner delivered per month and
    how much of it the quality gate let through, held back or flagged. -#}
with

file_versions as (

    select * from {{ ref('stg_meta__file_versions') }}

),

rule_counts as (

    select * from {{ ref('stg_meta__batch_rule_counts') }}

),

gate_states as (

    select * from {{ ref('stg_meta__source_gate_states') }}

),

deliveries as (

    select
        source,
        cast({{ dbt.date_trunc('month', 'loaded_at') }} as date) as period_start,
        -- a withdrawal is recorded in the ledger but delivers nothing
        count(*) filter (where status <> 'withdrawn') as files_delivered,
        sum(coalesce(rows_delivered, 0)) as rows_delivered,
        sum(coalesce(rows_loaded, 0)) as rows_loaded,
        sum(coalesce(rows_quarantined, 0)) as rows_quarantined,
        sum(coalesce(rows_rejected, 0)) as rows_rejected,
        sum(coalesce(rows_flagged, 0)) as rows_flagged,
        count(*) filter (where status = 'rejected') as rejected_batches
    from file_versions
    group by source, period_start

),

quarantined_rules as (

    select
        file_versions.source,
        cast({{ dbt.date_trunc('month', 'file_versions.loaded_at') }} as date) as period_start,
        rule_counts.rule,
        sum(rule_counts.row_count) as row_count
    from rule_counts
    inner join file_versions
        on rule_counts.batch_id = file_versions.batch_id
    where rule_counts.outcome = 'quarantined'
    group by file_versions.source, period_start, rule_counts.rule

),

quarantined_by_rule as (

    select
        source,
        period_start,
        {{ json_object_agg_text('rule', 'row_count') }} as rows_quarantined_by_rule
    from quarantined_rules
    group by source, period_start

),

final as (

    select
        deliveries.source,
        gate_states.data_owner,
        deliveries.period_start,
        cast(deliveries.files_delivered as bigint) as files_delivered,
        cast(deliveries.rows_delivered as bigint) as rows_delivered,
        cast(deliveries.rows_loaded as bigint) as rows_loaded,
        cast(deliveries.rows_quarantined as bigint) as rows_quarantined,
        cast(deliveries.rows_rejected as bigint) as rows_rejected,
        cast(deliveries.rows_flagged as bigint) as rows_flagged,
        cast(deliveries.rejected_batches as bigint) as rejected_batches,
        -- a fraction: engines such as Trino truncate integer division
        cast(deliveries.rows_loaded as double)
        / nullif(deliveries.rows_delivered, 0) as pass_rate,
        coalesce(gate_states.is_stale, false) as is_stale,
        coalesce(gate_states.state, 'ok') as gate_state,
        coalesce(quarantined_by_rule.rows_quarantined_by_rule, '{}') as rows_quarantined_by_rule
    from deliveries
    left join gate_states
        on deliveries.source = gate_states.source
    left join quarantined_by_rule
        on
            deliveries.source = quarantined_by_rule.source
            and deliveries.period_start = quarantined_by_rule.period_start

)

select * from final
