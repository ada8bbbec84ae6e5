-- The floor: the eight spine KPIs at every org level and month, straight from the raw extracts.
--
-- Hand-written on purpose, in one DuckDB session, with no staging, no marts and no framework: the
-- least work that produces the numbers `marts.fct_kpi_values` publishes for these metrics, so the
-- pipeline's cost can be read as a multiple of it. The definitions are those of the metric
-- catalog (dbt/models/owners/<owner>/_<owner>__metrics.yml); `python -m benchmarks.floor
-- --verify` checks that both give the same numbers. Clean extracts are assumed (generated with
-- --defects 0): nothing here quarantines, deduplicates or repairs rows.
--
-- Each source is scanned once and reduced at once to per-day sums per raw org and center code;
-- org codes are canonicalised and attributed (org tree version valid on the event date) on
-- those small sums, then every level is rolled up in one grouping-sets pass. Only the P90 needs
-- the paid claims themselves. `${files_<source>}` is replaced by the list of that source's files
-- (benchmarks/floor.py).

-- The org tree: one row per node version and interval of its ancestor chain (as marts.dim_org).
create or replace temp table org_chains as
with recursive

versions as (

    select
        upper(trim(org_code)) as org_code,
        org_level,
        upper(trim(parent_code)) as parent_code,
        valid_from,
        coalesce(valid_to, date '9999-12-31') as valid_until
    from read_csv(
        ${files_org_units},
        header = true, delim = ',', quote = '"', escape = '"', all_varchar = true,
        dateformat = '%Y-%m-%d',
        types = { 'valid_from': 'DATE', 'valid_to': 'DATE' }
    )

),

chains as (

    select
        org_code,
        org_level,
        valid_from,
        valid_until,
        org_code as group_code,
        cast(null as varchar) as subsidiary_code,
        cast(null as varchar) as branch_code,
        cast(null as varchar) as sub_branch_code
    from versions
    where parent_code is null

    union all

    select
        child.org_code,
        child.org_level,
        greatest(child.valid_from, parent.valid_from) as valid_from,
        least(child.valid_until, parent.valid_until) as valid_until,
        parent.group_code,
        case
            when child.org_level = 'subsidiary' then child.org_code else parent.subsidiary_code
        end as subsidiary_code,
        case
            when child.org_level = 'branch' then child.org_code else parent.branch_code
        end as branch_code,
        case
            when child.org_level = 'sub_branch' then child.org_code else parent.sub_branch_code
        end as sub_branch_code
    from versions as child
    inner join chains as parent
        on
            child.parent_code = parent.org_code
            and child.valid_from < parent.valid_until
            and child.valid_until > parent.valid_from

)

select * from chains;

create or replace temp table org_aliases as
select
    upper(trim(alias_code)) as alias_code,
    upper(trim(org_code)) as org_code
from read_csv(
    ${files_org_aliases},
    header = true, delim = ',', quote = '"', escape = '"', all_varchar = true
);

-- Claims: kept per claim (the P90 is recomputed from them at every level).
create or replace temp table claims as
select
    org_code,
    center_code,
    cast(reported_at as date) as reported_date,
    cast(paid_at as date) as paid_date,
    coalesce(auto_processed, false) as is_auto_processed,
    epoch(paid_at - reported_at) / 86400.0 as cycle_time_days
from read_csv(
    ${files_claims},
    header = true, delim = ',', quote = '"', escape = '"', all_varchar = true,
    timestampformat = '%Y-%m-%d %H:%M:%S',
    types = { 'reported_at': 'TIMESTAMP', 'paid_at': 'TIMESTAMP', 'auto_processed': 'BOOLEAN' }
);

-- Contacts per arrival day, raw org and center: every contact (the calendar's bounds), voice
-- contacts, abandoned ones, answered within 20 s, not abandoned within 5 s.
create or replace temp table contacts_daily as
with

contacts as (

    select
        org_code,
        center_code,
        contact_id,
        cast(arrived_at as date) as arrived_date,
        channel = 'voice' as is_voice,
        abandoned_at is not null as is_abandoned,
        coalesce(
            answered_at is not null and answered_at - arrived_at <= interval 20 second, false
        ) as is_answered_within_20s,
        coalesce(
            abandoned_at is not null and abandoned_at - arrived_at <= interval 5 second, false
        ) as is_abandoned_within_5s
    from read_csv(
        ${files_contacts},
        header = true, delim = ',', quote = '"', escape = '"', all_varchar = true,
        timestampformat = '%Y-%m-%d %H:%M:%S',
        types = {
            'arrived_at': 'TIMESTAMP', 'answered_at': 'TIMESTAMP', 'abandoned_at': 'TIMESTAMP'
        }
    )

),

final as (

    select
        org_code,
        center_code,
        arrived_date,
        count(contact_id) filter (where is_voice) as voice_contacts,
        count(contact_id) filter (where is_voice and is_abandoned) as voice_abandoned,
        count(contact_id) filter (where is_voice and is_answered_within_20s)
            as voice_answered_within_20s,
        count(contact_id) filter (where is_voice and not is_abandoned_within_5s)
            as voice_not_abandoned_within_5s
    from contacts
    group by all

)

select * from final;

-- Tasks per completion day, raw org and center; the empty grouping set carries the bounds of
-- created_at for the calendar, in the same scan.
create or replace temp table tasks_daily as
with

tasks as (

    select
        org_code,
        center_code,
        created_at,
        cast(completed_at as date) as completed_date,
        coalesce(completed_at <= sla_due_at, false) as is_completed_within_sla
    from read_csv(
        ${files_tasks},
        header = true, delim = ',', quote = '"', escape = '"', all_varchar = true,
        timestampformat = '%Y-%m-%d %H:%M:%S',
        types = {
            'created_at': 'TIMESTAMP', 'completed_at': 'TIMESTAMP', 'sla_due_at': 'TIMESTAMP'
        }
    )

),

final as (

    select
        org_code,
        center_code,
        completed_date,
        grouping(org_code, center_code, completed_date) = 0 as is_detail,
        count(completed_date) as tasks_completed,
        count(completed_date) filter (where is_completed_within_sla) as tasks_within_sla,
        min(created_at) as first_created_at,
        max(created_at) as last_created_at
    from tasks
    group by grouping sets ((org_code, center_code, completed_date), ())  -- noqa: PRS

)

select * from final;

create or replace temp table nps_daily as
with

responses as (

    select
        org_code,
        response_id,
        cast(responded_at as date) as responded_date,
        case when score >= 9 then 1 when score <= 6 then -1 else 0 end as net_promoter_points
    from read_csv(
        ${files_nps_responses},
        header = true, delim = ',', quote = '"', escape = '"', all_varchar = true,
        timestampformat = '%Y-%m-%d %H:%M:%S',
        types = { 'score': 'INTEGER', 'responded_at': 'TIMESTAMP' }
    )

),

final as (

    select
        org_code,
        responded_date,
        sum(net_promoter_points) as net_promoters,
        count(response_id) as responses
    from responses
    group by all

)

select * from final;

create or replace temp table complaints_daily as
with

complaints as (

    select
        org_code,
        complaint_id,
        cast(received_at as date) as received_date
    from read_csv(
        ${files_complaints},
        header = true, delim = ',', quote = '"', escape = '"', all_varchar = true,
        timestampformat = '%Y-%m-%d %H:%M:%S',
        types = { 'received_at': 'TIMESTAMP' }
    )

),

final as (

    select
        org_code,
        received_date,
        count(complaint_id) as complaints
    from complaints
    group by all

)

select * from final;

-- The reporting calendar (as marts.dim_months): every month from the first to the last month
-- with a claim reported, a contact arriving or a task created.
create or replace temp table months as
with

event_bounds as (

    select
        min(reported_date) as first_date,
        max(reported_date) as last_date
    from claims
    union all
    select
        min(arrived_date) as first_date,
        max(arrived_date) as last_date
    from contacts_daily
    union all
    select
        cast(first_created_at as date) as first_date,
        cast(last_created_at as date) as last_date
    from tasks_daily
    where not is_detail

),

bounds as (

    select
        cast(date_trunc('month', min(first_date)) as timestamp) as first_month,
        cast(date_trunc('month', max(last_date)) as timestamp) as last_month
    from event_bounds

),

final as (

    select cast(last_day(series.month_start) as date) as month_end_date
    from bounds,
        generate_series(bounds.first_month, bounds.last_month, interval 1 month)
            as series (month_start)

)

select * from final;

-- Policies in force at each month end per raw org code: issued on or before it and not
-- terminated on or before it. Counted as a running sum of +1 at issue and -1 at termination (never
-- before issue), each change booked to the first month end on or after it, so the policies are
-- scanned once instead of once per month.
create or replace temp table policies_in_force as
with

policies as (

    select
        org_code,
        issued_date,
        -- greatest() skips nulls: a policy never terminated never ends
        case
            when terminated_date is not null then greatest(issued_date, terminated_date)
        end as ended_date
    from read_csv(
        ${files_policies},
        header = true, delim = ',', quote = '"', escape = '"', all_varchar = true,
        dateformat = '%Y-%m-%d',
        types = { 'issued_date': 'DATE', 'terminated_date': 'DATE' }
    )

),

issued as (

    select * from policies
    where issued_date is not null

),

changes as (

    select
        org_code,
        issued_date as change_date,
        count(*) as delta
    from issued
    group by all
    union all
    select
        org_code,
        ended_date as change_date,
        -count(*) as delta
    from issued
    where ended_date is not null
    group by all

),

calendar as (

    select
        min(month_end_date) as first_month_end,
        max(month_end_date) as last_month_end
    from months

),

booked as (

    select
        changes.org_code,
        greatest(last_day(changes.change_date), calendar.first_month_end) as month_end_date,
        sum(changes.delta) as delta
    from changes
    cross join calendar
    where changes.change_date <= calendar.last_month_end
    group by all

),

org_months as (

    select
        codes.org_code,
        months.month_end_date
    from (select distinct org_code from booked) as codes
    cross join months

),

running as (

    select
        org_months.org_code,
        org_months.month_end_date,
        sum(coalesce(booked.delta, 0)) over (
            partition by org_months.org_code
            order by org_months.month_end_date
        ) as policies_in_force
    from org_months
    left join booked
        on
            org_months.org_code is not distinct from booked.org_code
            and org_months.month_end_date = booked.month_end_date

),

final as (

    select * from running
    where policies_in_force > 0

)

select * from final;

-- Every observation: metric, raw org and center code, event date, and a numerator and
-- denominator sum or a P90 sample.
create or replace temp table observations as
select
    'claims_auto_rate' as metric_name,
    org_code,
    center_code,
    paid_date as event_date,
    cast(count(*) filter (where is_auto_processed) as double) as numerator,
    cast(count(*) as double) as denominator,
    cast(null as double) as sample_value
from claims
where paid_date is not null
group by all
union all
select
    'claims_cycle_time_days' as metric_name,
    org_code,
    center_code,
    paid_date as event_date,
    sum(cycle_time_days) as numerator,
    cast(count(cycle_time_days) as double) as denominator,
    cast(null as double) as sample_value
from claims
where paid_date is not null
group by all
union all
select
    'claims_cycle_time_p90_days' as metric_name,
    org_code,
    center_code,
    paid_date as event_date,
    cast(null as double) as numerator,
    cast(null as double) as denominator,
    cycle_time_days as sample_value
from claims
where paid_date is not null and cycle_time_days is not null
union all
select
    'abandonment_rate' as metric_name,
    org_code,
    center_code,
    arrived_date as event_date,
    cast(voice_abandoned as double) as numerator,
    cast(voice_contacts as double) as denominator,
    cast(null as double) as sample_value
from contacts_daily
where arrived_date is not null and voice_contacts > 0
union all
select
    'service_level_20s' as metric_name,
    org_code,
    center_code,
    arrived_date as event_date,
    cast(voice_answered_within_20s as double) as numerator,
    cast(voice_not_abandoned_within_5s as double) as denominator,
    cast(null as double) as sample_value
from contacts_daily
where arrived_date is not null and voice_contacts > 0
union all
select
    'task_sla_rate' as metric_name,
    org_code,
    center_code,
    completed_date as event_date,
    cast(tasks_within_sla as double) as numerator,
    cast(tasks_completed as double) as denominator,
    cast(null as double) as sample_value
from tasks_daily
where is_detail and completed_date is not null
union all
select
    'nps' as metric_name,
    org_code,
    cast(null as varchar) as center_code,
    responded_date as event_date,
    cast(net_promoters as double) as numerator,
    cast(responses as double) as denominator,
    cast(null as double) as sample_value
from nps_daily
where responded_date is not null
union all
select
    'complaints_per_10k_policies' as metric_name,
    org_code,
    cast(null as varchar) as center_code,
    received_date as event_date,
    cast(complaints as double) as numerator,
    cast(null as double) as denominator,
    cast(null as double) as sample_value
from complaints_daily
where received_date is not null
union all
select
    'complaints_per_10k_policies' as metric_name,
    org_code,
    cast(null as varchar) as center_code,
    month_end_date as event_date,
    cast(null as double) as numerator,
    cast(policies_in_force as double) as denominator,
    cast(null as double) as sample_value
from policies_in_force;

-- The published KPIs of the floor: one row per metric, month, org level and unit.
create or replace temp table floor_kpis as
with

group_root as (

    select any_value(org_code) as org_code
    from org_chains
    where org_level = 'group' and valid_until = date '9999-12-31'

),

used as (

    select distinct
        org_code,
        event_date
    from observations

),

-- Canonical code (alias list, then trimmed upper case) and ancestor chain of each raw org code
-- on each day it is used; records without an org count for the whole group.
attribution as (

    select
        used.org_code,
        used.event_date,
        coalesce(
            org_chains.group_code,
            case when used.org_code is null then group_root.org_code end
        ) as group_code,
        org_chains.subsidiary_code,
        org_chains.branch_code,
        org_chains.sub_branch_code
    from used
    cross join group_root
    left join org_aliases
        on upper(trim(used.org_code)) = org_aliases.alias_code
    left join org_chains
        on
            coalesce(org_aliases.org_code, upper(trim(used.org_code))) = org_chains.org_code
            and used.event_date >= org_chains.valid_from
            and used.event_date < org_chains.valid_until

),

attributed as (

    select
        observations.metric_name,
        cast(date_trunc('month', observations.event_date) as date) as period_start,
        observations.numerator,
        observations.denominator,
        observations.sample_value,
        upper(trim(observations.center_code)) as center_code,
        attribution.group_code,
        attribution.subsidiary_code,
        attribution.branch_code,
        attribution.sub_branch_code
    from observations
    inner join attribution
        on
            observations.org_code is not distinct from attribution.org_code
            and observations.event_date = attribution.event_date

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
        coalesce(sum(numerator), 0) as numerator,
        sum(denominator) as denominator,
        quantile_cont(sample_value, 0.9) as p90,
        count(sample_value) as samples
    from attributed
    group by grouping sets (  -- noqa: PRS
        (metric_name, period_start, group_code),
        (metric_name, period_start, subsidiary_code),
        (metric_name, period_start, branch_code),
        (metric_name, period_start, sub_branch_code),
        (metric_name, period_start, center_code)
    )

),

final as (

    select
        metric_name,
        period_start,
        org_level,
        org_code,
        case when metric_name <> 'claims_cycle_time_p90_days' then numerator end as numerator,
        case when metric_name <> 'claims_cycle_time_p90_days' then denominator end as denominator,
        -- `value`: the name of the published column the floor is compared with
        case metric_name
            when 'claims_cycle_time_p90_days' then p90
            when 'nps' then 100 * numerator / denominator
            when 'complaints_per_10k_policies' then numerator * 10000 / denominator
            else numerator / denominator
        end as value  -- noqa: RF04
    from rolled_up
    where
        org_code is not null
        and case
            when metric_name = 'claims_cycle_time_p90_days' then samples > 0
            else coalesce(denominator, 0) > 0
        end

)

select * from final;
