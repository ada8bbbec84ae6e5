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
