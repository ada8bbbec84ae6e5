"""The gate's per-rule results: `meta.batch_rule_counts`, `meta.validation_results`,
`meta.row_flags`. This module owns the three tables: their DDL and every query on them.

- `batch_rule_counts`: rows per batch, rule and outcome (quarantined, flagged, normalised,
  rejected, and the evidence of a rejected batch);
- `validation_results`: GX's official result, one validation per source and run (the new files
  together), rule by rule beside the door's counts;
- `row_flags`: rows loaded with a warning rule broken, by their lineage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

import duckdb

from dagster_project.core.sql import ident
from dagster_project.core.warehouse import table_exists
from dagster_project.defs.ingest.rules.gx import RuleResult

RULE_COUNTS_TABLE = "meta.batch_rule_counts"
RESULTS_TABLE = "meta.validation_results"
FLAGS_TABLE = "meta.row_flags"

RESULTS_DDL = f"""
create schema if not exists meta;
create table if not exists {RULE_COUNTS_TABLE} (
    batch_id varchar not null,
    source varchar not null,
    path varchar not null,
    rule varchar not null,
    -- quarantined | flagged | normalised | rejected | rejected_evidence:<quarantined|flagged|...>
    outcome varchar not null,
    rows bigint not null,
    recorded_at timestamp not null
);
-- GX's official result, one validation per source and run (the new files together)
create table if not exists {RESULTS_TABLE} (
    validation_id varchar not null,
    source varchar not null,
    batch_ids varchar[] not null,
    rule varchar not null,
    expectation_type varchar not null,
    severity varchar not null,
    door_failed bigint not null,
    gx_evaluated boolean not null,
    gx_success boolean,
    gx_element_count bigint,
    gx_unexpected_count bigint,
    gx_error varchar,
    rows_judged_by_gx bigint,
    validated_at timestamp not null
);
alter table {RESULTS_TABLE} add column if not exists gx_seconds double;
create table if not exists {FLAGS_TABLE} (
    source varchar not null,
    _source_file varchar not null,
    _row_number bigint not null,
    _batch_id varchar not null,
    rules varchar[] not null
);
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RESULTS_DDL)


def record_rule_counts(
    con: duckdb.DuckDBPyConnection,
    batch_id: str,
    source: str,
    path: str,
    counts: Mapping[str, Mapping[str, int]],
    at: datetime,
) -> None:
    """A batch's rows per rule and outcome; a rejection is recorded even with no rows."""
    rows = [
        (batch_id, source, path, rule, kind.replace("evidence:", "rejected_evidence:"), n, at)
        for kind, group in counts.items()
        for rule, n in group.items()
        if n or kind == "rejected"
    ]
    if rows:
        con.executemany(f"insert into {RULE_COUNTS_TABLE} values (?, ?, ?, ?, ?, ?, ?)", rows)


def replace_flags(
    con: duckdb.DuckDBPyConnection, source: str, path: str, batch_id: str, checked: str
) -> None:
    """The flags of a file's new version, from the door's judged relation `checked`."""
    con.execute(f"delete from {FLAGS_TABLE} where source = ? and _source_file = ?", [source, path])
    con.execute(
        f"insert into {FLAGS_TABLE} select ?, ?, _row_number, ?, _flagged from {checked} "
        "where len(_flagged) > 0",
        [source, path, batch_id],
    )


def drop_flags(con: duckdb.DuckDBPyConnection, source: str, path: str) -> None:
    """The flags of a file whose rows left raw (withdrawn)."""
    con.execute(f"delete from {FLAGS_TABLE} where source = ? and _source_file = ?", [source, path])


def gx_summary(con: duckdb.DuckDBPyConnection, batch_ids: Sequence[str]) -> dict[str, int]:
    """GX's official result over some batches: rules judged, agreeing with the door."""
    if not batch_ids:
        return {}
    judged, agreeing, failing, rows = con.execute(
        "select count(*) filter (where gx_evaluated), "
        "count(*) filter (where gx_evaluated and gx_unexpected_count = door_failed "
        "and gx_error is null), "
        "count(*) filter (where gx_evaluated and not gx_success), "
        "coalesce(sum(rows_judged_by_gx) filter (where rule_rank = 1), 0) "
        "from (select *, row_number() over (partition by validation_id order by rule) "
        f"as rule_rank from {RESULTS_TABLE} where list_has_any(batch_ids, ?))",
        [list(batch_ids)],
    ).fetchone()
    return {
        "gx_rules_judged": int(judged),
        "gx_rules_agreeing_with_door": int(agreeing),
        "gx_rules_with_failing_rows": int(failing),
        "gx_rows_judged": int(rows),
    }


def record_validation(
    con: duckdb.DuckDBPyConnection,
    source: str,
    batch_ids: Sequence[str],
    results: Mapping[str, RuleResult],
    judged: int,
    seconds: float,
) -> None:
    """GX's official result of one delivery, rule by rule, beside the door's counts."""
    at = datetime.now().replace(microsecond=0)
    batch_ids = list(batch_ids)
    validation_id = (
        f"{at:%Y%m%dT%H%M%S}-{source}-{hashlib.sha256(''.join(batch_ids).encode()).hexdigest()[:8]}"
    )
    rows = [
        (
            validation_id,
            source,
            batch_ids,
            r.rule,
            r.expectation_type,
            r.severity,
            r.door_failed,
            r.gx_evaluated,
            r.gx_success,
            r.gx_element_count,
            r.gx_unexpected_count,
            r.gx_error,
            judged,
            at,
            round(seconds, 3),
        )
        for r in results.values()
    ]
    if rows:
        con.executemany(
            f"insert into {RESULTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def rule_count_rows(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"select count(*) from {RULE_COUNTS_TABLE}").fetchone()[0]


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, int]:
    """The three tables as an attached database (a published snapshot) has them, replacing what
    is here: rows per table restored."""
    ensure_tables(con)
    restored = {}
    for table in (RULE_COUNTS_TABLE, RESULTS_TABLE, FLAGS_TABLE):
        schema, name = table.split(".")
        con.execute(f"delete from {table}")
        if table_exists(con, schema, name, database):
            con.execute(f"insert into {table} by name select * from {ident(database)}.{table}")
        restored[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
    return restored
