"""Month-end snapshots equal their definitions, computed here independently of the models."""

from __future__ import annotations

import duckdb

# The definition as it reads, one row per task and month end it is open at (as
# int_tasks_open_at_month_end lists them), counted; fct_task_backlog_monthly computes the same
# from each task's first and last month instead.
BACKLOG_BY_DEFINITION = """
    select
        months.month_end_date,
        tasks.org_code,
        tasks.center_code,
        count(*) as open_task_count,
        count(*) filter (where tasks.sla_due_at < months.month_end_date + interval 1 day)
            as open_past_sla_count
    from marts.fct_tasks as tasks
    inner join marts.dim_months as months
        on
            tasks.created_at < months.month_end_date + interval 1 day
            and (
                tasks.completed_at is null
                or tasks.completed_at >= months.month_end_date + interval 1 day
            )
    group by all
"""


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> dict[tuple, tuple]:
    return {row[:3]: row[3:] for row in con.execute(sql).fetchall()}


def test_task_backlog_counts_the_tasks_open_at_each_month_end(built):
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        published = rows(
            con,
            "select month_end_date, org_code, center_code, open_task_count, open_past_sla_count "
            "from marts.fct_task_backlog_monthly",
        )
        expected = rows(con, BACKLOG_BY_DEFINITION)
        tasks, months = con.execute(
            "select (select count(*) from marts.fct_tasks), (select count(*) from marts.dim_months)"
        ).fetchone()
    assert published == expected
    # plausible: every month end has a backlog, some of it past SLA, never more than the tasks
    assert {key[0] for key in published} and len({key[0] for key in published}) == months
    assert all(0 <= past <= count for count, past in published.values())
    assert 0 < sum(past for _, past in published.values()) < sum(c for c, _ in published.values())
    by_month: dict = {}
    for (month, _, _), (count, _) in published.items():
        by_month[month] = by_month.get(month, 0) + count
    assert max(by_month.values()) < tasks


# Policies in force at a month end, as the definition reads (issued on or before it, not
# terminated on or before it); fct_policies_in_force_monthly computes the same from each
# policy's first and last month. Read from the staging view of the working database, as the
# model does.
IN_FORCE_BY_DEFINITION = """
    select
        months.month_end_date,
        policies.org_code,
        policies.product_line,
        policies.channel,
        count(*) as policy_count,
        sum(policies.annual_premium_cny) as annual_premium_cny
    from staging.stg_policies__policies as policies
    inner join marts.dim_months as months
        on
            policies.issued_date <= months.month_end_date
            and (
                policies.terminated_date is null
                or policies.terminated_date > months.month_end_date
            )
    group by all
"""


def test_policies_in_force_are_those_issued_and_not_terminated_by_each_month_end(built):
    with duckdb.connect(str(built.work_db), read_only=True) as con:
        published = {
            row[:4]: row[4:]
            for row in con.execute(
                "select month_end_date, org_code, product_line, channel, policy_count,"
                " annual_premium_cny from marts.fct_policies_in_force_monthly"
            ).fetchall()
        }
        expected = {row[:4]: row[4:] for row in con.execute(IN_FORCE_BY_DEFINITION).fetchall()}
        policies, months = con.execute(
            "select (select count(*) from staging.stg_policies__policies),"
            " (select count(*) from marts.dim_months)"
        ).fetchone()
    assert published == expected
    # plausible: every month end has policies in force, never more than were ever issued, and
    # a premium for each of them
    by_month: dict = {}
    for (month, *_), (count, premium) in published.items():
        assert count > 0 and premium > 0
        by_month[month] = by_month.get(month, 0) + count
    assert len(by_month) == months
    assert max(by_month.values()) <= policies
