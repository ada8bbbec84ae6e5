"""One more day: a daily delivery cut from generated extracts (refresh tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.core.contract import load_contract
from opsgen.writer import sql_path


def daily_event_columns() -> dict[str, str]:
    """{source: event time column} of the sources the contract says are delivered daily.

    The event time column is the suite's `event_time_column`, the time this generator
    partitions the source's files by (claims by reported_at, contacts by arrived_at, ...).
    """
    from dagster_project.core.settings import get_settings
    from dagster_project.defs.ingest.rules.suite import load_suites

    suites = load_suites(get_settings().expectations_dir)
    columns = {}
    for name, source in load_contract().items():
        suite = suites.get(name)
        if source.delivery_cadence == "daily" and suite and suite.event_time_column:
            columns[name] = suite.event_time_column
    return columns


@dataclass(frozen=True)
class DayDelivery:
    day: str
    files: dict[str, Path]  # source -> the day's file under the delivery folder
    month_files: dict[str, Path]  # source -> the month file the day was cut from
    rows: dict[str, int]
    late_rows: dict[str, int]  # of those, records dated in the month before


def split_last_day(raw_dir: Path, delivery_dir: Path, late_rows: int = 3) -> DayDelivery:
    """Cut the newest day out of generated extracts, as the next daily delivery.

    For every source delivered daily, the records of the last day of the data (the newest event
    date over all of them) move from the newest month file into
    `delivery_dir/<source>/<source>_<day>.csv`, together with the `late_rows` latest records of
    the month before (late arrivals, dated in a past month); the month files are rewritten
    without them. Loading `raw_dir`, then delivering the day's files, gives exactly the records
    of the original extracts: the refresh tests and benchmark use it for "one more day".
    `delivery_dir` may be `raw_dir` itself. DuckDB reads and writes the files (all as text).
    """
    columns = daily_event_columns()
    pairs = {}
    for source in sorted(columns):
        months = sorted((raw_dir / source).glob(f"{source}_????-??.csv"))
        if len(months) >= 2:
            pairs[source] = (months[-1], months[-2])
    con = duckdb.connect()
    files: dict[str, Path] = {}
    month_files: dict[str, Path] = {}
    rows: dict[str, int] = {}
    late: dict[str, int] = {}
    try:
        for source, (newest, before) in pairs.items():
            for name, path in ((f"newest_{source}", newest), (f"before_{source}", before)):
                con.execute(
                    f"create temp table {name} as select * from "
                    f"read_csv({sql_path(path)}, all_varchar = true, header = true)"
                )
        day = max(
            (
                con.execute(f'select max(left("{columns[s]}", 10)) from newest_{s}').fetchone()[0]
                or ""
                for s in pairs
            ),
            default="",
        )
        if not day:
            return DayDelivery("", {}, {}, {}, {})
        copy = "(header, delimiter ',')"
        for source, (newest, before) in pairs.items():
            column = columns[source]
            on_day = f'left("{column}", 10) = ?'
            off_day = f'left("{column}", 10) is distinct from ?'
            con.execute(
                f"create temp table late_{source} as select rowid as late_rowid "
                f'from before_{source} order by "{column}" desc nulls last, rowid '
                f"limit {int(late_rows)}"
            )
            con.execute(
                f"create temp table delivery_{source} as "
                f"select * from newest_{source} where {on_day} union all "
                f"select * from before_{source} "
                f"where rowid in (select late_rowid from late_{source})",
                [day],
            )
            target = delivery_dir / source / f"{source}_{day}.csv"
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy delivery_{source} to {sql_path(target)} {copy}")
            con.execute(
                f"copy (select * from newest_{source} where {off_day} "
                f"order by rowid) to {sql_path(newest)} {copy}",
                [day],
            )
            con.execute(
                f"copy (select * from before_{source} where rowid not in "
                f"(select late_rowid from late_{source}) order by rowid) "
                f"to {sql_path(before)} {copy}"
            )
            files[source] = target
            month_files[source] = newest
            rows[source] = con.execute(f"select count(*) from delivery_{source}").fetchone()[0]
            late[source] = con.execute(f"select count(*) from late_{source}").fetchone()[0]
    finally:
        con.close()
    return DayDelivery(day=day, files=files, month_files=month_files, rows=rows, late_rows=late)
