"""One more day after a full load: the refresh touches the new batch and the affected months only,
and analysts holding the published snapshot open keep working while it runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, timedelta

import duckdb
import pytest

from dagster_project.core.runner import run_pipeline
from dagster_project.core.settings import get_settings
from tests.conftest import copy_workspace, deliver, make_workspace, point_settings_at

# heavy: many whole-pipeline runs; started first when the suite runs on two processes
# (tests/conftest.py)
pytestmark = pytest.mark.heavy

KPI_COLUMNS = "metric_name, period_start, org_level, org_code, numerator, denominator, value"

# Detail facts that are built incrementally from raw batches, with the source they come from.
INCREMENTAL_FACTS = {
    "fct_claims": "claims",
    "fct_applications": "applications",
    "fct_contacts": "contacts",
    "fct_tasks": "tasks",
}


def invocations(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, int]:
    return dict(
        con.execute(f"select _dbt_invocation_id, count(*) from marts.{table} group by 1").fetchall()
    )


def kpis(path) -> dict[tuple, tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"select {KPI_COLUMNS} from marts.fct_kpi_values").fetchall()
    return {row[:4]: row[4:] for row in rows}


STANDARDISED_COLUMNS = (
    "metric_name, period_start, org_level, org_code, segment_dimension, segments, mix_coverage,"
    " raw_value, standardised_value, raw_rank, standardised_rank, units_ranked"
)


def standardised(path) -> dict[tuple, tuple]:
    """marts.fct_kpi_standardised by (metric, month, tier, unit)."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            f"select {STANDARDISED_COLUMNS} from marts.fct_kpi_standardised"
        ).fetchall()
    return {row[:4]: row[4:] for row in rows}


def assert_same_kpis(actual: dict, expected: dict) -> None:
    assert actual.keys() == expected.keys()
    for key, values in expected.items():
        for mine, theirs in zip(actual[key], values, strict=True):
            if theirs is None or mine is None or isinstance(theirs, str):
                assert mine == theirs, key
            else:
                assert mine == pytest.approx(theirs, rel=1e-9, abs=1e-9), key


def test_one_more_day_touches_only_the_new_batch_and_the_affected_months(
    loaded_but_last_day, built, tmp_path
):
    base, delivery = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        before = {table: invocations(con, table) for table in INCREMENTAL_FACTS}
        kpi_before = invocations(con, "fct_kpi_values")
        ledger_before = con.execute("select max(ledger_id) from meta.file_ledger").fetchone()[0]
    (full_build,) = kpi_before  # the full load wrote every KPI row in one invocation

    delivered = deliver(delivery, ws)
    assert run_pipeline(get_settings())

    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        # ingestion: exactly the day's files were loaded, nothing else was touched
        loaded = con.execute(
            "select path, status from meta.file_ledger where ledger_id > ? order by path",
            [ledger_before],
        ).fetchall()
        assert loaded == [(path, "loaded") for path in delivered]
        for table, source in INCREMENTAL_FACTS.items():
            after = invocations(con, table)
            (refresh,) = set(after) - set(before[table])
            # the rows written by the refresh are exactly the day file's records ...
            new_rows = con.execute(
                f"select _source_file, count(*) from marts.{table} "
                "where _dbt_invocation_id = ? group by 1",
                [refresh],
            ).fetchall()
            assert new_rows == [(f"{source}/{delivery.files[source].name}", delivery.rows[source])]
            # ... and every earlier row is the one the full load wrote
            assert {k: v for k, v in after.items() if k != refresh} == before[table]

        # KPIs: only the months the day's records fall in were recomputed
        recomputed = con.execute(
            "select distinct period_start from marts.fct_kpi_values "
            "where _dbt_invocation_id <> ? order by 1",
            [full_build],
        ).fetchall()
        months = sorted({row[0] for row in recomputed})
        all_months = con.execute(
            "select count(distinct period_start) from marts.fct_kpi_values"
        ).fetchone()[0]
    day_month = date.fromisoformat(delivery.day).replace(day=1)
    late_month = (day_month - timedelta(days=1)).replace(day=1)
    assert months == [late_month, day_month]
    assert all_months >= 8

    # and the result is the same as one full build over all the records
    assert_same_kpis(kpis(ws.warehouse), kpis(built.warehouse))
    # the mix-standardised comparison too, recomputing only the same months
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        restandardised = con.execute(
            "select distinct period_start from marts.fct_kpi_standardised "
            "where _dbt_invocation_id <> ? order by 1",
            [full_build],  # the full load's dbt build wrote both tables
        ).fetchall()
    assert [row[0] for row in restandardised] == [late_month, day_month]
    assert len(standardised(built.warehouse)) > 1000
    assert_same_kpis(standardised(ws.warehouse), standardised(built.warehouse))

    # a correction re-delivers the day's claims file with no records: its rows leave the fact
    # (delete+insert alone would keep them: nothing is selected to insert)
    day_file = ws.raw_dir / "claims" / delivery.files["claims"].name
    day_file.write_text(day_file.read_text().splitlines()[0] + "\n")
    assert run_pipeline(get_settings())
    with duckdb.connect(str(ws.warehouse), read_only=True) as con:
        left = con.execute(
            "select count(*) from marts.fct_claims where _source_file = ?",
            [f"claims/{day_file.name}"],
        ).fetchone()[0]
    assert left == 0
    assert kpis(ws.warehouse) != kpis(built.warehouse), "the day's claims no longer count"

    # then the whole month's claims file too: the month's claims-only (metric, month) pairs
    # lose every input and their KPI rows must go, as in a full build over the same files
    month_file = ws.raw_dir / "claims" / delivery.month_files["claims"].name
    # header only, with CRLF line ends: two header-only files with the same bytes would be one
    # delivery under two names to the gate, which rejects the second as a duplicate
    month_file.write_bytes(month_file.read_text().splitlines()[0].encode() + b"\r\n")
    assert run_pipeline(get_settings())
    fresh = make_workspace(tmp_path / "fresh")
    shutil.copytree(ws.raw_dir, fresh.raw_dir)
    point_settings_at(fresh)
    assert run_pipeline(get_settings())
    refreshed, rebuilt = kpis(ws.warehouse), kpis(fresh.warehouse)
    gone = {key for key in kpis(built.warehouse) if key not in rebuilt and key[1] == day_month}
    assert gone, "some pairs of the emptied month have no input left"
    assert_same_kpis(refreshed, rebuilt)
    assert_same_kpis(standardised(ws.warehouse), standardised(fresh.warehouse))


ANALYST = """
import sys
import duckdb


con = duckdb.connect(sys.argv[1], read_only=True)
for _ in sys.stdin:
    try:
        claims = con.execute("select count(*) from marts.fct_claims").fetchone()[0]
        kpis = con.execute("select count(*), sum(value) from marts.fct_kpi_values").fetchone()
        print(f"{claims} {kpis[0]} {kpis[1]!r}", flush=True)
    except Exception as exc:  # reported to the test, which fails on it
        print(f"error {exc}", flush=True)
"""


class Analyst:
    """A separate process holding a read-only DuckDB session on the published file."""

    def __init__(self, path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", ANALYST, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self) -> str:
        self.process.stdin.write("q\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def test_refresh_succeeds_while_two_analysts_hold_the_published_file_open(
    loaded_but_last_day, tmp_path
):
    base, delivery = loaded_but_last_day
    ws = copy_workspace(base, tmp_path / "ws")
    point_settings_at(ws)
    analysts = [Analyst(ws.warehouse), Analyst(ws.warehouse)]
    try:
        seen = [analyst.ask() for analyst in analysts]
        assert seen[0] == seen[1] and not seen[0].startswith("error")

        deliver(delivery, ws)
        answers: list[str] = []
        refresh = subprocess.Popen(
            [sys.executable, "-m", "dagster_project.cli", "run"],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.append(refresh.stderr.read()))
        reader.start()
        # the analysts keep querying all through the refresh
        while refresh.poll() is None:
            answers += [analyst.ask() for analyst in analysts]
            time.sleep(0.2)
        reader.join()
        assert refresh.returncode == 0, stderr[0][-3000:]
        answers += [analyst.ask() for analyst in analysts]

        # every answer during and after the refresh is the consistent view they opened
        assert len(answers) > 4
        assert set(answers) == {seen[0]}, answers[:5]
        # a new connection sees the new day
        fresh = Analyst(ws.warehouse)
        try:
            now = fresh.ask()
        finally:
            fresh.close()
        claims_before, claims_now = int(seen[0].split()[0]), int(now.split()[0])
        assert claims_now == claims_before + delivery.rows["claims"]
    finally:
        for analyst in analysts:
            analyst.close()
