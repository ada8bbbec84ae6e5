"""What people see of the gates: gate state and freshness per source, stale metrics, publication.

- `meta.source_gate_state`: one row per source. `state` is 'held' while a file currently in the
  source's folder is rejected (its data is held back; the earlier data stays published), with the
  rule that rejected it (`check_name`), why (`reason`) and since when; else 'ok'.
- Freshness: a source is stale when its newest delivery (the newest modification time of its
  files) is older than its cadence plus grace (daily: 1 + 1 days; monthly: 31 + 10 days) before
  the reference moment. The reference is OPSVALUE_NOW when set, else the newest delivery of any
  source (capped at the clock): a source is late relative to the others. So demo extracts,
  delivered together once, are not stale forever; the limit is that when every source stops,
  none looks late (the publication time and each source's last load show it).
- `meta.stale_metrics` (a view): the metrics whose source systems (the metric catalog's
  `source_systems`) include a stale or held source.

This module owns both: their DDL and every query on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from dagster_project.core.sql import ident
from dagster_project.core.warehouse import table_exists
from dagster_project.defs.ingest import ledger, quarantine
from dagster_project.defs.ingest.rules.types import TIMESTAMP_FORMAT

GATE_STATE_TABLE = "meta.source_gate_state"
STALE_METRICS_VIEW = "meta.stale_metrics"
# (expected interval between deliveries, grace) per delivery cadence of the contract
CADENCES = {
    "daily": (timedelta(days=1), timedelta(days=1)),
    "weekly": (timedelta(days=7), timedelta(days=2)),
    "monthly": (timedelta(days=31), timedelta(days=10)),
}

DDL = f"""
create schema if not exists meta;
create table if not exists {GATE_STATE_TABLE} (
    source varchar primary key,
    data_owner varchar,
    state varchar not null,           -- ok | held
    check_name varchar,               -- the rule that holds the newest held file back
    reason varchar,
    since timestamp,                  -- when the data began to be held back
    last_file varchar,                -- the source's most recently received file
    last_loaded_at timestamp,         -- when data of the source last entered the warehouse
    is_stale boolean not null default false,
    stale_reason varchar,
    delivered_at timestamp,           -- newest modification time of the source's files
    newest_event_at timestamp,        -- newest event in raw (the suite's event_time_column)
    held_files integer not null default 0,
    open_quarantine_rows bigint not null default 0,
    updated_at timestamp
);
"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class GateState:
    source: str
    data_owner: str
    state: str
    check_name: str | None
    reason: str | None
    since: datetime | None
    last_file: str | None
    last_loaded_at: datetime | None
    held_files: int
    open_quarantine_rows: int
    newest_event_at: datetime | None


def compute_gate_state(
    con: duckdb.DuckDBPyConnection,
    source: str,
    data_owner: str,
    present_files: Iterable[str],
    event_time_column: str | None,
) -> GateState:
    """The gate state of one source from the ledger, for the files now in its folder."""
    present = set(present_files)
    histories = ledger.path_histories(con, source)
    held = sorted(
        (h for h in histories if h.path in present and h.status == "rejected"),
        key=lambda h: h.held_since,
    )
    # a withdrawal is not a delivery
    received = [h for h in histories if h.status != ledger.WITHDRAWN]
    last = max(received, key=lambda h: (h.loaded_at, h.ledger_id), default=None)
    loaded_at = ledger.last_loaded_at(con, source)
    open_rows = quarantine.open_rows(con, source)
    newest_event = None
    if event_time_column and table_exists(con, "raw", source):
        newest_event = con.execute(
            f"select try_strptime(max({ident(event_time_column)}), "
            f"['{TIMESTAMP_FORMAT}', '%Y-%m-%d']) from raw.{ident(source)}"
        ).fetchone()[0]
    reason = None
    if held:
        reason = held[0].message  # the ledger message names the file
        if len(held) > 1:
            reason += f" (+{len(held) - 1} more file(s) held)"
    return GateState(
        source=source,
        data_owner=data_owner,
        state="held" if held else "ok",
        check_name=held[0].rejection_rule if held else None,
        reason=reason,
        since=held[0].held_since if held else None,
        last_file=last.path if last else None,
        last_loaded_at=loaded_at,
        held_files=len(held),
        open_quarantine_rows=int(open_rows),
        newest_event_at=newest_event,
    )


def write_gate_state(con: duckdb.DuckDBPyConnection, state: GateState, at: datetime) -> None:
    """Upsert one source's row; `updated_at` moves only when something changed."""
    ensure_tables(con)
    values = [
        state.data_owner,
        state.state,
        state.check_name,
        state.reason,
        state.since,
        state.last_file,
        state.last_loaded_at,
        state.newest_event_at,
        state.held_files,
        state.open_quarantine_rows,
    ]
    row = con.execute(
        f"select data_owner, state, check_name, reason, since, last_file, last_loaded_at, "
        f"newest_event_at, held_files, open_quarantine_rows from {GATE_STATE_TABLE} "
        "where source = ?",
        [state.source],
    ).fetchone()
    if row is not None and list(row) == values:
        return
    con.execute(
        f"insert or replace into {GATE_STATE_TABLE} (source, data_owner, state, check_name, "
        "reason, since, last_file, last_loaded_at, newest_event_at, held_files, "
        "open_quarantine_rows, updated_at, is_stale, stale_reason, delivered_at) "
        f"values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        f"coalesce((select is_stale from {GATE_STATE_TABLE} where source = ?), false), "
        f"(select stale_reason from {GATE_STATE_TABLE} where source = ?), "
        f"(select delivered_at from {GATE_STATE_TABLE} where source = ?))",
        [state.source, *values, at, state.source, state.source, state.source],
    )


@dataclass(frozen=True)
class Freshness:
    source: str
    delivered_at: datetime | None
    is_stale: bool
    reason: str | None


def assess_freshness(
    delivered: Mapping[str, datetime | None],
    cadences: Mapping[str, str],
    now: datetime,
    reference: datetime | None = None,
) -> tuple[datetime, list[Freshness]]:
    """Stale sources: newest delivery older than cadence + grace before the reference moment.

    `reference` None = relative mode: the newest delivery of any source, at most `now`.
    """
    if reference is None:
        newest = [d for d in delivered.values() if d is not None]
        reference = min(max(newest), now) if newest else now
    out = []
    for source in sorted(delivered):
        at = delivered[source]
        interval, grace = CADENCES.get(cadences.get(source, ""), CADENCES["daily"])
        if at is None:
            out.append(Freshness(source, None, True, "nothing delivered yet"))
            continue
        lag = reference - at
        if lag > interval + grace:
            days = lag.total_seconds() / 86_400
            out.append(
                Freshness(
                    source,
                    at,
                    True,
                    f"last delivery {at:%Y-%m-%d %H:%M}, {days:.1f} days before "
                    f"{reference:%Y-%m-%d %H:%M}; expected {cadences.get(source) or 'daily'} "
                    f"(+{grace.days} day(s) grace)",
                )
            )
        else:
            out.append(Freshness(source, at, False, None))
    return reference, out


def source_deliveries(
    con: duckdb.DuckDBPyConnection, present: Mapping[str, Iterable[str]]
) -> dict[str, datetime | None]:
    """Newest modification time of the files now in each source's folder (from the ledger)."""
    out: dict[str, datetime | None] = {}
    for source, files in present.items():
        value = ledger.newest_mtime_ns(con, source, sorted(set(files)))
        out[source] = datetime.fromtimestamp(value / 1e9).replace(microsecond=0) if value else None
    return out


def write_freshness(con: duckdb.DuckDBPyConnection, items: Iterable[Freshness]) -> None:
    ensure_tables(con)
    for item in items:
        con.execute(
            f"update {GATE_STATE_TABLE} set is_stale = ?, stale_reason = ?, delivered_at = ? "
            "where source = ? and (is_stale is distinct from ? or stale_reason is distinct from ? "
            "or delivered_at is distinct from ?)",
            [
                item.is_stale,
                item.reason,
                item.delivered_at,
                item.source,
                item.is_stale,
                item.reason,
                item.delivered_at,
            ],
        )


def metric_sources_sql(con: duckdb.DuckDBPyConnection) -> str:
    """SELECT metric_name, source_systems from the metric catalog (none before its first build)."""
    if table_exists(con, "marts", "dim_metric_catalog"):
        return "select metric_name, source_systems from marts.dim_metric_catalog"
    return "select cast(null as varchar) as metric_name, cast(null as varchar) as source_systems"


def refresh_stale_metrics(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the `meta.stale_metrics` view on the current metric catalog."""
    ensure_tables(con)
    con.execute(
        f"""
        create or replace view {STALE_METRICS_VIEW} as
        with metric_sources as (
            select metric_name, trim(unnest(string_split(source_systems, ','))) as source
            from ({metric_sources_sql(con)})
            where source_systems is not null and source_systems <> ''
        ),
        problems as (
            select
                source,
                case
                    when state = 'held' then 'held source ' || source || ': ' || check_name
                        || coalesce(' since ' || strftime(since, '%Y-%m-%d %H:%M'), '')
                end as held_reason,
                case when is_stale then 'stale source ' || source || ': ' || stale_reason end
                    as stale_reason
            from {GATE_STATE_TABLE}
            where state = 'held' or is_stale
        )
        select
            metric_sources.metric_name,
            string_agg(concat_ws('; ', problems.held_reason, problems.stale_reason), '; '
                order by problems.source) as reason
        from metric_sources
        inner join problems on metric_sources.source = problems.source
        group by metric_sources.metric_name
        """
    )


@dataclass(frozen=True)
class SourceStatus:
    """One source's gate as `opsvalue status` shows it."""

    source: str
    data_owner: str | None
    last_file: str | None
    last_loaded_at: datetime | None
    state: str
    check_name: str | None
    reason: str | None
    since: datetime | None
    is_stale: bool
    stale_reason: str | None
    open_quarantine_rows: int


def source_statuses(con: duckdb.DuckDBPyConnection) -> list[SourceStatus]:
    """Every source's gate, by name (none before the first run)."""
    if not table_exists(con, "meta", "source_gate_state"):
        return []
    rows = con.execute(
        "select source, data_owner, last_file, last_loaded_at, state, check_name, reason, "
        f"since, is_stale, stale_reason, open_quarantine_rows from {GATE_STATE_TABLE} "
        "order by source"
    ).fetchall()
    return [SourceStatus(*row) for row in rows]


def held_source_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many sources the gate holds back now."""
    ensure_tables(con)
    return con.execute(f"select count(*) from {GATE_STATE_TABLE} where state = 'held'").fetchone()[
        0
    ]


def gate_rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """Every column of every source's gate row, in a stable order (what readers are shown)."""
    if not table_exists(con, "meta", "source_gate_state"):
        return []
    return con.execute(f"select * from {GATE_STATE_TABLE} order by all").fetchall()


def stale_metrics(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(metric_name, reason) of every metric fed by a stale or held source."""
    if not table_exists(con, "meta", "stale_metrics"):
        return []
    try:
        rows = con.execute(
            f"select metric_name, reason from {STALE_METRICS_VIEW} order by metric_name"
        ).fetchall()
    except duckdb.Error:  # the view outlived a catalog table it reads (before a rebuild)
        return []
    return [(str(name), str(reason)) for name, reason in rows]


def row_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"select count(*) from {GATE_STATE_TABLE}").fetchone()[0]


def restore_from(con: duckdb.DuckDBPyConnection, database: str) -> int:
    """The gate rows of an attached database (a published snapshot), so `since` and
    `updated_at` keep the moments they recorded; the next run recomputes the rest."""
    ensure_tables(con)
    con.execute(f"delete from {GATE_STATE_TABLE}")
    if table_exists(con, "meta", "source_gate_state", database):
        con.execute(
            f"insert into {GATE_STATE_TABLE} by name "
            f"select * from {ident(database)}.{GATE_STATE_TABLE}"
        )
    return row_count(con)
