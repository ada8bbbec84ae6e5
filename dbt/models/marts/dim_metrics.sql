{#- The metric catalog as the dashboards and analysts read it: one row per published metric.
    The computation of each metric lives in its owner's observation model; this table holds its
    presentation and governance attributes. -#}
with

catalog (metric_name, label, label_zh, description, unit, direction, dimension, owner) as (

    values
    (
        'claims_cycle_time_days', 'Claims cycle time', '理赔时效(平均)',
        'Claims paid in the month: mean of (paid_at - reported_at) in days.',
        'days', 'lower_is_better', 'efficiency', 'claims'
    ),
    (
        'claims_cycle_time_p90_days', 'Claims cycle time P90', '理赔时效(P90)',
        'Claims paid in the month: continuous 90th percentile of (paid_at - reported_at), days.',
        'days', 'lower_is_better', 'efficiency', 'claims'
    ),
    (
        'claims_auto_rate', 'Claims auto-processing rate', '理赔自动化率',
        'Claims paid in the month: share processed with no human touch.',
        'percent', 'higher_is_better', 'efficiency', 'claims'
    ),
    (
        'service_level_20s', 'Service level (20 s)', '20秒接通率',
        'Voice contacts arrived in the month: answered in 20 s / (offered - abandoned in 5 s).',
        'percent', 'higher_is_better', 'service', 'customer_service'
    ),
    (
        'abandonment_rate', 'Abandonment rate', '放弃率',
        'Voice contacts arrived in the month: abandoned / offered.',
        'percent', 'lower_is_better', 'service', 'customer_service'
    ),
    (
        'nps', 'Net promoter score', '净推荐值',
        'Responses in the month: 100 x (promoters 9-10 - detractors 0-6) / responses.',
        'points', 'higher_is_better', 'service', 'customer_service'
    ),
    (
        'complaints_per_10k_policies', 'Complaints per 10k policies', '万张保单投诉量',
        'Complaints received in the month / policies in force at month end x 10,000.',
        'per_10k', 'lower_is_better', 'service', 'complaints'
    ),
    (
        'task_sla_rate', 'Task SLA attainment', '作业时效达成率',
        'Tasks completed in the month: completed by their SLA due time / completed.',
        'percent', 'higher_is_better', 'efficiency', 'operations'
    )

),

final as (

    select * from catalog

)

select * from final
